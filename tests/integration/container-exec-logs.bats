#!/usr/bin/env bats
# Containers (issue 5): ExecSync (output, exit codes, the container's
# process settings, timeouts and the killed process) and the CRI log files
# conmon writes (format, streams, partial records of long lines,
# ReopenContainerLog).
#
# One registry and one ocid for the file; host-network pods (no CNI);
# containers through the independent Python client.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_file_setup; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod execlogs; }
teardown() { ctr_test_teardown; }

# One CRI log line: RFC 3339 time with nanoseconds, stream, tag, text.
CRI_LINE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}(Z|[+-][0-9]{2}:[0-9]{2}) (stdout|stderr) (P|F) '

# ---- ExecSync ---------------------------------------------------------------------------

@test "ExecSync returns stdout, stderr and the exit code apart" {
        run_ctr x
        exec_sync "$CTR_ID" 10 /bin/sh -c 'echo out; echo more out; echo err >&2; exit 3' >/dev/null
        [ "$EXEC_OUT" = "out
more out" ]
        [ "$EXEC_ERR" = err ]
        [ "$EXEC_CODE" -eq 3 ]
        exec_sync "$CTR_ID" 10 /bin/true >/dev/null
        [ "$EXEC_CODE" -eq 0 ] && [ -z "$EXEC_OUT$EXEC_ERR" ]
        # A process killed by a signal: 128 + the signal.
        exec_sync "$CTR_ID" 10 /bin/sh -c 'kill -9 $$' >/dev/null
        [ "$EXEC_CODE" -eq 137 ]
}

@test "ExecSync: binary-safe output of 1 MiB comes back whole" {
        run_ctr big
        local out
        out="$(pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/head\", \"-c\", \"1048576\", \"/dev/urandom\"], \"timeout\": 30}")"
        [ "$(jq -r '.response.stdout | @base64d' <<<"$out" | wc -c)" -ge 1000000 ]
        # Exact length through base64 (jq's @base64d is not binary-safe).
        [ "$(jq -r '.response.stdout' <<<"$out" | base64 -d | wc -c)" -eq 1048576 ]
}

@test "ExecSync runs with the container's user, env and working dir" {
        run_ctr ctx '.linux.security_context.run_as_user = {value: 1000} | .working_dir = "/home/app"
                | .envs = [{key: "GREETING", value: "hi there"}]'
        [ "$(in_ctr "$CTR_ID" /bin/id -u)" = 1000 ]
        [ "$(in_ctr "$CTR_ID" /bin/sh -c pwd)" = /home/app ]
        [ "$(in_ctr "$CTR_ID" /bin/sh -c 'echo $GREETING')" = "hi there" ]
        # In the container's mount namespace: its root file system.
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/fixture/hello.txt)" = "hello from the fixture image" ]
}

