# Shared by the container-*.bats files (issue 5): one registry with the
# test images and one ocid per file (setup_file), host-network pods (no CNI
# needed: nothing leaves the machine), containers driven through the
# independent Python CRI client (interop/cri_client.py) and pods through
# ocic. Every test removes what it made (ctr_test_teardown).
#
#   load helpers
#   load registry
#   load container/lib
#   setup_file()    { ctr_file_setup; }
#   teardown_file() { ctr_file_teardown; }
#   teardown()      { ctr_test_teardown; }
#
# (ctr_file_setup is ctr_images_setup, then ctr_daemon_start; a file that
# needs a daemon per test calls them apart. ctr_daemon_restart TERM|KILL
# restarts the daemon on the same directories.)
#
# Images (exported by ctr_file_setup, all pulled into the daemon):
#   BUSYBOX       busybox, Cmd ["/bin/sh"], no Entrypoint, no User
#   BUSYBOX_ID    its image ID (config digest)
#   APP_IMAGE     User "app" (uid 1000 in the image's /etc/passwd)
#   ENTRY_IMAGE   Entrypoint ["/bin/echo","entry"], Cmd ["cmd1","cmd2"],
#                 Env FOO=image KEEP=image, WorkingDir /etc/fixture
#   USR1_IMAGE    StopSignal SIGUSR1
#
# Pods:
#   new_pod NAME [JQ_EXPR [JQ ARGS]] [--runtime H]
#                      host-network pod from pod_config; POD_ID, POD_FILE
#   pod_config FILE NAME [JQ_EXPR [ARGS]]
# Containers (CRI calls through the Python client):
#   cri METHOD JSON    one call that must succeed: prints .response, or the
#                      whole outcome on stderr and fails
#   pyc ...            the raw client (run pyc call METHOD JSON; check ...)
#   ctr_config NAME [JQ_EXPR [ARGS]]   a ContainerConfig as JSON
#   new_ctr NAME [JQ_EXPR [ARGS]]      CreateContainer in $POD_ID; CTR_ID
#   start_ctr ID, run_ctr NAME [JQ...] (create + start)
#   ctr_status ID      ContainerStatus (verbose) response JSON
#   ctr_state ID       CONTAINER_RUNNING, CONTAINER_EXITED...
#   wait_state ID STATE [SECONDS]
#   ctr_pid ID         the container's init pid (verbose info)
#   exec_sync ID TIMEOUT CMD...  ExecSync outcome JSON; EXEC_OUT, EXEC_ERR,
#                      EXEC_CODE set when it answered
#   ctr_log_path ID, wait_log ID REGEX [SECONDS], log_text ID (lines without
#                      the CRI prefix)
#   assert_ctr_gone ID no process, mount, cgroup, directory or exit file
#   check JQ_EXPR [JQ ARGS]   jq -e over $output, shown when false

CTR_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CRI_CLIENT="$CTR_LIB_DIR/../interop/cri_client.py"

ctr_file_setup() {
        ctr_images_setup
        ctr_daemon_start "$@"
}

# ctr_images_setup: the registry with the test images; the Python modules.
ctr_images_setup() {
        start_registry
        push_image busybox:latest >/dev/null
        export BUSYBOX="$IMAGE_REF" BUSYBOX_ID="$IMAGE_ID"
        push_image appuser:latest --user app >/dev/null
        export APP_IMAGE="$IMAGE_REF" APP_IMAGE_ID="$IMAGE_ID"
        push_image entry:latest --entrypoint '["/bin/echo","entry"]' --cmd '["cmd1","cmd2"]' \
                --env FOO=image --env KEEP=image --workdir /etc/fixture >/dev/null
        export ENTRY_IMAGE="$IMAGE_REF"
        push_image usr1:latest --stop-signal SIGUSR1 >/dev/null
        export USR1_IMAGE="$IMAGE_REF"

        export PY_GEN="$(mktemp -d /tmp/ocid-ctr-py.XXXXXX)"
        protoc -I "$OCID_SOURCE_DIR/proto" --python_out="$PY_GEN" runtime/v1/api.proto
}

