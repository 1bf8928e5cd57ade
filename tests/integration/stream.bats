#!/usr/bin/env bats
# Streaming (issue 6): the URLs Exec, Attach and PortForward return, served
# over SPDY/3.1 and WebSocket with the Kubernetes remotecommand and
# portforward protocols, driven by an independent client written from the
# specifications (interop/stream_client.py: Python's zlib and sockets for
# SPDY, python3-websocket for WebSocket). Every session scenario runs over
# both transports, each its own test. Then the RPCs' validation, the
# tokens (single use, expiry), clients that vanish, and malformed input:
# each of those ends with the daemon still serving.
#
# One registry and one ocid for the file, its URLs expiring after 5 s
# (clients connect at once; one test waits past that); host-network pods;
# busybox containers through the Python CRI client.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_file_setup --stream-token-timeout 5; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod stream; }
teardown() { ctr_test_teardown; }

STREAM_CLIENT="$BATS_TEST_DIRNAME/interop/stream_client.py"
OUT_ERR='{"stdout": true, "stderr": true}'
IN_OUT_ERR='{"stdin": true, "stdout": true, "stderr": true}'
TTY_OUT='{"tty": true, "stdout": true}'
TTY_IN_OUT='{"tty": true, "stdin": true, "stdout": true}'
BIG_LINE='streaming test line'
BIG_SIZE=10485760

# sc ARGS...: the independent streaming client, bounded in time.
sc() {
        timeout 120 "$PYTHON" "$STREAM_CLIENT" "$@"
}

# exec_url ID FLAGS_JSON CMD...: an Exec RPC; prints the URL.
exec_url() {
        local id="$1" flags="$2"
        shift 2
        cri Exec "$(jq -cn --arg id "$id" --argjson f "$flags" '{container_id: $id, cmd: $ARGS.positional} + $f' \
                --args -- "$@")" | jq -r .url
}

# attach_url ID FLAGS_JSON
attach_url() {
        cri Attach "$(jq -cn --arg id "$1" --argjson f "$2" '{container_id: $id} + $f')" | jq -r .url
}

# pf_url POD_ID PORT...
pf_url() {
        local pod="$1"
        shift
        cri PortForward "$(jq -cn --arg pod "$pod" '{pod_sandbox_id: $pod, port: ($ARGS.positional | map(tonumber))}' \
                --args -- "$@")" | jq -r .url
}

# The streaming server's base URL (http://127.0.0.1:PORT).
stream_base() {
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        echo "${url%/exec/*}"
}

# report JQ_EXPR: jq -e over the client's --report file, shown when false.
report() {
        if ! jq -e "$@" "$TEST_DIR/work.report" >/dev/null; then
                echo "expected: $*" >&2
                echo "report:   $(cat "$TEST_DIR/work.report")" >&2
                return 1
        fi
}

# A fresh exec over each transport works: the daemon still serves.
assert_serving() {
        local t url out
        for t in spdy websocket; do
                url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/echo still serving)"
                out="$(sc --transport "$t" exec "$url")" || { echo "exec over $t failed" >&2; return 1; }
                [ "$out" = "still serving" ] || { echo "exec over $t printed '$out'" >&2; return 1; }
        done
        kill -0 "$OCID_PID"
}

# Host processes (not zombies) whose command line matches PATTERN.
live_procs() {
        local pid
        for pid in $(pgrep -f -- "$1" || true); do
                [ "$pid" = "$$" ] && continue
                grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && continue
                [ -r "/proc/$pid/cmdline" ] && echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline")"
        done
}

# wait_procs_gone PATTERN SECONDS
wait_procs_gone() {
        local i left
        for ((i = 0; i < $2 * 10; i++)); do
                left="$(live_procs "$1")"
                [ -z "$left" ] && return 0
                sleep 0.1
        done
        echo "still running after $2 s: $left" >&2
        return 1
}

# wait_procs PATTERN: until a process matching PATTERN runs (10 s).
wait_procs() {
        local i
        for i in $(seq 1 100); do
                [ -n "$(live_procs "$1")" ] && return 0
                sleep 0.1
        done
        echo "no process matching '$1'" >&2
        return 1
}

