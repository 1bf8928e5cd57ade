#!/usr/bin/env bats
# ocic exec, attach and port-forward (issue 6) against a real ocid, checked
# the way a user checks them: what comes out, the exit status, the
# terminal, downloads through a forward. Every session scenario runs over
# both transports (SPDY, ocic's default, and WebSocket).
#
#   exec          stdout and stderr apart, exit codes, stdin to its end,
#                 1 MiB each way byte for byte, -t without a local terminal,
#                 -it on a real terminal (tmux): size, resize, Ctrl-C,
#                 exit status, the terminal given back
#   attach        the output as it comes, detaching, attaching again; -i
#   port-forward  parallel downloads through two forwarded ports, clients
#                 that leave early, SIGINT ends it with status 0; a port
#                 where nothing listens is reported
#   https         a second ocid serving streams over TLS with a self-signed
#                 certificate: --cacert, a certificate not trusted, --insecure
#
# One registry, and two ocids for the file: a plain one, and one with
# --stream-tls-cert/--stream-tls-key for the tests named "https: ...".
# Host-network pods: a server in a container listens on our 127.0.0.1.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() {
        ctr_images_setup
        # A self-signed certificate for the streaming server (127.0.0.1),
        # and another one, trusted by no one, as the wrong CA.
        export TLS_DIR="$(mktemp -d /tmp/ocid-ocic-tls.XXXXXX)"
        local name
        for name in server other; do
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                        -keyout "$TLS_DIR/$name.key" -out "$TLS_DIR/$name.crt" -days 2 -subj /CN=127.0.0.1 \
                        -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
        done
        # The https daemon first: the plain one started second is the default.
        ctr_daemon_start --stream-tls-cert "$TLS_DIR/server.crt" --stream-tls-key "$TLS_DIR/server.key"
        export TLS_TEST_DIR="$TEST_DIR" TLS_OCID_SOCK="$OCID_SOCK" TLS_OCID_LOG="$OCID_LOG" TLS_OCID_PID="$OCID_PID"
        ctr_daemon_start
}

teardown_file() {
        if [ -n "${TLS_OCID_PID:-}" ]; then
                local plain=("$TEST_DIR" "$OCID_SOCK" "$OCID_LOG" "$OCID_PID")
                use_tls_daemon
                stop_ocid
                local logs="${OCID_TEST_LOGS:-/tmp/ocid-test-logs}"
                mv -f "$logs/ocic-stream.log" "$logs/ocic-stream-https.log" 2>/dev/null || true
                TEST_DIR="${plain[0]}" OCID_SOCK="${plain[1]}" OCID_LOG="${plain[2]}" OCID_PID="${plain[3]}"
                export CONTAINER_RUNTIME_ENDPOINT="unix://$OCID_SOCK"
        fi
        ctr_file_teardown
        rm -rf "${TLS_DIR:-}"
}

# Point this test's helpers and ocic at the https daemon.
use_tls_daemon() {
        export TEST_DIR="$TLS_TEST_DIR" OCID_SOCK="$TLS_OCID_SOCK" OCID_LOG="$TLS_OCID_LOG" OCID_PID="$TLS_OCID_PID"
        export CONTAINER_RUNTIME_ENDPOINT="unix://$OCID_SOCK"
}

setup() {
        [[ "$BATS_TEST_DESCRIPTION" == https:* ]] && use_tls_daemon
        new_pod ocic
}

teardown() {
        # What the test left running: a forward, curls or a listener, a
        # tmux server.
        if [ -n "${PF_PID:-}" ]; then
                kill -TERM "$PF_PID" 2>/dev/null || true
                wait "$PF_PID" 2>/dev/null || true
        fi
        local p
        for p in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
                kill -TERM "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        if [ -n "${TMUX_NAME:-}" ]; then
                if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
                        echo "# --- the tmux screen ---"
                        tm capture-pane -p -t t 2>/dev/null | sed 's/^/# /'
                fi
                tmux_stop
        fi
        ctr_test_teardown
}

# ocic ARGS... bounded in time (a hang fails the test instead of the run).
oc() {
        timeout 60 "$OCIC" "$@"
}

# sha256 of a file or of stdin, the hash alone.
sum() {
        sha256sum "$@" | cut -d' ' -f1
}

MIB=1048576

# ---- exec -------------------------------------------------------------------------------