# ctr_daemon_start [ocid flags]: fresh test dirs, ocid using the test
# registry (plain HTTP), the test images pulled.
ctr_daemon_start() {
        prepare_ocid_dirs
        printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY" >"$TEST_DIR/registries.conf"
        mkdir -p "$TEST_DIR/registries.conf.d"
        start_ocid --registries-conf "$TEST_DIR/registries.conf" \
                --registries-conf-dir "$TEST_DIR/registries.conf.d" "$@"
        local ref
        for ref in "$BUSYBOX" "$APP_IMAGE" "$ENTRY_IMAGE" "$USR1_IMAGE"; do
                "$OCIC" -t 60s pull "$ref" >/dev/null
        done
}

# ctr_daemon_restart SIGNAL: stop ocid with SIGNAL (TERM or KILL), keeping
# its directories, and start it again on them.
ctr_daemon_restart() {
        kill "-$1" "$OCID_PID"
        local i
        for i in $(seq 1 200); do
                kill -0 "$OCID_PID" 2>/dev/null || break
                sleep 0.05
        done
        wait "$OCID_PID" 2>/dev/null || true
        start_ocid --registries-conf "$TEST_DIR/registries.conf" \
                --registries-conf-dir "$TEST_DIR/registries.conf.d"
}

ctr_file_teardown() {
        stop_ocid
        stop_registries
        [ -n "${PY_GEN:-}" ] && rm -rf "$PY_GEN"
        PY_GEN=
}

# In teardown(): show the log if the test failed, then remove every
# container and pod the daemon knows (the daemon must still be serving:
# a dead daemon fails the test here).
ctr_test_teardown() {
        show_log_on_failure
        local id
        if [ -n "${OCID_PID:-}" ] && kill -0 "$OCID_PID" 2>/dev/null; then
                for id in $(cri ListContainers '{}' 2>/dev/null | jq -r '.containers[]?.id'); do
                        pyc --timeout 60 call RemoveContainer "{\"container_id\": \"$id\"}" >/dev/null || true
                done
                "$OCIC" -t 60s rmp -a >/dev/null 2>&1 || true
        else
                echo "# ocid is not running any more" >&2
                return 1
        fi
        rm -rf "${TEST_DIR:?}/logs" "$TEST_DIR"/work.*
}

pyc() {
        "$PYTHON" "$CRI_CLIENT" --gen-dir "$PY_GEN" --socket "$OCID_SOCK" "$@"
}

cri() {
        local out
        if ! out="$(pyc --timeout "${CRI_TIMEOUT:-30}" call "$1" "${2:-{\}}")"; then
                echo "$1 failed: $out" >&2
                return 1
        fi
        jq -c '.response' <<<"$out"
}

check() {
        if ! jq -e "$@" >/dev/null <<<"$output"; then
                echo "expected: $*" >&2
                echo "output:   $output" >&2
                return 1
        fi
}

# ---- pods --------------------------------------------------------------------

# pod_config FILE NAME [JQ_EXPR [ARGS...]]: a host-network pod (network NODE,
# pid CONTAINER), its logs under TEST_DIR/logs/NAME, DNS and hostname set.
pod_config() {
        local file="$1" name="$2" expr="${3:-.}"
        shift 3 2>/dev/null || shift $#
        jq -n --arg name "$name" --arg uid "uid-$name-$$" --arg logs "$TEST_DIR/logs/$name" "$@" '{
                metadata: {name: $name, namespace: "ocid-ctr-test", uid: $uid, attempt: 1},
                hostname: ("host-" + $name),
                log_directory: $logs,
                dns_config: {servers: ["10.0.0.10"], searches: ["ctr.svc.local"], options: ["ndots:2"]},
                labels: {app: $name},
                linux: {security_context: {namespace_options: {network: "NODE", pid: "CONTAINER"}}}
        } | '"$expr" >"$file"
}