# No exec of the container is left: no runtime exec process, no exec spec
# or pid file (after a few seconds' grace).
assert_no_exec_left() {
        local id="${1:-$CTR_ID}" i files
        wait_procs_gone "exec --process $TEST_DIR/run/containers/$id" 5
        for i in $(seq 1 50); do
                files="$(ls "$TEST_DIR/run/containers/$id" | grep '^exec-' || true)"
                [ -z "$files" ] && return 0
                sleep 0.1
        done
        echo "exec files left: $files" >&2
        return 1
}

# ---- exec ---------------------------------------------------------------------------------

exec_stdio() {
        local t="$1" url
        run_ctr "stdio-$t"
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c 'echo out; echo err >&2; echo more out; exit 7')"
        run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" exec "$url"
        echo "exit $status, stdout '$output', stderr '$stderr'" >&2
        [ "$status" -eq 7 ]
        [ "$output" = $'out\nmore out' ]
        [ "$stderr" = err ]
        report '.status.reason == "NonZeroExitCode"'
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c 'echo fine')"
        run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" exec "$url"
        [ "$status" -eq 0 ]
        [ "$output" = fine ]
        [ -z "$stderr" ]
        report '.status.status == "Success"'
        # stdin: cat echoes it, and ends at its end (the client closes it).
        url="$(exec_url "$CTR_ID" "$IN_OUT_ERR" /bin/cat)"
        run --separate-stderr sc --transport "$t" exec "$url" --stdin-text $'line one\nline two\n'
        [ "$status" -eq 0 ]
        [ "$output" = $'line one\nline two' ]
        # 1 MiB of binary stdin arrives whole: hashed in the container.
        head -c 1048576 /dev/urandom >"$TEST_DIR/work.stdin"
        url="$(exec_url "$CTR_ID" "$IN_OUT_ERR" /bin/sha256sum)"
        run --separate-stderr sc --transport "$t" exec "$url" --stdin-file "$TEST_DIR/work.stdin"
        [ "$status" -eq 0 ]
        [ "${output%% *}" = "$(sha256sum <"$TEST_DIR/work.stdin" | cut -d' ' -f1)" ]
        # A process killed by a signal: 128 + the signal.
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c 'kill -9 $$')"
        run sc --transport "$t" exec "$url"
        [ "$status" -eq 137 ]
}

@test "exec over SPDY: stdout and stderr apart, exit codes 7, 0 and 137 passed through, stdin piped in and closed" {
        exec_stdio spdy
}

@test "exec over WebSocket (v5.channel.k8s.io): stdout and stderr apart, exit codes 7, 0 and 137 passed through, stdin piped in and closed" {
        exec_stdio websocket
}

# exec_protocols TRANSPORT PROTOCOL...: each protocol negotiated when
# offered alone; the output and the exit code come through it.
exec_protocols() {
        local t="$1" p url
        shift
        run_ctr "proto-$t"
        for p in "$@"; do
                url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c 'echo out; echo err >&2; exit 7')"
                run --separate-stderr sc --transport "$t" --protocol "$p" --report "$TEST_DIR/work.report" exec "$url"
                echo "$p: exit $status, stdout '$output', stderr '$stderr'" >&2
                [ "$status" -eq 7 ]
                [ "$output" = out ]
                [ "$stderr" = err ]
                report --arg p "$p" '.protocol == $p'
        done
}

@test "exec over SPDY with each remotecommand protocol version (v5 to v1): output and exit code" {
        exec_protocols spdy v5.channel.k8s.io v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io
}

@test "exec over WebSocket with each channel protocol (v5, v4, v4.base64, channel, base64.channel): output and exit code" {
        exec_protocols websocket v5.channel.k8s.io v4.channel.k8s.io v4.base64.channel.k8s.io channel.k8s.io \
                base64.channel.k8s.io
}

# exec_big TRANSPORT [CLIENT OPTIONS]: 10 MiB of output, byte for byte.
exec_big() {
        local t="$1" url want got size
        shift
        run_ctr "big-$t"
        want="$(yes "$BIG_LINE" | head -c "$BIG_SIZE" | sha256sum | cut -d' ' -f1)"
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c "yes '$BIG_LINE' | head -c $BIG_SIZE")"
        sc --transport "$t" "$@" --report "$TEST_DIR/work.report" exec "$url" >"$TEST_DIR/work.big"
        size="$(stat -c %s "$TEST_DIR/work.big")"
        got="$(sha256sum <"$TEST_DIR/work.big" | cut -d' ' -f1)"
        echo "$size bytes, sha256 $got" >&2
        [ "$size" -eq "$BIG_SIZE" ]
        [ "$got" = "$want" ]
        report '.status.status == "Success"'
}