exec_output() {
        local t="$1"
        run_ctr "out-$t"
        run --separate-stderr oc exec --transport "$t" "$CTR_ID" /bin/sh -c 'echo out; echo err >&2; echo more out; exit 7'
        echo "exit $status, stdout '$output', stderr '$stderr'" >&2
        [ "$status" -eq 7 ]
        [ "$output" = $'out\nmore out' ]
        [ "$stderr" = err ]
        run --separate-stderr oc exec --transport "$t" "$CTR_ID" /bin/echo fine
        [ "$status" -eq 0 ]
        [ "$output" = fine ]
        [ -z "$stderr" ]
        # Killed by a signal: 128 + the signal, as a shell reports it.
        run --separate-stderr oc exec --transport "$t" "$CTR_ID" /bin/sh -c 'kill -9 $$'
        [ "$status" -eq 137 ]
        # A program the container does not have: a failure, and why.
        run --separate-stderr oc exec --transport "$t" "$CTR_ID" /no/such/program
        echo "missing program: exit $status, stderr '$stderr'" >&2
        [ "$status" -ne 0 ]
        [[ "$stderr" == *"/no/such/program"* ]]
        # A reader that stops early (head): ocic ends as a writer to a
        # closed pipe does (141), and so does the command in the container.
        oc exec --transport "$t" "$CTR_ID" /bin/sh -c 'exec yes ocic-stream-yes' | head -n 2 >"$TEST_DIR/work.head"
        [ "${PIPESTATUS[0]}" -eq 141 ]
        [ "$(cat "$TEST_DIR/work.head")" = $'ocic-stream-yes\nocic-stream-yes' ]
        local i
        wait_proc_gone '^yes ocic-stream-yes$'
}

@test "ocic exec over SPDY (the default): stdout and stderr apart, exit codes 7, 0 and 137, a missing program, a reader that stops early" {
        exec_output spdy
        # No --transport is SPDY.
        run --separate-stderr oc exec "$CTR_ID" /bin/sh -c 'echo default; exit 3'
        [ "$status" -eq 3 ]
        [ "$output" = default ]
}

@test "ocic exec over WebSocket: stdout and stderr apart, exit codes 7, 0 and 137, a missing program, a reader that stops early" {
        exec_output websocket
}

exec_stdin() {
        local t="$1" want
        run_ctr "in-$t"
        # A line in, and its end: cat ends.
        run oc exec -i --transport "$t" "$CTR_ID" /bin/cat <<<"hello through stdin"
        [ "$status" -eq 0 ]
        [ "$output" = "hello through stdin" ]
        # Empty stdin: the command sees its end at once.
        run oc exec -i --transport "$t" "$CTR_ID" /bin/wc -c </dev/null
        [ "$status" -eq 0 ]
        [ "$output" = 0 ]
        head -c "$MIB" /dev/urandom >"$TEST_DIR/work.in"
        want="$(sum "$TEST_DIR/work.in")"
        # 1 MiB in: hashed in the container.
        run oc exec -i --transport "$t" "$CTR_ID" /bin/sha256sum <"$TEST_DIR/work.in"
        [ "$status" -eq 0 ]
        [ "${output%% *}" = "$want" ]
        # 1 MiB in and back out, on stdout and on stderr, byte for byte.
        oc exec -i --transport "$t" "$CTR_ID" /bin/cat <"$TEST_DIR/work.in" >"$TEST_DIR/work.out"
        [ "$(sum "$TEST_DIR/work.out")" = "$want" ]
        oc exec -i --transport "$t" "$CTR_ID" /bin/sh -c 'cat >&2' <"$TEST_DIR/work.in" \
                >"$TEST_DIR/work.out" 2>"$TEST_DIR/work.err"
        [ ! -s "$TEST_DIR/work.out" ]
        [ "$(sum "$TEST_DIR/work.err")" = "$want" ]
        # 1 MiB made in the container, without stdin.
        in_ctr "$CTR_ID" /bin/sh -c "head -c $MIB /dev/urandom >/tmp/ocic-blob" >/dev/null
        oc exec --transport "$t" "$CTR_ID" /bin/cat /tmp/ocic-blob >"$TEST_DIR/work.out"
        [ "$(stat -c %s "$TEST_DIR/work.out")" -eq "$MIB" ]
        [ "$(sum "$TEST_DIR/work.out")" = "$(in_ctr "$CTR_ID" /bin/sha256sum /tmp/ocic-blob | cut -d' ' -f1)" ]
        # A command that ends without reading all of its stdin: its own
        # exit status, no error.
        run --separate-stderr oc exec -i --transport "$t" "$CTR_ID" /bin/head -c 10 <"$TEST_DIR/work.in"
        [ "$status" -eq 0 ]
        [ "${#output}" -le 10 ]
        [ -z "$stderr" ]
        run --separate-stderr oc exec -i --transport "$t" "$CTR_ID" /bin/sh -c 'exit 9' <"$TEST_DIR/work.in"
        [ "$status" -eq 9 ]
        [ -z "$stderr" ]
}