# new_pod NAME [JQ_EXPR [ARGS...]]; POD_RUNTIME=runc picks the handler.
new_pod() {
        local name="$1"
        shift
        POD_FILE="$TEST_DIR/pod-$name.json"
        pod_config "$POD_FILE" "$name" "$@"
        POD_ID="$("$OCIC" -t 30s runp ${POD_RUNTIME:+--runtime "$POD_RUNTIME"} "$POD_FILE")" || return 1
        [ ${#POD_ID} -eq 64 ]
        export POD_ID POD_FILE
}

# ---- containers ----------------------------------------------------------------

# ctr_config NAME [JQ_EXPR [ARGS...]]: busybox sleeping, its log at NAME.log.
# The expression sees $busybox, $app_image, $entry_image and $usr1_image.
ctr_config() {
        local name="$1" expr="${2:-.}"
        shift 2 2>/dev/null || shift $#
        jq -cn --arg name "$name" --arg busybox "$BUSYBOX" --arg app_image "$APP_IMAGE" \
                --arg entry_image "$ENTRY_IMAGE" --arg usr1_image "$USR1_IMAGE" "$@" '{
                metadata: {name: $name, attempt: 0},
                image: {image: $busybox},
                command: ["/bin/sleep", "3600"],
                log_path: ($name + ".log"),
                labels: {ctr: $name},
                annotations: {"ocid.test/ctr": $name}
        } | '"$expr"
}

# create_request POD_ID POD_FILE CONFIG_JSON
create_request() {
        jq -cn --arg pod "$1" --slurpfile sb "$2" --argjson cfg "$3" \
                '{pod_sandbox_id: $pod, config: $cfg, sandbox_config: $sb[0]}'
}

new_ctr() {
        local cfg out
        cfg="$(ctr_config "$@")" || return 1
        out="$(cri CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$cfg")")" || return 1
        CTR_ID="$(jq -r .containerId <<<"$out")"
        [ ${#CTR_ID} -eq 64 ]
}

start_ctr() {
        cri StartContainer "{\"container_id\": \"$1\"}" >/dev/null
}

run_ctr() {
        new_ctr "$@" && start_ctr "$CTR_ID"
}

ctr_status() {
        cri ContainerStatus "{\"container_id\": \"$1\", \"verbose\": true}"
}

ctr_state() {
        # proto3 JSON leaves out the zero value, CONTAINER_CREATED.
        ctr_status "$1" | jq -r '.status.state // "CONTAINER_CREATED"'
}

wait_state() {
        local id="$1" want="$2" i n=$((${3:-10} * 20)) state
        for ((i = 0; i < n; i++)); do
                state="$(ctr_state "$id")"
                [ "$state" = "$want" ] && return 0
                sleep 0.05
        done
        echo "container $id is $state, not $want" >&2
        return 1
}

ctr_info() {
        ctr_status "$1" | jq -c '.info.info | fromjson'
}

ctr_pid() {
        ctr_info "$1" | jq -r .pid
}

exec_sync() {
        local id="$1" timeout="$2" out
        shift 2
        out="$(pyc --timeout 60 call ExecSync "$(jq -cn --arg id "$id" --argjson t "$timeout" \
                '{container_id: $id, cmd: $ARGS.positional, timeout: $t}' --args -- "$@")")"
        EXEC_OUT= EXEC_ERR= EXEC_CODE=
        if jq -e .ok >/dev/null <<<"$out"; then
                EXEC_OUT="$(jq -r '.response.stdout // "" | @base64d' <<<"$out")"
                EXEC_ERR="$(jq -r '.response.stderr // "" | @base64d' <<<"$out")"
                EXEC_CODE="$(jq -r '.response.exitCode // 0' <<<"$out")"
        fi
        echo "$out"
}

# in_ctr ID CMD...: ExecSync that must succeed with exit code 0; prints stdout.
in_ctr() {
        local id="$1"
        shift
        exec_sync "$id" 30 "$@" >/dev/null
        if [ "$EXEC_CODE" != 0 ]; then
                echo "exec $* exited ${EXEC_CODE:-(no answer)}: $EXEC_ERR" >&2
                return 1
        fi
        printf '%s\n' "$EXEC_OUT"
}

ctr_log_path() {
        ctr_status "$1" | jq -r .status.logPath
}

# The text of each log line (the CRI prefix "TIME STREAM TAG " removed).
log_text() {
        cut -d' ' -f4- "$(ctr_log_path "$1")"
}

wait_log() {
        local path i n=$((${3:-10} * 20))
        path="$(ctr_log_path "$1")"
        for ((i = 0; i < n; i++)); do
                [ -f "$path" ] && grep -qE -- "$2" "$path" && return 0
                sleep 0.05
        done
        echo "no line matching '$2' in $path:" >&2
        cat "$path" >&2 2>/dev/null
        return 1
}

# Processes whose command line names the container ID (conmon, the runtime).
ctr_processes() {
        pgrep -af -- "$1" | grep -v -e pgrep -e "^$$ " || true
}

# assert_ctr_gone ID [PID]: nothing of the container remains.
assert_ctr_gone() {
        local id="$1" pid="${2:-}" left
        left="$(ctr_processes "$id")"
        [ -z "$left" ] || { echo "processes left: $left" >&2; return 1; }
        if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -d "/proc/$pid" ] &&
                ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                echo "the container's process $pid still runs: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
                return 1
        fi
        left="$(grep -F -- "$id" /proc/self/mountinfo || true)"
        [ -z "$left" ] || { echo "mounts left: $left" >&2; return 1; }
        left="$(find /sys/fs/cgroup -name "*$id*" 2>/dev/null | head -5)"
        [ -z "$left" ] || { echo "cgroups left: $left" >&2; return 1; }
        left="$(find "$TEST_DIR/run" "$TEST_DIR/root" -name "*$id*" 2>/dev/null)"
        [ -z "$left" ] || { echo "files left: $left" >&2; return 1; }
        left="$(find /run/crun /run/runc -maxdepth 1 -name "*$id*" 2>/dev/null)"
        [ -z "$left" ] || { echo "runtime state left: $left" >&2; return 1; }
        return 0
}

# wait_ctr_gone ID [PID]: assert_ctr_gone, allowing PID 1 here its late
# reaping (machine-notes) for up to 3 s.
wait_ctr_gone() {
        local i
        for i in $(seq 1 30); do
                assert_ctr_gone "$@" 2>/dev/null && return 0
                sleep 0.1
        done
        assert_ctr_gone "$@"
}

# No container listed and nothing under the daemon's container directories.
assert_no_containers() {
        local listed
        listed="$(cri ListContainers '{}' | jq -r '.containers[]?.id')"
        [ -z "$listed" ] || { echo "containers listed: $listed" >&2; return 1; }
        listed="$(ls -A "$TEST_DIR/run/containers" "$TEST_DIR/root/containers" "$TEST_DIR/run/exits" 2>/dev/null | grep -v -e '^$' -e ':$' || true)"
        [ -z "$listed" ] || { echo "container files: $listed" >&2; return 1; }
        listed="$(grep -F -- "$TEST_DIR/root/containers" /proc/self/mountinfo || true)"
        [ -z "$listed" ] || { echo "mounts: $listed" >&2; return 1; }
}

# consecutive_numbers TEXT MIN: TEXT is lines of numbers (a container's
# counter), each one more than the one before, at least MIN of them.
consecutive_numbers() {
        local prev="" n count=0
        while read -r n; do
                [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: '$n'" >&2; return 1; }
                if [ -n "$prev" ] && [ "$n" -ne $((prev + 1)) ]; then
                        echo "$prev, then $n" >&2
                        return 1
                fi
                prev="$n"
                count=$((count + 1))
        done <<<"$1"
        [ "$count" -ge "$2" ] || { echo "only $count numbers: $1" >&2; return 1; }
}