@test "exec over SPDY: 10 MiB of output arrive whole (a client keeping flow-control windows)" {
        exec_big spdy
}

@test "exec over SPDY: 10 MiB of output arrive whole (a client sending no WINDOW_UPDATE, as kubectl's spdystream)" {
        exec_big spdy --no-window-updates
}

@test "exec over WebSocket: 10 MiB of output arrive whole" {
        exec_big websocket
}

# The session's end must not be lost when the client sends something (a
# ping) while the server closes: closing a socket with unread input resets
# the connection and drops what is still queued for the client.
exec_big_pinging() {
        local t="$1" i url code size
        shift
        run_ctr "ping-$t"
        for i in 1 2 3 4 5; do
                url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sh -c "yes '$BIG_LINE' | head -c $BIG_SIZE")"
                # A reader that starts late: megabytes are in flight at the end.
                sc --transport "$t" "$@" exec "$url" --ping-interval 0.002 2>"$TEST_DIR/work.err" |
                        { sleep 1; cat >"$TEST_DIR/work.big"; }
                code="${PIPESTATUS[0]}"
                size="$(stat -c %s "$TEST_DIR/work.big")"
                echo "attempt $i: exit $code, $size bytes $(cat "$TEST_DIR/work.err")" >&2
                [ "$code" -eq 0 ]
                [ "$size" -eq "$BIG_SIZE" ]
        done
}

@test "exec over SPDY: a slow client pinging during 10 MiB of output still gets all of it and the status (kubectl-like, no WINDOW_UPDATE)" {
        exec_big_pinging spdy --no-window-updates
}

@test "exec over WebSocket: a slow client pinging during 10 MiB of output still gets all of it and the status" {
        exec_big_pinging websocket
}

# exec_tty TRANSPORT [strict]: under runc the size sent first is the
# terminal's before the command runs (strict). crun 1.8.1 sizes the
# terminal it makes for an exec only after it has started the command, so
# there the command looks a moment later (a second: the machines are busy).
exec_tty() {
        local t="$1" url first=(/bin/sh -c 'sleep 1; /bin/busybox stty size')
        [ "${2:-}" = strict ] && first=(/bin/busybox stty size)
        run_ctr "tty-$t"
        url="$(exec_url "$CTR_ID" "$TTY_OUT" "${first[@]}")"
        run sc --transport "$t" exec "$url" --tty --resize 99x33
        echo "exit $status: $(printf '%s' "$output" | od -c | head -5)" >&2
        [ "$status" -eq 0 ]
        [ "$output" = $'33 99\r' ]
        # Output goes through the terminal (CRLF); the exit code comes through.
        url="$(exec_url "$CTR_ID" "$TTY_OUT" /bin/sh -c 'echo a; echo b; exit 5')"
        run sc --transport "$t" exec "$url" --tty --resize 80x24
        echo "exit $status: $(printf '%s' "$output" | od -c | head -5)" >&2
        [ "$status" -eq 5 ]
        [ "$output" = $'a\r\nb\r' ]
        # stdin through the terminal: it echoes the line too.
        url="$(exec_url "$CTR_ID" "$TTY_IN_OUT" /bin/sh -c 'read l; echo "got $l"')"
        run sc --transport "$t" exec "$url" --tty --resize 80x24 --stdin-text $'typed\n'
        [ "$status" -eq 0 ]
        [[ "$output" == *$'typed\r\ngot typed\r'* ]]
}

@test "exec with a TTY over SPDY: stty size shows the size sent, output through the terminal (CRLF), stdin echoed" {
        exec_tty spdy
}

@test "exec with a TTY over WebSocket: stty size shows the size sent, output through the terminal (CRLF), stdin echoed" {
        exec_tty websocket
}

