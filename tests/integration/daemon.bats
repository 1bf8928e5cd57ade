#!/usr/bin/env bats
# The daemon's own behaviour: start-up, configuration, signals, the socket,
# seen through ocic and the process itself. Each test starts its own ocid
# (some of them stop it).

bats_require_minimum_version 1.5.0

load helpers
load interop/cni

setup() {
        prepare_ocid_dirs
        PLUGIN_DIR="$TEST_DIR/plugins"
        write_test_plugin "$PLUGIN_DIR"
        SECOND_PID=
}

teardown() {
        show_log_on_failure
        if [ -n "${SECOND_PID:-}" ] && kill -0 "$SECOND_PID" 2>/dev/null; then
                kill -KILL "$SECOND_PID"
                wait "$SECOND_PID" 2>/dev/null || true
        fi
        stop_ocid
}

# Run ocid in the foreground with the test config; a daemon that does not
# refuse is stopped after 10 s rather than left running.
run_ocid() {
        run timeout -s KILL 10 "$OCID" --config "$OCID_CONF" --config-dir "$TEST_DIR/conf.d" "$@"
}

# wait_for_log PATTERN: until the daemon's log has a line matching PATTERN.
wait_for_log() {
        local i
        for i in $(seq 1 100); do
                grep -q -- "$1" "$OCID_LOG" && return 0
                sleep 0.05
        done
        echo "no log line matching '$1'" >&2
        return 1
}

@test "ocic version shows RuntimeName ocid and RuntimeApiVersion v1" {
        start_ocid
        run ocic version
        [ "$status" -eq 0 ]
        [[ "$output" == *"RuntimeName:  ocid"* ]]
        [[ "$output" == *"RuntimeApiVersion:  v1"* ]]
        run ocic version -o json
        [ "$status" -eq 0 ]
        [ "$(jq -r .runtimeName <<<"$output")" = ocid ]
}

@test "ocic info prints JSON with status.conditions and config" {
        start_ocid
        run --separate-stderr ocic info
        [ "$status" -eq 0 ]
        jq -e '.status.conditions | map(.type) == ["RuntimeReady", "NetworkReady"]' <<<"$output"
        jq -e '.status.conditions[0].status == true' <<<"$output"
        jq -e --arg s "$OCID_SOCK" '.config.ocid.api.listen == $s' <<<"$output"
        jq -e '.config.ocid.runtime.log_level == "debug"' <<<"$output"
}

@test "ocic against a socket that does not exist fails with a clear message" {
        run ocic -r unix:///nowhere version
        [ "$status" -ne 0 ]
        [[ "${output,,}" == *"cannot connect to unix:///nowhere: no such file"* ]]
}

@test "a second ocid on the same socket refuses to start; the first keeps serving" {
        start_ocid
        local inode
        inode="$(stat -c %i "$OCID_SOCK")"
        run_ocid
        [ "$status" -ne 0 ]
        [ "$status" -ne 137 ] # it refused, it was not killed by the timeout
        [[ "$output" == *"another ocid (pid $OCID_PID) is already serving $OCID_SOCK"* ]]
        # The first one still owns the socket and answers.
        kill -0 "$OCID_PID"
        [ -S "$OCID_SOCK" ]
        [ "$(stat -c %i "$OCID_SOCK")" = "$inode" ]
        run ocic version
        [ "$status" -eq 0 ]
        [[ "$output" == *"RuntimeName:  ocid"* ]]
}

@test "SIGTERM with a call in flight: the call completes, ocid exits 0, the socket is gone" {
        start_ocid --cni-plugin-dir "$PLUGIN_DIR"
        local pidfile="$TEST_DIR/status.pid"
        write_conflist "$OCID_CNI_DIR" slow \
                "$(status_conflist slow "{\"statusSleep\":2,\"pidfile\":\"$pidfile\"}")"
        ocic -t 10s info >"$TEST_DIR/info.json" 2>"$TEST_DIR/info.err" &
        local call=$!
        # The call is in flight once the plugin runs.
        local i
        for i in $(seq 1 100); do
                [ -s "$pidfile" ] && break
                sleep 0.02
        done
        [ -s "$pidfile" ]
        local t0=$SECONDS
        kill -TERM "$OCID_PID"
        local rc=0
        wait "$OCID_PID" || rc=$?
        OCID_PID=
        [ "$rc" -eq 0 ]
        rc=0
        wait "$call" || rc=$?
        cat "$TEST_DIR/info.err"
        [ "$rc" -eq 0 ]
        # The answer is the full one: the plugin said ready after its 2 s.
        jq -e '.status.conditions[1] | .type == "NetworkReady" and .status == true' "$TEST_DIR/info.json"
        [ ! -e "$OCID_SOCK" ]
        grep -q 'shutting down, 1 call(s) in flight' "$OCID_LOG"
        grep -q 'shutdown complete' "$OCID_LOG"
        [ $((SECONDS - t0)) -lt 8 ]
}