@test "ocic exec -i over SPDY: stdin to its end; 1 MiB in and out (stdout, stderr) byte for byte; a command that stops reading" {
        exec_stdin spdy
}

@test "ocic exec -i over WebSocket: stdin to its end; 1 MiB in and out (stdout, stderr) byte for byte; a command that stops reading" {
        exec_stdin websocket
}

# -t without a terminal of our own (a pipe): the command still gets a
# terminal; its output comes through it (CRLF); no size is sent.
exec_tty_pipe() {
        local t="$1"
        run_ctr "ttypipe-$t"
        run oc exec -t --transport "$t" "$CTR_ID" /bin/sh -c 'tty; echo done; exit 4'
        echo "exit $status: $(printf '%s' "$output" | od -c | head -3)" >&2
        [ "$status" -eq 4 ]
        [[ "$output" =~ ^/dev/pts/[0-9]+$'\r\n'done$'\r'$ ]]
}

@test "ocic exec -t with stdout a pipe (SPDY and WebSocket): the command has a terminal, output through it, the exit code" {
        exec_tty_pipe spdy
        exec_tty_pipe websocket
}

@test "ocic exec and attach: usage errors and a container that does not exist" {
        run_ctr usage
        run --separate-stderr oc exec --transport carrier-pigeon "$CTR_ID" /bin/true
        [ "$status" -eq 2 ]
        [[ "$stderr" == *"unknown transport 'carrier-pigeon'"* ]]
        run --separate-stderr oc attach --transport carrier-pigeon "$CTR_ID"
        [ "$status" -eq 2 ]
        run --separate-stderr oc exec --transport websocket no-such-container /bin/true
        [ "$status" -eq 1 ]
        [[ "$stderr" == *"ocic: Exec: container 'no-such-container' not found"* ]]
        run --separate-stderr oc attach no-such-container
        [ "$status" -eq 1 ]
        [[ "$stderr" == *"ocic: Attach:"*"not found"* ]]
}

# ---- exec -it on a real terminal (tmux) -----------------------------------------------

# tmux on a server of the test's own (-L), started by tmux_run and killed
# in teardown: nothing of the user's tmux is touched.
tm() {
        env -u TMUX tmux -L "$TMUX_NAME" -f /dev/null "$@" 3>&-
}

# tmux_run COLUMNS ROWS COMMAND: a detached session "t" of that size whose
# shell records its terminal settings, runs COMMAND, records COMMAND's exit
# status and the settings again, then stays as an interactive shell
# (prompt "host$ "). Files: $TEST_DIR/work.tmux/{stty.before,exit,stty.after}.
tmux_run() {
        local cols="$1" rows="$2" cmd="$3"
        TMUX_DIR="$TEST_DIR/work.tmux"
        mkdir -p "$TMUX_DIR"
        cat >"$TMUX_DIR/run.sh" <<EOF
stty -g >"$TMUX_DIR/stty.before"
$cmd
echo "exit=\$?" >"$TMUX_DIR/exit"
stty -g >"$TMUX_DIR/stty.after"
unset ENV
PS1='host\$ ' exec /bin/sh -i
EOF
        TMUX_NAME="ocic-stream-$$"
        tm new-session -d -s t -x "$cols" -y "$rows" "/bin/sh $TMUX_DIR/run.sh"
        TMUX_SOCKET="$(tm display-message -p '#{socket_path}')"
}

# Our tmux server ends; its socket goes too.
tmux_stop() {
        tm kill-server 2>/dev/null || true
        [ -n "${TMUX_SOCKET:-}" ] && rm -f "$TMUX_SOCKET"
        TMUX_NAME= TMUX_SOCKET=
}

screen() {
        tm capture-pane -p -t t
}

# type TEXT: keys typed on the terminal, then Enter.
type_line() {
        tm send-keys -t t -l "$1"
        tm send-keys -t t Enter
}

# wait_screen REGEX [SECONDS]: until a line of the screen matches.
wait_screen() {
        local i n=$((${2:-15} * 10))
        for ((i = 0; i < n; i++)); do
                screen | grep -qE -- "$1" && return 0
                sleep 0.1
        done
        echo "no line matching '$1' on the screen" >&2
        return 1
}

# wait_file FILE [SECONDS]: until it exists and is not empty.
wait_file() {
        local i n=$((${2:-15} * 10))
        for ((i = 0; i < n; i++)); do
                [ -s "$1" ] && return 0
                sleep 0.1
        done
        echo "no $1" >&2
        return 1
}