# exec_tty_resize TRANSPORT: a size sent while the process runs reaches
# its terminal (kubectl sends one whenever the local terminal changes).
exec_tty_resize() {
        local t="$1" url
        run_ctr "resize-$t"
        url="$(exec_url "$CTR_ID" "$TTY_OUT" /bin/sh -c '/bin/busybox stty size; sleep 2; /bin/busybox stty size')"
        run sc --transport "$t" exec "$url" --tty --resize 80x24 --resize 120x40 --resize-delay 1
        echo "exit $status: $(printf '%s' "$output" | od -c | head -5)" >&2
        [ "$status" -eq 0 ]
        [ "$output" = $'24 80\r\n40 120\r' ]
}

@test "exec with a TTY over SPDY: a resize during the session reaches the terminal" {
        exec_tty_resize spdy
}

@test "exec with a TTY over WebSocket: a resize during the session reaches the terminal" {
        exec_tty_resize websocket
}

# runc keeps its own terminal for the process and relays ours to it (crun
# gives the process ours directly): the same checks through runc.
@test "exec with a TTY under runc (SPDY and WebSocket): the first size, a resize, CRLF output, stdin, exit code" {
        POD_RUNTIME=runc new_pod stream-runc
        local t
        for t in spdy websocket; do
                exec_tty "$t" strict
                exec_tty_resize "$t"
        done
}

# ---- attach -------------------------------------------------------------------------------