@test "SIGTERM when idle: ocid exits 0 at once and removes the socket" {
        start_ocid
        local t0=$SECONDS rc=0
        kill -TERM "$OCID_PID"
        wait "$OCID_PID" || rc=$?
        OCID_PID=
        [ "$rc" -eq 0 ]
        [ $((SECONDS - t0)) -lt 3 ]
        [ ! -e "$OCID_SOCK" ]
        # And the socket path can be served again.
        start_ocid
        run ocic version
        [ "$status" -eq 0 ]
}

@test "SIGHUP applies a new log_level from the config file" {
        start_ocid
        run ocic version
        [ "$status" -eq 0 ]
        grep -q ' debug .*Version: OK' "$OCID_LOG"

        sed -i 's/^log_level = "debug"$/log_level = "info"/' "$OCID_CONF"
        grep -q '^log_level = "info"$' "$OCID_CONF"
        kill -HUP "$OCID_PID"
        wait_for_log 'configuration reloaded (log level info)'
        local before
        before="$(wc -l <"$OCID_LOG")"
        for _ in 1 2 3; do
                run ocic version
                [ "$status" -eq 0 ]
        done
        run --separate-stderr ocic info
        [ "$status" -eq 0 ]
        # Status verbose shows the configuration in force.
        jq -e '.config.ocid.runtime.log_level == "info"' <<<"$output"
        # No debug line since the reload.
        run bash -c "tail -n +$((before + 1)) '$OCID_LOG' | grep -c ' debug '"
        [ "$output" = 0 ]

        # And back to debug.
        sed -i 's/^log_level = "info"$/log_level = "debug"/' "$OCID_CONF"
        kill -HUP "$OCID_PID"
        wait_for_log 'configuration reloaded (log level debug)'
        ocic version >/dev/null
        tail -n 3 "$OCID_LOG" | grep -q ' debug .*Version: OK'
}

@test "SIGHUP with a broken config file keeps the running configuration" {
        start_ocid
        echo 'log_level = ' >>"$OCID_CONF"
        kill -HUP "$OCID_PID"
        wait_for_log 'keeping the current configuration'
        kill -0 "$OCID_PID"
        run ocic version
        [ "$status" -eq 0 ]
        grep -q ' debug .*Version: OK' <(tail -n 2 "$OCID_LOG")
}

@test "ocid config prints TOML with values from flags and drop-in files" {
        cat >"$TEST_DIR/conf.d/10-threads.conf" <<'EOF'
[ocid.runtime]
worker_threads = 7
shutdown_timeout = 3
EOF
        cat >"$TEST_DIR/conf.d/20-more.conf" <<'EOF'
[ocid.runtime]
worker_threads = 9

[ocid.api]
grpc_max_send_msg_size = 8388608
EOF
        # Not a drop-in: no .conf suffix.
        echo 'this is not toml' >"$TEST_DIR/conf.d/README"
        run --separate-stderr "$OCID" config --config "$OCID_CONF" --config-dir "$TEST_DIR/conf.d" \
                --shutdown-timeout 5 --cni-plugin-dir /a --cni-plugin-dir /b
        [ "$status" -eq 0 ]
        local toml="$output"
        # from the file
        grep -qxF "listen = \"$OCID_SOCK\"" <<<"$toml"
        grep -qxF 'log_level = "debug"' <<<"$toml"
        # from drop-ins, in name order
        grep -qxF 'worker_threads = 9' <<<"$toml"
        grep -qxF 'grpc_max_send_msg_size = 8388608' <<<"$toml"
        # flags win over files; a repeated list flag builds the list
        grep -qxF 'shutdown_timeout = 5' <<<"$toml"
        grep -qxF 'plugin_dirs = ["/a", "/b"]' <<<"$toml"
        # defaults for the rest
        grep -qxF 'grpc_max_recv_msg_size = 16777216' <<<"$toml"
        grep -qxF 'log_to_journald = false' <<<"$toml"

        # The output is a valid configuration that means the same.
        printf '%s\n' "$toml" >"$TEST_DIR/printed.conf"
        mkdir "$TEST_DIR/empty.d"
        run --separate-stderr "$OCID" config --config "$TEST_DIR/printed.conf" --config-dir "$TEST_DIR/empty.d"
        [ "$status" -eq 0 ]
        [ "$output" = "$toml" ]
}