# wait_proc PATTERN | wait_proc_gone PATTERN: a process (pgrep -f) appears,
# or is gone, within 10 s.
wait_proc() {
        local i
        for i in $(seq 1 100); do
                pgrep -f -- "$1" >/dev/null && return 0
                sleep 0.1
        done
        echo "no process matching '$1'" >&2
        return 1
}

wait_proc_gone() {
        local i
        for i in $(seq 1 100); do
                pgrep -f -- "$1" >/dev/null || return 0
                sleep 0.1
        done
        echo "still running: $(pgrep -af -- "$1")" >&2
        return 1
}

# The container's shell prompt (busybox ash as root).
PROMPT='^/ #'

# The sizes are read by an interactive shell, typed at its prompt as a user
# does. (Under crun 1.8.1 a command that reads its size in its very first
# instant may still see 0x0: crun sizes an exec's terminal only after
# starting the command; see docs/architecture.md, "Streaming".)
exec_it_tmux() {
        local t="$1" mark="$2"
        run_ctr "it-$t"
        tmux_run 100 30 "'$OCIC' exec -it --transport $t $CTR_ID /bin/sh"
        wait_screen "$PROMPT"
        # The container's shell has a real terminal, of our size.
        type_line 'stty size'
        wait_screen '^30 100$'
        type_line 'tty'
        wait_screen '^/dev/pts/[0-9]+$'
        # Our window changes size: so does the container's terminal.
        tm resize-window -t t -x 120 -y 40
        type_line 'stty size'
        wait_screen '^40 120$'
        # Ctrl-C goes to the container's foreground command, not to ocic.
        type_line "sleep $mark"
        wait_proc "^sleep $mark\$"
        tm send-keys -t t C-c
        wait_proc_gone "^sleep $mark\$"
        type_line 'echo alive-$((40 + 2))'
        wait_screen '^alive-42$'
        [ ! -e "$TMUX_DIR/exit" ]
        # The shell's exit status is ocic's; the terminal is as it was, and
        # our shell works on it again.
        type_line 'exit 5'
        wait_file "$TMUX_DIR/exit"
        [ "$(cat "$TMUX_DIR/exit")" = "exit=5" ]
        wait_file "$TMUX_DIR/stty.after"
        [ "$(cat "$TMUX_DIR/stty.after")" = "$(cat "$TMUX_DIR/stty.before")" ]
        type_line 'echo host-$((6 * 7))'
        wait_screen '^host-42$'
        # ocic said nothing of its own.
        if screen | grep -F 'ocic:'; then
                return 1
        fi
}

@test "ocic exec -it over SPDY on a real terminal (tmux): stty size follows our window, a pts name, Ctrl-C reaches the container, exit 5 is ocic's status, the terminal is given back" {
        exec_it_tmux spdy 47111
}

@test "ocic exec -it over WebSocket on a real terminal (tmux): stty size follows our window, a pts name, Ctrl-C reaches the container, exit 5 is ocic's status, the terminal is given back" {
        exec_it_tmux websocket 47112
}