# An attach session lasts as long as the client or the container's output.
attach_counter() {
        local t="$1" url last
        run_ctr "counter-$t" '.command = ["/bin/sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"]'
        url="$(attach_url "$CTR_ID" "$OUT_ERR")"
        # 4 s: the session lasts as long as the client stays.
        run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" attach "$url" --duration 4
        echo "exit $status: $(echo $output)" >&2
        [ "$status" -eq 0 ]
        report '.detached'
        consecutive_numbers "$output" 15
        last="${lines[-1]}"
        # Detaching leaves the container running; attaching again picks up
        # where the counter is now.
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        url="$(attach_url "$CTR_ID" '{"stdout": true}')"
        run --separate-stderr sc --transport "$t" attach "$url" --no-stderr --duration 1.5
        [ "$status" -eq 0 ]
        consecutive_numbers "$output" 3
        [ "${lines[0]}" -gt "$last" ]
        sleep 0.5
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "attach over SPDY: the output of a running container, increasing, for as long as the client stays; after detaching it still runs" {
        attach_counter spdy
}

@test "attach over WebSocket: the output of a running container, increasing, for as long as the client stays; after detaching it still runs" {
        attach_counter websocket
}

attach_stdin() {
        local t="$1" url
        run_ctr "reader-$t" '.stdin = true | .command = ["/bin/sh", "-c", "while read l; do echo \"got $l\"; done"]'
        url="$(attach_url "$CTR_ID" "$IN_OUT_ERR")"
        run --separate-stderr sc --transport "$t" attach "$url" --stdin-text $'hello\n' --until 'got hello'
        echo "exit $status: $output / $stderr" >&2
        [ "$status" -eq 0 ]
        [ "$output" = "got hello" ]
        # The container's stdin outlives the session (stdin_once unset).
        url="$(attach_url "$CTR_ID" "$IN_OUT_ERR")"
        run --separate-stderr sc --transport "$t" attach "$url" --stdin-text $'again\n' --until 'got again'
        [ "$status" -eq 0 ]
        [ "$output" = "got again" ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "attach with stdin over SPDY: text sent comes back from the container's process, twice" {
        attach_stdin spdy
}

@test "attach with stdin over WebSocket: text sent comes back from the container's process, twice" {
        attach_stdin websocket
}

# ---- port forwarding ---------------------------------------------------------------------------

# start_web: busybox httpd on 127.0.0.1:WEB_PORT in the (host-network) pod
# serving /tmp/www: hello.txt and big.txt (seq 1 200000).
start_web() {
        WEB_PORT="$(free_port)"
        run_ctr web '.command = ["/bin/sh", "-c", $script]' --arg script "mkdir -p /tmp/www &&
                echo 'hello through the forward' >/tmp/www/hello.txt && seq 1 200000 >/tmp/www/big.txt &&
                exec /bin/busybox httpd -f -p 127.0.0.1:$WEB_PORT -h /tmp/www"
        local i
        for i in $(seq 1 50); do
                exec_sync "$CTR_ID" 5 /bin/wget -q -O - "http://127.0.0.1:$WEB_PORT/hello.txt" >/dev/null
                [ "$EXEC_OUT" = "hello through the forward" ] && return 0
                sleep 0.1
        done
        echo "httpd does not answer on $WEB_PORT" >&2
        return 1
}

port_forward() {
        local t="$1" url dead want
        start_web
        url="$(pf_url "$POD_ID" "$WEB_PORT")"
        run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" portforward "$url" "$WEB_PORT" \
                --send-text 'GET /hello.txt HTTP/1.0\r\n\r\n' --error-wait 1
        echo "exit $status: $output / $stderr" >&2
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "HTTP/1.1 200 OK"* ]]
        [ "${lines[-1]}" = "hello through the forward" ]
        # 1.3 MB, byte for byte.
        url="$(pf_url "$POD_ID" "$WEB_PORT")"
        sc --transport "$t" portforward "$url" "$WEB_PORT" --send-text 'GET /big.txt HTTP/1.0\r\n\r\n' \
                --error-wait 1 >"$TEST_DIR/work.big"
        want="$(seq 1 200000 | wc -c)"
        grep -qa "Content-Length: $want" "$TEST_DIR/work.big"
        [ "$(tail -c "$want" "$TEST_DIR/work.big" | sha256sum)" = "$(seq 1 200000 | sha256sum)" ]
        # A port where nothing listens: the error comes on the error
        # stream (channel) and the client reports it.
        dead="$(free_port)"
        url="$(pf_url "$POD_ID" "$dead")"
        run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" portforward "$url" "$dead" \
                --send-text 'GET / HTTP/1.0\r\n\r\n'
        echo "exit $status: $output / $stderr" >&2
        [ "$status" -eq 1 ]
        [ -z "$output" ]
        [[ "$stderr" == *"port $dead"* ]]
        report --arg p "$dead" '.error | contains("forwarding port " + $p)'
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "port-forward over SPDY: an HTTP GET through the forward gets the file; a port where nothing listens reports an error" {
        port_forward spdy
}

@test "port-forward over WebSocket: an HTTP GET through the forward gets the file; a port where nothing listens reports an error" {
        port_forward websocket
}

@test "port-forward over WebSocket: each channel starts with the port, little-endian" {
        start_web
        local url
        url="$(pf_url "$POD_ID" "$WEB_PORT")"
        run sc --transport websocket --report "$TEST_DIR/work.report" portforward "$url" "$WEB_PORT" \
                --send-text 'GET /hello.txt HTTP/1.0\r\n\r\n'
        [ "$status" -eq 0 ]
        report --argjson p "$WEB_PORT" '.ports == {"0": $p, "1": $p}'
}

# client-go's portforward (handleConnection) reads each connection's error
# stream to its end, whatever happened: a server that never closes it
# leaves kubectl waiting, and the local connection open, forever.
# The kubelet closes both streams when a forward ends.
@test "port-forward over SPDY: the error stream of a finished connection is closed too (client-go waits for it)" {
        start_web
        local url
        url="$(pf_url "$POD_ID" "$WEB_PORT")"
        run --separate-stderr sc --transport spdy --report "$TEST_DIR/work.report" portforward "$url" "$WEB_PORT" \
                --send-text 'GET /hello.txt HTTP/1.0\r\n\r\n' --half-close --error-wait 5
        [ "$status" -eq 0 ]
        [ "${lines[-1]}" = "hello through the forward" ]
        report '.fins | index("data")'
        report '.fins | index("error")'
}

# ---- the RPCs ----------------------------------------------------------------------------------

@test "Exec, Attach and PortForward check their requests" {
        run_ctr valid
        local stopped
        run pyc call Exec "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"]}"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call Exec "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"], \"tty\": true, \"stdout\": true, \"stderr\": true}"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call Exec "{\"container_id\": \"$CTR_ID\", \"cmd\": [], \"stdout\": true}"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call Attach "{\"container_id\": \"$CTR_ID\"}"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call Attach "{\"container_id\": \"$CTR_ID\", \"tty\": true, \"stdout\": true, \"stderr\": true}"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call Exec '{"container_id": "no-such-container", "cmd": ["/bin/true"], "stdout": true}'
        check '.code == "NOT_FOUND"'
        run pyc call Attach '{"container_id": "no-such-container", "stdout": true}'
        check '.code == "NOT_FOUND"'
        # A container that is not running: created, and exited.
        new_ctr created
        run pyc call Exec "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"], \"stdout\": true}"
        check '.ok == false'
        run_ctr exited '.command = ["/bin/true"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        run pyc call Exec "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"], \"stdout\": true}"
        check '.ok == false'
        run pyc call Attach "{\"container_id\": \"$CTR_ID\", \"stdout\": true}"
        check '.ok == false'
        run pyc call PortForward '{"pod_sandbox_id": "no-such-pod", "port": [80]}'
        check '.code == "NOT_FOUND"'
        run pyc call PortForward "{\"pod_sandbox_id\": \"$POD_ID\", \"port\": [70000]}"
        check '.code == "INVALID_ARGUMENT"'
        # The URLs point at the streaming server, one path per kind.
        run_ctr fine
        [[ "$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)" =~ ^http://127\.0\.0\.1:[0-9]+/exec/[A-Za-z0-9_-]+$ ]]
        [[ "$(attach_url "$CTR_ID" "$OUT_ERR")" =~ ^http://127\.0\.0\.1:[0-9]+/attach/[A-Za-z0-9_-]+$ ]]
        [[ "$(pf_url "$POD_ID" 80)" =~ ^http://127\.0\.0\.1:[0-9]+/portforward/[A-Za-z0-9_-]+$ ]]
}

# ---- tokens --------------------------------------------------------------------------------------

@test "an unused URL expires (the daemon's --stream-token-timeout 5): 404 with a message, over SPDY and WebSocket" {
        run_ctr late
        local spdy_url ws_url
        spdy_url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/echo too late)"
        ws_url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/echo too late)"
        sleep 6
        run --separate-stderr sc --transport spdy --report "$TEST_DIR/work.report" exec "$spdy_url"
        [ "$status" -eq 1 ]
        [ -z "$output" ]
        report '.http_status == 404'
        report '.body | test("expired")'
        run sc raw "$ws_url" --upgrade websocket
        check '.status == 404'
        check '.body | test("expired")'
        assert_serving
}

@test "a URL serves one session: used again it is refused (404), over SPDY and WebSocket" {
        run_ctr once
        local t url
        for t in spdy websocket; do
                url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/echo once)"
                run sc --transport "$t" exec "$url"
                [ "$status" -eq 0 ]
                [ "$output" = once ]
                run --separate-stderr sc --transport "$t" --report "$TEST_DIR/work.report" exec "$url"
                [ "$status" -eq 1 ]
                [ -z "$output" ]
                report '.http_status == 404'
                # Not even through the other transport.
                run sc raw "$url" --upgrade "$([ "$t" = spdy ] && echo websocket || echo spdy)"
                check '.status == 404'
        done
        # Nor an attach URL for an exec path, and so on.
        url="$(attach_url "$CTR_ID" "$OUT_ERR")"
        run sc raw "${url/\/attach\//\/exec\/}" --upgrade websocket
        check '.status == 400 or .status == 404'
}

# ---- clients that vanish ---------------------------------------------------------------------------

# exec_disconnect TRANSPORT MARK: a client killed mid-exec leaves nothing.
exec_disconnect() {
        local t="$1" mark="$2" url pid
        run_ctr "gone-$t"
        # Without stdin: the process must be killed.
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep "$mark")"
        # The client itself (not a function's subshell): killed by its pid.
        "$PYTHON" "$STREAM_CLIENT" --transport "$t" exec "$url" >"$TEST_DIR/work.out" 2>&1 &
        pid=$!
        wait_procs "sleep $mark"
        kill -KILL "$pid"
        wait "$pid" || true
        wait_procs_gone "sleep $mark" 10
        # With stdin open: a shell reading it sees its end and exits.
        url="$(exec_url "$CTR_ID" "$IN_OUT_ERR" /bin/sh -c 'while read l; do echo "echo $l"; done' "reader-$mark")"
        "$PYTHON" "$STREAM_CLIENT" --transport "$t" exec "$url" --stdin-text $'ping\n' --keep-stdin-open \
                >"$TEST_DIR/work.out" 2>&1 &
        pid=$!
        local i
        for i in $(seq 1 100); do
                grep -q "echo ping" "$TEST_DIR/work.out" && break
                sleep 0.1
        done
        grep -q "echo ping" "$TEST_DIR/work.out"
        [ -n "$(live_procs "reader-$mark")" ]
        kill -KILL "$pid"
        wait "$pid" || true
        wait_procs_gone "reader-$mark" 10
        wait_procs_gone "exec --process $TEST_DIR/run/containers/$CTR_ID" 5
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        assert_serving
}

@test "a SPDY client that disconnects mid-exec leaves no process behind (sleep without stdin, a shell reading stdin)" {
        exec_disconnect spdy 4741
}

@test "a WebSocket client that disconnects mid-exec leaves no process behind (sleep without stdin, a shell reading stdin)" {
        exec_disconnect websocket 4742
}

@test "a client that disconnects mid-attach leaves the container running and attachable" {
        run_ctr attached '.command = ["/bin/sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"]'
        local t url pid
        for t in spdy websocket; do
                url="$(attach_url "$CTR_ID" "$OUT_ERR")"
                "$PYTHON" "$STREAM_CLIENT" --transport "$t" attach "$url" >"$TEST_DIR/work.out" 2>&1 &
                pid=$!
                sleep 1
                kill -KILL "$pid"
                wait "$pid" || true
                [ -s "$TEST_DIR/work.out" ]
        done
        sleep 0.5
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        url="$(attach_url "$CTR_ID" "$OUT_ERR")"
        run sc attach "$url" --duration 1
        [ "$status" -eq 0 ]
        consecutive_numbers "$output" 2
}

# ---- malformed input --------------------------------------------------------------------------------

@test "bad input: a malformed request line is answered 400 and the connection closed" {
        run_ctr bad
        run sc raw "$(stream_base)/" --request-text 'GARBAGE\r\n\r\n'
        check '.status == 400 and .eof'
        check '.body | test("request line")'
        run sc raw "$(stream_base)/" --request-text '\x00\x01\x02 / HTTP/1.1\r\n\r\n'
        check '.status == 400'
        assert_serving
}

@test "bad input: a GET without an upgrade on /exec/TOKEN is answered 400" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        run sc raw "$url" --upgrade none
        check '.status == 400 and .eof'
        check '.body | test("upgrade")'
        assert_serving
}

