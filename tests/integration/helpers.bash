# Shared setup for the bats integration tests: each test file gets a fresh
# ocid in temporary root/run directories with debug logging.
#
#   setup_file()    { start_ocid; }
#   teardown_file() { stop_ocid; }
#   teardown()      { show_log_on_failure; }

OCID_SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OCID_BUILD_DIR="${OCID_BUILD_DIR:-$OCID_SOURCE_DIR/build}"
OCID="${OCID:-$OCID_BUILD_DIR/src/daemon/ocid}"
OCIC="${OCIC:-$OCID_BUILD_DIR/src/ocic/ocic}"
PYTHON="${PYTHON:-/usr/bin/python3}"   # Debian's, which has python3-grpcio

# Make a temp directory tree for one daemon and write its config.
# Sets TEST_DIR, OCID_SOCK, OCID_LOG, OCID_CNI_DIR, OCID_CONF.
prepare_ocid_dirs() {
        TEST_DIR="$(mktemp -d /tmp/ocid-test.XXXXXX)"
        OCID_SOCK="$TEST_DIR/run/ocid.sock"
        OCID_LOG="$TEST_DIR/ocid.log"
        OCID_CNI_DIR="$TEST_DIR/cni"
        OCID_CONF="$TEST_DIR/ocid.conf"
        mkdir -p "$TEST_DIR/conf.d" "$OCID_CNI_DIR" "$TEST_DIR/run"
        cat >"$OCID_CONF" <<CONF
[ocid]
root = "$TEST_DIR/root"
runroot = "$TEST_DIR/run"

[ocid.api]
listen = "$OCID_SOCK"

[ocid.runtime]
log_level = "debug"
shutdown_timeout = 10
pause_binary = "$OCID_BUILD_DIR/src/pause/pause"

[ocid.network]
network_dir = "$OCID_CNI_DIR"
CONF
        export TEST_DIR OCID_SOCK OCID_LOG OCID_CNI_DIR OCID_CONF
        export CONTAINER_RUNTIME_ENDPOINT="unix://$OCID_SOCK"
}

# Start ocid with the test config (extra flags pass through) and wait until
# it answers. Sets OCID_PID.
start_ocid() {
        [ -n "${TEST_DIR:-}" ] || prepare_ocid_dirs
        OCID_LOG_START=$(($(stat -c %s "$OCID_LOG" 2>/dev/null || echo 0) + 1))
        "$OCID" --config "$OCID_CONF" --config-dir "$TEST_DIR/conf.d" "$@" >>"$OCID_LOG" 2>&1 &
        OCID_PID=$!
        export OCID_PID
        wait_for_ocid
}

wait_for_ocid() {
        local i
        for i in $(seq 1 100); do
                if "$OCIC" -t 1s version >/dev/null 2>&1; then
                        return 0
                fi
                if ! kill -0 "$OCID_PID" 2>/dev/null; then
                        echo "ocid exited during start-up:" >&2
                        cat "$OCID_LOG" >&2
                        return 1
                fi
                sleep 0.05
        done
        echo "ocid did not answer within 5 s:" >&2
        cat "$OCID_LOG" >&2
        return 1
}

# SIGTERM the daemon and wait for it; keep the log under OCID_TEST_LOGS.
# Fails when the sanitizers (the ASan+UBSan build) reported anything in the
# daemon's log since it started: its own reports and its helpers'.
stop_ocid() {
        local reported=0
        if [ -n "${OCID_PID:-}" ] && kill -0 "$OCID_PID" 2>/dev/null; then
                kill -TERM "$OCID_PID"
                local i
                for i in $(seq 1 200); do
                        kill -0 "$OCID_PID" 2>/dev/null || break
                        sleep 0.05
                done
                kill -0 "$OCID_PID" 2>/dev/null && kill -KILL "$OCID_PID"
                wait "$OCID_PID" 2>/dev/null || true
        fi
        OCID_PID=
        if [ -f "${OCID_LOG:-}" ] &&
           tail -c "+${OCID_LOG_START:-1}" "$OCID_LOG" | grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:'; then
                echo "sanitizer report in the ocid log:" >&2
                tail -c "+${OCID_LOG_START:-1}" "$OCID_LOG" |
                        grep -E -A40 'ERROR: (Address|Leak)Sanitizer|runtime error:' | head -n 120 >&2
                reported=1
        fi
        if [ -n "${TEST_DIR:-}" ]; then
                local logs="${OCID_TEST_LOGS:-/tmp/ocid-test-logs}"
                mkdir -p "$logs"
                [ -f "$OCID_LOG" ] && cp "$OCID_LOG" "$logs/$(basename "$BATS_TEST_FILENAME" .bats).log"
                rm -rf "$TEST_DIR"
        fi
        TEST_DIR=
        return "$reported"
}

# In teardown: when the test failed, show the end of the daemon's log.
show_log_on_failure() {
        if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -f "${OCID_LOG:-}" ]; then
                echo "# --- last lines of the ocid log ---"
                tail -n 40 "$OCID_LOG" | sed 's/^/# /'
        fi
}

ocic() {
        "$OCIC" "$@"
}