@test "ocic exec -it killed by SIGTERM (SPDY and WebSocket): the terminal is given back and the command in the container ends" {
        run_ctr killed
        local t mark
        for t in spdy websocket; do
                mark=$((47113 + ${#t}))
                tmux_run 80 24 "/bin/sh -c 'echo \$\$ >\"$TEST_DIR/work.tmux/pid\"; exec \"$OCIC\" exec -it --transport $t $CTR_ID /bin/sh'"
                wait_screen "$PROMPT"
                type_line "exec sleep $mark"
                wait_proc "^sleep $mark\$"
                kill -TERM "$(cat "$TMUX_DIR/pid")"
                wait_file "$TMUX_DIR/exit"
                [ "$(cat "$TMUX_DIR/exit")" = "exit=143" ]
                wait_file "$TMUX_DIR/stty.after"
                [ "$(cat "$TMUX_DIR/stty.after")" = "$(cat "$TMUX_DIR/stty.before")" ]
                type_line 'echo host-$((6 * 7))'
                wait_screen '^host-42$'
                # The daemon hangs up the terminal of a client that left.
                wait_proc_gone "^sleep $mark\$"
                tmux_stop
                rm -rf "$TMUX_DIR"
        done
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "ocic attach -it on a real terminal (tmux): a container's shell on its terminal, of our size, resized; its exit ends ocic" {
        local t
        for t in spdy websocket; do
                run_ctr "tsh-$t" '.command = ["/bin/sh"] | .stdin = true | .stdin_once = true | .tty = true'
                tmux_run 100 30 "'$OCIC' attach -it --transport $t $CTR_ID"
                # The prompt was printed before we came: ask for one.
                type_line 'stty size'
                wait_screen '^30 100$'
                tm resize-window -t t -x 120 -y 40
                type_line 'stty size'
                wait_screen '^40 120$'
                type_line 'exit 3'
                # As kubectl attach: the session ended well, status 0 (the
                # container's own exit code is in its status).
                wait_file "$TMUX_DIR/exit"
                [ "$(cat "$TMUX_DIR/exit")" = "exit=0" ]
                wait_file "$TMUX_DIR/stty.after"
                [ "$(cat "$TMUX_DIR/stty.after")" = "$(cat "$TMUX_DIR/stty.before")" ]
                wait_state "$CTR_ID" CONTAINER_EXITED
                [ "$(ctr_status "$CTR_ID" | jq -r .status.exitCode)" = 3 ]
                tmux_stop
                rm -rf "$TMUX_DIR"
        done
}

# ---- attach -----------------------------------------------------------------------------

attach_output() {
        local t="$1" last
        run_ctr "count-$t" '.command = ["/bin/sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"]'
        # ocic attach lasts until it is stopped; the counter comes as it goes.
        run --separate-stderr timeout 3 "$OCIC" attach --transport "$t" "$CTR_ID"
        echo "exit $status: $(echo $output) / $stderr" >&2
        [ "$status" -eq 124 ]
        consecutive_numbers "$output" 8
        last="${lines[-1]}"
        # Leaving does not stop the container; attaching again goes on
        # from where the counter is now.
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        run --separate-stderr timeout 2 "$OCIC" attach --transport "$t" "$CTR_ID"
        [ "$status" -eq 124 ]
        consecutive_numbers "$output" 4
        [ "${lines[0]}" -gt "$last" ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        # A container whose output ends: so does ocic attach, with status 0.
        run_ctr "ends-$t" '.command = ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; sleep 0.25; done; echo to stderr >&2; exit 3"]'
        run --separate-stderr oc attach --transport "$t" "$CTR_ID"
        echo "exit $status: $(echo $output) / $stderr" >&2
        [ "$status" -eq 0 ]
        [ "${lines[-1]}" = "line 12" ]
        [ "$stderr" = "to stderr" ]
        wait_state "$CTR_ID" CONTAINER_EXITED
}

@test "ocic attach over SPDY: a running container's output as it comes; leaving keeps it running; attaching again; ends with the container's output" {
        attach_output spdy
}

@test "ocic attach over WebSocket: a running container's output as it comes; leaving keeps it running; attaching again; ends with the container's output" {
        attach_output websocket
}

attach_stdin() {
        local t="$1"
        # stdin_once: the end of our input is the end of the container's.
        run_ctr "once-$t" '.stdin = true | .stdin_once = true
                | .command = ["/bin/sh", "-c", "while read l; do echo \"got $l\"; done; echo bye; exit 3"]'
        run --separate-stderr oc attach -i --transport "$t" "$CTR_ID" <<<$'hello\nworld'
        echo "exit $status: $output / $stderr" >&2
        [ "$status" -eq 0 ]
        [ "$output" = $'got hello\ngot world\nbye' ]
        wait_state "$CTR_ID" CONTAINER_EXITED
        [ "$(ctr_status "$CTR_ID" | jq -r .status.exitCode)" = 3 ]
        # Without stdin_once the container's stdin outlives our session:
        # a second ocic attach -i talks to the same process.
        run_ctr "keep-$t" '.stdin = true | .command = ["/bin/sh", "-c", "while read l; do echo \"got $l\"; done"]'
        run timeout 3 "$OCIC" attach -i --transport "$t" "$CTR_ID" <<<"first"
        [ "$status" -eq 124 ]
        [ "$output" = "got first" ]
        run timeout 3 "$OCIC" attach -i --transport "$t" "$CTR_ID" <<<"second"
        [ "$status" -eq 124 ]
        [ "$output" = "got second" ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "ocic attach -i over SPDY: lines typed reach the container's stdin; with stdin_once their end ends it" {
        attach_stdin spdy
}

@test "ocic attach -i over WebSocket: lines typed reach the container's stdin; with stdin_once their end ends it" {
        attach_stdin websocket
}

# ---- port-forward -----------------------------------------------------------------------

# start_web: in a container of the (host-network) pod, busybox httpd on
# 127.0.0.1:WEB_PORT serving /blob (1 MiB, random; BLOB_SUM its sha256)
# and on 127.0.0.1:WEB_PORT2 serving /hello.txt.
start_web() {
        WEB_PORT="$(free_port)"
        WEB_PORT2="$(free_port)"
        while [ "$WEB_PORT2" = "$WEB_PORT" ]; do WEB_PORT2="$(free_port)"; done
        run_ctr web '.command = ["/bin/sh", "-c", $script]' --arg script "mkdir -p /tmp/www /tmp/www2 &&
                head -c $MIB /dev/urandom >/tmp/www/blob &&
                echo 'hello from the second port' >/tmp/www2/hello.txt &&
                /bin/busybox httpd -p 127.0.0.1:$WEB_PORT2 -h /tmp/www2 &&
                exec /bin/busybox httpd -f -p 127.0.0.1:$WEB_PORT -h /tmp/www"
        local i
        for i in $(seq 1 50); do
                if curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/blob" &&
                        curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT2/hello.txt"; then
                        BLOB_SUM="$(in_ctr "$CTR_ID" /bin/sha256sum /tmp/www/blob | cut -d' ' -f1)"
                        return 0
                fi
                sleep 0.1
        done
        echo "httpd does not answer on $WEB_PORT and $WEB_PORT2" >&2
        return 1
}

# start_pf OCIC-PORT-FORWARD-ARGS...: ocic port-forward in the background
# (PF_PID), once it said where it listens: PF_PORTS, the local ports in the
# order given. Its output: $TEST_DIR/work.pf.{out,err}.
start_pf() {
        "$OCIC" port-forward "$@" >"$TEST_DIR/work.pf.out" 2>"$TEST_DIR/work.pf.err" 3>&- &
        PF_PID=$!
        local i
        for i in $(seq 1 100); do
                grep -q '^Forwarding from' "$TEST_DIR/work.pf.out" && break
                if ! kill -0 "$PF_PID" 2>/dev/null; then
                        echo "ocic port-forward ended: $(cat "$TEST_DIR/work.pf.err")" >&2
                        return 1
                fi
                sleep 0.05
        done
        PF_PORTS=($(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) -> [0-9]*$/\1/p' "$TEST_DIR/work.pf.out"))
        [ "${#PF_PORTS[@]}" -gt 0 ]
}

# stop_pf SIGNAL: ocic port-forward gets SIGNAL; PF_STATUS its exit status.
stop_pf() {
        kill "-$1" "$PF_PID"
        PF_STATUS=0
        wait "$PF_PID" || PF_STATUS=$?
        PF_PID=
        echo "ocic port-forward exited $PF_STATUS; stdout:" >&2
        cat "$TEST_DIR/work.pf.out" >&2
        echo "stderr:" >&2
        cat "$TEST_DIR/work.pf.err" >&2
}

# CPU ticks (user + system) ocic port-forward used so far.
pf_ticks() {
        awk '{print $14 + $15}' "/proc/$PF_PID/stat"
}

port_forward() {
        local t="$1" i p pids=() before after
        start_web
        start_pf --transport "$t" "$POD_ID" ":$WEB_PORT" "0:$WEB_PORT2"
        [ "${#PF_PORTS[@]}" -eq 2 ]
        grep -qx "Forwarding from 127.0.0.1:${PF_PORTS[0]} -> $WEB_PORT" "$TEST_DIR/work.pf.out"
        grep -qx "Forwarding from 127.0.0.1:${PF_PORTS[1]} -> $WEB_PORT2" "$TEST_DIR/work.pf.out"
        # Four downloads of 1 MiB at once through the first port, one more
        # connection through the second.
        for i in 1 2 3 4; do
                curl -sS --max-time 30 -o "$TEST_DIR/work.got$i" "http://127.0.0.1:${PF_PORTS[0]}/blob" 3>&- &
                pids+=($!)
        done
        curl -sS --max-time 30 -o "$TEST_DIR/work.hello" "http://127.0.0.1:${PF_PORTS[1]}/hello.txt" 3>&- &
        pids+=($!)
        BG_PIDS=("${pids[@]}")
        for p in "${pids[@]}"; do
                wait "$p" || { echo "a curl failed: $?" >&2; return 1; }
        done
        BG_PIDS=()
        for i in 1 2 3 4; do
                [ "$(sum "$TEST_DIR/work.got$i")" = "$BLOB_SUM" ]
        done
        [ "$(cat "$TEST_DIR/work.hello")" = "hello from the second port" ]
        # Clients that leave early: one resets its connection, one closes it
        # before the answer. They disturb neither ocic nor later clients.
        "$PYTHON" - "${PF_PORTS[0]}" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /blob HTTP/1.0\r\n\r\n")
s.close()
PY
        sleep 0.5
        # Idle, ocic does not spin.
        before="$(pf_ticks)"
        sleep 1
        after="$(pf_ticks)"
        echo "CPU ticks in a second of idling: $((after - before))" >&2
        [ $((after - before)) -lt 20 ]
        [ "$(curl -sS --max-time 30 "http://127.0.0.1:${PF_PORTS[0]}/blob" | sum)" = "$BLOB_SUM" ]
        # SIGINT (Ctrl-C) ends it, successfully.
        stop_pf INT
        [ "$PF_STATUS" -eq 0 ]
        [ "$(grep -c "^Handling connection for ${PF_PORTS[0]}\$" "$TEST_DIR/work.pf.out")" -eq 7 ]
        [ "$(grep -c "^Handling connection for ${PF_PORTS[1]}\$" "$TEST_DIR/work.pf.out")" -eq 1 ]
        [ ! -s "$TEST_DIR/work.pf.err" ]
        # The server in the pod is fine.
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "ocic port-forward over SPDY: 4 parallel 1 MiB downloads and a second port, byte for byte; clients leaving early; idle without spinning; SIGINT ends it with 0" {
        port_forward spdy
}

@test "ocic port-forward over WebSocket: 4 parallel 1 MiB downloads and a second port, byte for byte; clients leaving early; idle without spinning; SIGINT ends it with 0" {
        port_forward websocket
}

port_forward_unreachable() {
        local t="$1" dead i
        dead="$(free_port)"
        start_pf --transport "$t" "$POD_ID" "0:$dead"
        # Nothing listens there in the pod: the local connection is closed
        # without an answer and the error is reported, naming the port.
        run curl -sS --max-time 10 "http://127.0.0.1:${PF_PORTS[0]}/"
        echo "curl: $status $output" >&2
        [ "$status" -ne 0 ]
        [ "$status" -ne 28 ]
        for i in $(seq 1 50); do
                grep -q "error forwarding port $dead" "$TEST_DIR/work.pf.err" && break
                sleep 0.1
        done
        grep -q "^ocic: port-forward: error forwarding port $dead to pod " "$TEST_DIR/work.pf.err"
        # ocic goes on: the next connection is reported the same way.
        kill -0 "$PF_PID"
        run curl -sS --max-time 10 "http://127.0.0.1:${PF_PORTS[0]}/"
        [ "$status" -ne 0 ]
        [ "$status" -ne 28 ]
        for i in $(seq 1 50); do
                [ "$(grep -c "error forwarding port $dead" "$TEST_DIR/work.pf.err")" -ge 2 ] && break
                sleep 0.1
        done
        [ "$(grep -c "error forwarding port $dead" "$TEST_DIR/work.pf.err")" -eq 2 ]
        stop_pf TERM
        [ "$PF_STATUS" -eq 0 ]
}

@test "ocic port-forward over SPDY: a port where nothing listens in the pod is reported for each connection; ocic goes on" {
        port_forward_unreachable spdy
}

@test "ocic port-forward over WebSocket: a port where nothing listens in the pod is reported for each connection; ocic goes on" {
        port_forward_unreachable websocket
}

@test "ocic port-forward: a pod that does not exist, a bad port, a local port already taken" {
        local t taken
        for t in spdy websocket; do
                run --separate-stderr oc port-forward --transport "$t" no-such-pod 8080
                [ "$status" -eq 1 ]
                [[ "$stderr" == *"ocic: PortForward: pod sandbox 'no-such-pod' not found"* ]]
                [ -z "$output" ]
                run --separate-stderr oc port-forward --transport "$t" "$POD_ID" 70000
                [ "$status" -eq 2 ]
                [[ "$stderr" == *"bad port '70000'"* ]]
        done
        # A local port someone else listens on.
        "$PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$TEST_DIR/work.taken" 3>&- &
        BG_PIDS=($!)
        wait_file "$TEST_DIR/work.taken" 5
        taken="$(cat "$TEST_DIR/work.taken")"
        for t in spdy websocket; do
                run --separate-stderr oc port-forward --transport "$t" "$POD_ID" "$taken:80"
                echo "exit $status: $stderr" >&2
                [ "$status" -eq 1 ]
                [[ "$stderr" == *"listen on 127.0.0.1:$taken: Address already in use"* ]]
        done
}

# ---- https --------------------------------------------------------------------------------

@test "https: exec, exec -i (1 MiB), attach and port-forward verify the daemon's certificate with --cacert (SPDY and WebSocket)" {
        local t ca="$TLS_DIR/server.crt"
        run_ctr count '.command = ["/bin/sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done"]'
        local counter="$CTR_ID"
        head -c "$MIB" /dev/urandom >"$TEST_DIR/work.in"
        start_web
        for t in spdy websocket; do
                run --separate-stderr oc exec --transport "$t" --cacert "$ca" "$counter" /bin/sh -c 'echo secure; exit 3'
                echo "$t: exit $status, '$output', '$stderr'" >&2
                [ "$status" -eq 3 ]
                [ "$output" = secure ]
                [ -z "$stderr" ]
                oc exec -i --transport "$t" --cacert "$ca" "$counter" /bin/cat <"$TEST_DIR/work.in" >"$TEST_DIR/work.out"
                [ "$(sum "$TEST_DIR/work.out")" = "$(sum "$TEST_DIR/work.in")" ]
                run --separate-stderr timeout 2 "$OCIC" attach --transport "$t" --cacert "$ca" "$counter"
                [ "$status" -eq 124 ]
                consecutive_numbers "$output" 4
                start_pf --transport "$t" --cacert "$ca" "$POD_ID" ":$WEB_PORT"
                [ "$(curl -sS --max-time 30 "http://127.0.0.1:${PF_PORTS[0]}/blob" | sum)" = "$BLOB_SUM" ]
                stop_pf INT
                [ "$PF_STATUS" -eq 0 ]
                [ ! -s "$TEST_DIR/work.pf.err" ]
        done
}

@test "https: a certificate ocic does not trust (another CA, the system's CAs) is refused with a clear message, and nothing runs (SPDY and WebSocket)" {
        run_ctr untrusted
        local t ca msg='TLS handshake: certificate verification failed'
        for t in spdy websocket; do
                for ca in "$TLS_DIR/other.crt" ""; do
                        run --separate-stderr oc exec --transport "$t" ${ca:+--cacert "$ca"} "$CTR_ID" \
                                /bin/touch "/tmp/ran-$t"
                        echo "$t, CA '${ca:-system}': exit $status, stderr '$stderr'" >&2
                        [ "$status" -eq 1 ]
                        [ -z "$output" ]
                        [[ "$stderr" == "ocic: exec: $msg"*"(--insecure skips verification)" ]]
                        run --separate-stderr oc attach --transport "$t" ${ca:+--cacert "$ca"} "$CTR_ID"
                        [ "$status" -eq 1 ]
                        [[ "$stderr" == "ocic: attach: $msg"* ]]
                done
                [ "$(in_ctr "$CTR_ID" /bin/sh -c 'ls -d /tmp/ran-* 2>/dev/null | wc -l')" -eq 0 ]
                # A CA file that is not there.
                run --separate-stderr oc exec --transport "$t" --cacert "$TLS_DIR/missing.crt" "$CTR_ID" /bin/true
                echo "$t, missing CA file: exit $status, stderr '$stderr'" >&2
                [ "$status" -eq 1 ]
                [[ "$stderr" == *"$TLS_DIR/missing.crt"* ]]
        done
        # port-forward over SPDY connects first: refused at once.
        run --separate-stderr oc port-forward --transport spdy --cacert "$TLS_DIR/other.crt" "$POD_ID" 0:80
        [ "$status" -eq 1 ]
        [[ "$stderr" == "ocic: port-forward: $msg"* ]]
        [ -z "$output" ]
        # Over WebSocket each local connection has its own session: the
        # refusal comes with the first connection, which is closed.
        start_pf --transport websocket --cacert "$TLS_DIR/other.crt" "$POD_ID" 0:80
        run curl -sS --max-time 10 "http://127.0.0.1:${PF_PORTS[0]}/"
        [ "$status" -ne 0 ]
        [ "$status" -ne 28 ]
        stop_pf INT
        grep -q "^ocic: port-forward: $msg" "$TEST_DIR/work.pf.err"
}

@test "https: --insecure skips the verification (SPDY and WebSocket)" {
        run_ctr insecure
        local t
        for t in spdy websocket; do
                run --separate-stderr oc exec --transport "$t" --insecure "$CTR_ID" /bin/sh -c 'echo unverified; exit 4'
                [ "$status" -eq 4 ]
                [ "$output" = unverified ]
                [ -z "$stderr" ]
                run oc exec -i --transport "$t" --insecure "$CTR_ID" /bin/cat <<<"typed in"
                [ "$status" -eq 0 ]
                [ "$output" = "typed in" ]
        done
}