@test "bad input: an unknown path is answered 404" {
        run_ctr bad
        local base
        base="$(stream_base)"
        run sc raw "$base/nothing/here" --upgrade websocket
        check '.status == 404'
        run sc raw "$base/exec/" --upgrade spdy
        check '.status == 404'
        run sc raw "$base/exec/a/b" --upgrade spdy
        check '.status == 404'
        assert_serving
}

@test "bad input: only unknown subprotocols offered: 403 listing the supported ones (WebSocket and SPDY)" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        run sc raw "$url" --upgrade websocket --protocol nope
        check '.status == 403'
        check '.headers["x-accepted-stream-protocol-versions"] | test("v5.channel.k8s.io") and test("v4.channel.k8s.io")'
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        run sc raw "$url" --upgrade spdy --protocol nope
        check '.status == 403'
        check '.headers["x-accepted-stream-protocol-versions"] | test("v4.channel.k8s.io")'
        url="$(pf_url "$POD_ID" 80)"
        run sc raw "$url" --upgrade spdy --protocol nope
        check '.status == 403'
        check '.headers["x-accepted-stream-protocol-versions"] | test("portforward.k8s.io")'
        assert_serving
}

@test "bad input: a request head over 16 KiB is answered 431" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        run sc raw "$url" --upgrade websocket --pad-head 20000
        check '.status == 431'
        # Headers that never end: refused once past the bound too.
        run sc raw "$url" --request-text "GET / HTTP/1.1\r\nX-Long: $(head -c 40000 /dev/zero | tr '\0' a)"
        check '.status == 431'
        assert_serving
}