@test "ExecSync of a program missing in the container: a non-zero exit code and the reason on stderr" {
        run_ctr missing
        exec_sync "$CTR_ID" 10 /no/such/program >/dev/null
        [ -n "$EXEC_CODE" ]
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"/no/such/program"* ]]
        # The container is unharmed.
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "ExecSync past its timeout: DEADLINE_EXCEEDED after about that long, and the exec'd process is gone" {
        run_ctr slow
        local t0 ms
        t0="$(date +%s%N)"
        run pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/sleep\", \"4711\"], \"timeout\": 2}"
        ms=$((($(date +%s%N) - t0) / 1000000))
        echo "$output ($ms ms)" >&2
        check '.code == "DEADLINE_EXCEEDED"'
        check '.details | contains("timed out")'
        [ "$ms" -ge 1900 ]
        [ "$ms" -lt 6000 ]
        # Neither in the container nor on the host does `sleep 4711` remain
        # (a zombie awaiting its reaper may linger a moment: not running).
        local i left
        for i in $(seq 1 30); do
                left="$(in_ctr "$CTR_ID" /bin/ps -o pid,stat,args | grep 'sleep 4711' | grep -v ' Z ' || true)"
                [ -z "$left" ] && break
                sleep 0.1
        done
        [ -z "$left" ] || { echo "in the container: $left" >&2; return 1; }
        left="$(pgrep -f 'sleep 4711' || true)"
        for i in $left; do
                grep -q '^State:.*Z' "/proc/$i/status" 2>/dev/null && continue
                echo "on the host: $(ps -o pid,stat,args -p "$i")" >&2
                return 1
        done
        # The runtime's exec files are cleaned up; the container still runs.
        [ -z "$(ls "$TEST_DIR/run/containers/$CTR_ID" | grep '^exec-' || true)" ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        [ "$(in_ctr "$CTR_ID" /bin/echo still)" = still ]
}

@test "ExecSync with its children past the timeout: the whole exec'd tree is gone (crun and runc)" {
        local handler
        for handler in crun runc; do
                POD_RUNTIME=$handler new_pod "tree-$handler"
                exec_tree_killed
        done
}

exec_tree_killed() {
        run_ctr tree
        run pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/sh\", \"-c\", \"sleep 4712 & sleep 4713; wait\"], \"timeout\": 1}"
        check '.code == "DEADLINE_EXCEEDED"'
        local i left
        for i in $(seq 1 30); do
                left="$(in_ctr "$CTR_ID" /bin/ps -o pid,stat,args | grep -E 'sleep 471[23]' | grep -v ' Z ' || true)"
                [ -z "$left" ] && break
                sleep 0.1
        done
        [ -z "$left" ] || { echo "left in the container: $left" >&2; return 1; }
}

@test "ExecSync calls run concurrently: five 1 s sleeps take about 1 s" {
        run_ctr par
        local t0 ms i
        t0="$(date +%s%N)"
        for i in 1 2 3 4 5; do
                pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/sleep\", \"1\"], \"timeout\": 10}" \
                        >"$TEST_DIR/work.par.$i" &
        done
        wait
        ms=$((($(date +%s%N) - t0) / 1000000))
        echo "5 parallel execs: $ms ms" >&2
        for i in 1 2 3 4 5; do
                jq -e '.ok' "$TEST_DIR/work.par.$i" >/dev/null
        done
        [ "$ms" -lt 4000 ]
}

# ---- logs -------------------------------------------------------------------------------

@test "logs: every line is 'time stream tag text' with stdout and stderr told apart, times in order" {
        run_ctr fmt '.command = ["/bin/sh", "-c", "echo one; echo two >&2; echo three"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        local path
        path="$(ctr_log_path "$CTR_ID")"
        [ "$path" = "$TEST_DIR/logs/execlogs/fmt.log" ]
        run cat "$path"
        [ "${#lines[@]}" -eq 3 ]
        local l
        for l in "${lines[@]}"; do
                [[ "$l" =~ $CRI_LINE ]] || { echo "not a CRI log line: $l" >&2; return 1; }
        done
        grep -qE "$CRI_LINE" "$path"
        grep -qE ' stdout F one$' "$path"
        grep -qE ' stderr F two$' "$path"
        grep -qE ' stdout F three$' "$path"
        # stdout lines in order; timestamps never go back.
        [ "$(grep ' stdout ' "$path" | cut -d' ' -f4- | tr '\n' ' ')" = "one three " ]
        local t prev=0
        while read -r t _; do
                t="$(date -d "$t" +%s%N)"
                [ "$t" -ge "$prev" ]
                prev="$t"
        done <"$path"
}

@test "logs: a 20000-byte line is split into P records of at most 8 KiB and ends with F; joined it is the line" {
        run_ctr long '.command = ["/bin/sh", "-c", "head -c 20000 /dev/zero | tr \"\\0\" x; echo; echo after"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        local path
        path="$(ctr_log_path "$CTR_ID")"
        cut -c1-60 "$path" >&2
        # Records of the long line: P... then F, each text at most 8192 bytes.
        local tags texts
        tags="$(awk '{ print $3 }' "$path" | tr -d '\n')"
        [[ "$tags" =~ ^P+FF$ ]] || { echo "tags: $tags" >&2; return 1; }
        [ "$(awk '$3 == "P"' "$path" | wc -l)" -ge 2 ]
        awk '{ t = $0; sub(/^[^ ]* [^ ]* [^ ]* /, "", t); if (length(t) > 8192) exit 1 }' "$path"
        # Joined: the partial records plus the text of the first F.
        texts="$(awk '{ t = $0; sub(/^[^ ]* [^ ]* [^ ]* /, "", t); printf "%s", t; if ($3 == "F") print "" }' "$path")"
        [ "$(sed -n 1p <<<"$texts" | wc -c)" -eq 20001 ]
        [ "$(sed -n 1p <<<"$texts" | tr -d x | wc -c)" -eq 1 ]
        [ "$(sed -n 2p <<<"$texts")" = after ]
}

@test "logs: output without a final newline is kept as a P record" {
        run_ctr partial '.command = ["/bin/sh", "-c", "printf abc; sleep 0.2; printf def"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        local path
        path="$(ctr_log_path "$CTR_ID")"
        [ "$(awk '{ print $3 }' "$path" | tr -d '\n')" = PP ]
        [ "$(cut -d' ' -f4- "$path" | tr -d '\n')" = abcdef ]
}

@test "ReopenContainerLog: after the log is moved away, new lines go to a new file at the log path" {
        run_ctr rot '.command = ["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.1; done"]'
        wait_log "$CTR_ID" 'line 3$'
        local path
        path="$(ctr_log_path "$CTR_ID")"
        mv "$path" "$path.1"
        cri ReopenContainerLog "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        [ -f "$path" ]
        wait_log "$CTR_ID" 'line [0-9]+$'
        sleep 0.3
        # The new file has only new lines, the old one only old lines; none lost
        # or doubled across the two.
        local last_old first_new
        last_old="$(tail -n 1 "$path.1" | awk '{ print $NF }')"
        first_new="$(head -n 1 "$path" | awk '{ print $NF }')"
        echo "old ends at $last_old, new starts at $first_new" >&2
        [ "$first_new" -eq $((last_old + 1)) ]
        grep -vqE "$CRI_LINE" "$path" && return 1
        # The moved file gets nothing more.
        local size
        size="$(stat -c %s "$path.1")"
        sleep 0.3
        [ "$(stat -c %s "$path.1")" -eq "$size" ]
}

@test "ReopenContainerLog on a stopped container is FAILED_PRECONDITION; on an unknown one NOT_FOUND" {
        run_ctr done '.command = ["/bin/true"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        run pyc call ReopenContainerLog "{\"container_id\": \"$CTR_ID\"}"
        check '.code == "FAILED_PRECONDITION"'
        run pyc call ReopenContainerLog '{"container_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}'
        check '.code == "NOT_FOUND"'
}

@test "logs: the pod's log directory is created when missing; a container without log_path still runs" {
        new_pod deep '.log_directory = $d' --arg d "$TEST_DIR/logs/a/b/c"
        run_ctr in-deep '.command = ["/bin/echo", "deep"]'
        wait_log "$CTR_ID" 'F deep$'
        [ "$(ctr_log_path "$CTR_ID")" = "$TEST_DIR/logs/a/b/c/in-deep.log" ]
        run_ctr nolog 'del(.log_path) | .command = ["/bin/sh", "-c", "echo nowhere; sleep 3600"]'
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_RUNNING" and (.status.logPath // "") == ""'
}