@test "an unknown key in the config file: ocid refuses to start and names it" {
        sed -i 's/^\[ocid.runtime\]$/[ocid.runtime]\nlog_levle = "info"/' "$OCID_CONF"
        run_ocid
        [ "$status" -ne 0 ]
        [ "$status" -ne 137 ]
        [[ "$output" == *"$OCID_CONF: unknown key 'ocid.runtime.log_levle'"* ]]
        [ ! -e "$OCID_SOCK" ]
}

@test "an unknown key or table in a drop-in: ocid refuses to start and names the file" {
        printf '[ocid.netwrk]\nnetwork_dir = "/x"\n' >"$TEST_DIR/conf.d/50-typo.conf"
        run_ocid
        [ "$status" -ne 0 ]
        [ "$status" -ne 137 ]
        [[ "$output" == *"$TEST_DIR/conf.d/50-typo.conf: unknown table [ocid.netwrk]"* ]]
        [ ! -e "$OCID_SOCK" ]

        printf '[ocid.api]\nlisten_addr = "/x"\n' >"$TEST_DIR/conf.d/50-typo.conf"
        run "$OCID" config --config "$OCID_CONF" --config-dir "$TEST_DIR/conf.d"
        [ "$status" -ne 0 ]
        [[ "$output" == *"50-typo.conf: unknown key 'ocid.api.listen_addr'"* ]]
}

@test "without stream TLS configured, ocid maps neither the TLS module nor libssl" {
        start_ocid
        run grep -E '/(ocid-tls-server|libssl)\.so' "/proc/$OCID_PID/maps"
        [ "$status" -eq 1 ]
}

@test "the socket is a unix socket of mode 0660" {
        start_ocid
        [ -S "$OCID_SOCK" ]
        [ "$(stat -c %a "$OCID_SOCK")" = 660 ]
}

@test "runtime handlers from the config: Status lists them, pods run on them, an unknown one is refused" {
        cat >"$TEST_DIR/conf.d/20-runtimes.conf" <<CONF
[ocid.runtime]
default_runtime = "fast"

[ocid.runtime.runtimes.fast]
runtime_path = "$(command -v crun)"

[ocid.runtime.runtimes.safe]
runtime_path = "$(command -v runc)"
runtime_root = "$TEST_DIR/safe-root"
CONF
        start_ocid
        run ocic info
        [ "$status" -eq 0 ]
        [ "$(jq -r '[.runtimeHandlers[].name] | join(",")' <<<"$output")" = ",fast,safe" ]
        [ "$(jq -r '.runtimeHandlers[] | select(.name == "safe") | .features.recursiveReadOnlyMounts' <<<"$output")" = true ]
        cat >"$TEST_DIR/pod.json" <<POD
{"metadata": {"name": "rt", "namespace": "default", "uid": "rt-1", "attempt": 0},
 "linux": {"security_context": {"namespace_options": {"network": "NODE", "pid": "CONTAINER"}}}}
POD
        run ocic runp "$TEST_DIR/pod.json"
        [ "$status" -eq 0 ]
        local pod="$output"
        [ "$(ocic inspectp "$pod" | jq -r .status.runtimeHandler)" = fast ]
        ocic rmp "$pod"
        run ocic runp --runtime safe "$TEST_DIR/pod.json"
        [ "$status" -eq 0 ]
        [ "$(ocic inspectp "$output" | jq -r .status.runtimeHandler)" = safe ]
        ocic rmp "$output"
        run ocic runp --runtime crun "$TEST_DIR/pod.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"unknown runtime handler 'crun' (configured: fast, safe)"* ]]
}

@test "a runtime handler that is not an absolute path, or of another type, is refused at start" {
        printf '[ocid.runtime.runtimes.x]\nruntime_path = "crun"\n' >"$TEST_DIR/conf.d/20-bad.conf"
        run_ocid
        [ "$status" -ne 0 ]
        [[ "$output" == *"runtime 'x': runtime_path must be an absolute path"* ]]
        printf '[ocid.runtime.runtimes.x]\nruntime_path = "/usr/bin/crun"\nruntime_type = "vm"\n' >"$TEST_DIR/conf.d/20-bad.conf"
        run_ocid
        [ "$status" -ne 0 ]
        [[ "$output" == *"only 'oci' is supported"* ]]
}