@test "bad input: a WebSocket frame announcing 2^62 bytes: Close 1009 and the connection closed" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep 30)"
        run sc raw "$url" --upgrade websocket --action ws-huge-length
        check '.status == 101'
        check '[.frames[] | select(.opcode == 8)][0].close_code == 1009'
        check '.eof or .reset'
        assert_serving
}

@test "bad input: an unmasked WebSocket frame from the client: Close 1002 and the connection closed" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep 30)"
        run sc raw "$url" --upgrade websocket --action ws-unmasked
        check '.status == 101'
        check '[.frames[] | select(.opcode == 8)][0].close_code == 1002'
        check '.eof or .reset'
        assert_serving
}

@test "bad input: a SPDY frame of another version: GOAWAY (protocol error) and the connection closed" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep 30)"
        run sc raw "$url" --upgrade spdy --action spdy-bad-version
        check '.status == 101'
        check '[.frames[] | select(.type == "GOAWAY")][0].status == 1'
        check '.eof or .reset'
        assert_serving
}

@test "bad input: a SPDY stream id used twice: GOAWAY (protocol error) and the connection closed" {
        run_ctr bad
        local url
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep 30)"
        run sc raw "$url" --upgrade spdy --action spdy-reused-id
        check '.status == 101'
        check '[.frames[] | select(.type == "GOAWAY")][0].status == 1'
        check '.eof or .reset'
        assert_serving
}

@test "bad input: a zlib bomb in a SPDY header block (10 MB of zeros): GOAWAY, the daemon's memory does not grow" {
        run_ctr bad
        local url before after i
        before="$(awk '/^VmRSS/ {print $2}' "/proc/$OCID_PID/status")"
        for i in 1 2 3; do
                url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/sleep 30)"
                run sc raw "$url" --upgrade spdy --action spdy-zlib-bomb
                check '.status == 101'
                check '[.frames[] | select(.type == "GOAWAY")] | length == 1'
                # The bomb's stream was never opened: the GOAWAY names none.
                check '[.frames[] | select(.type == "GOAWAY")][0].last_stream_id == 0'
                check '.eof or .reset'
        done
        after="$(awk '/^VmRSS/ {print $2}' "/proc/$OCID_PID/status")"
        echo "RSS $before kB -> $after kB" >&2
        [ $((after - before)) -lt 16384 ]
        assert_serving
}

# ---- what sessions hold --------------------------------------------------------------------------

# Sessions release everything when they end: the exec's files and pidfd,
# the connection's timers, its zlib states.
daemon_fds() {
        ls "/proc/$OCID_PID/fd" | wc -l
}

@test "finished exec sessions release what they held: no exec spec or pid file left, the daemon's descriptors back where they were" {
        run_ctr leak
        local t i url before after
        # One session first: whatever is made once is made.
        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/true)"
        sc exec "$url"
        sleep 1
        before="$(daemon_fds)"
        for t in spdy websocket; do
                for i in $(seq 1 10); do
                        url="$(exec_url "$CTR_ID" "$OUT_ERR" /bin/echo "$i")"
                        [ "$(sc --transport "$t" exec "$url")" = "$i" ]
                done
        done
        sleep 3
        after="$(daemon_fds)"
        echo "descriptors: $before before 20 sessions, $after after" >&2
        ls -l "/proc/$OCID_PID/fd" | awk '{print $NF}' | sed 's/[0-9]//g' | sort | uniq -c >&2
        assert_no_exec_left
        [ "$after" -le $((before + 2)) ]
}

@test "closed connections hold no descriptor: 30 refused requests and 10 ended attach sessions leave the daemon's count where it was" {
        run_ctr leak '.command = ["/bin/sh", "-c", "while true; do echo tick; sleep 0.2; done"]'
        local base i url before after
        base="$(stream_base)"
        sc raw "$base/warm-up" >/dev/null
        sleep 1
        before="$(daemon_fds)"
        for i in $(seq 1 30); do
                sc raw "$base/nothing/$i" --upgrade websocket >/dev/null
        done
        for i in $(seq 1 10); do
                url="$(attach_url "$CTR_ID" '{"stdout": true}')"
                sc attach "$url" --no-stderr --duration 0.3 >/dev/null
        done
        sleep 3
        after="$(daemon_fds)"
        echo "descriptors: $before before 40 connections, $after after" >&2
        ls -l "/proc/$OCID_PID/fd" | awk '{print $NF}' | sed 's/[0-9]//g' | sort | uniq -c >&2
        [ "$after" -le $((before + 2)) ]
}

# ---- after all of the above -----------------------------------------------------------------------

@test "after the sessions above: no runtime exec process of this daemon is left" {
        wait_procs_gone "exec --process $TEST_DIR/" 5
        kill -0 "$OCID_PID"
}
