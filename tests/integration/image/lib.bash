# Shared by the image-*.bats files: an ocid with its own registries.conf,
# registries.conf.d and certs.d in its test dir; checks on the image store;
# the slow/stalling registry front (slowproxy.py); the Python CRI client.
#
#   load helpers
#   load registry
#   load image/lib
#
# write_registries_conf [TEXT]
#       Write $TEST_DIR/registries.conf: TEXT, or (no argument) one entry
#       making the local registry plain HTTP ([[registry]] location =
#       "$REGISTRY", insecure = true).
# start_image_ocid [ocid flags]
#       prepare_ocid_dirs if needed; start ocid with --registries-conf,
#       --registries-conf-dir and --certs-dir ($CERTS_DIR) in the test dir.
#       The registries file is written with the default text if missing.
# stop_ocid_keep_dirs
#       SIGTERM the daemon and wait for it; its dirs stay.
# restart_ocid [ocid flags]
#       stop_ocid_keep_dirs, then start_image_ocid on the same dirs.
# store_is_empty
#       No image listed, no directory under ROOT/layers, ROOT/tmp empty, and
#       no file under ROOT/tmp held open by ocid (blobs are O_TMPFILE files).
# wait_store_empty [SECONDS]
#       Poll store_is_empty (default 10 s).
# ocid_blob_gets REPO
#       How many GET /v2/REPO/blobs/... the registry served to ocid.
# start_proxy [slowproxy.py options]      stop_proxy
#       A slowproxy.py in front of $REGISTRY. Sets PROXY (127.0.0.1:PORT),
#       PROXY_PID, PROXY_LOG, PROXY_DIR.
# pyc_setup / pyc_cleanup / pyc ARGS...
#       Generate the Python modules into PY_GEN; run interop/cri_client.py.

IMAGE_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SLOWPROXY="$IMAGE_LIB_DIR/slowproxy.py"
CRI_CLIENT="$IMAGE_LIB_DIR/../interop/cri_client.py"

write_registries_conf() {
        [ -n "${TEST_DIR:-}" ] || prepare_ocid_dirs
        if [ $# -gt 0 ]; then
                printf '%s\n' "$1" >"$TEST_DIR/registries.conf"
        else
                printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY" \
                        >"$TEST_DIR/registries.conf"
        fi
}

start_image_ocid() {
        [ -n "${TEST_DIR:-}" ] || prepare_ocid_dirs
        ROOT="$TEST_DIR/root"
        CERTS_DIR="$TEST_DIR/certs.d"
        export ROOT CERTS_DIR
        mkdir -p "$TEST_DIR/registries.conf.d" "$CERTS_DIR"
        [ -f "$TEST_DIR/registries.conf" ] || write_registries_conf
        start_ocid --registries-conf "$TEST_DIR/registries.conf" \
                --registries-conf-dir "$TEST_DIR/registries.conf.d" \
                --certs-dir "$CERTS_DIR" "$@"
}

stop_ocid_keep_dirs() {
        local i
        kill -TERM "$OCID_PID"
        for i in $(seq 1 200); do
                kill -0 "$OCID_PID" 2>/dev/null || break
                sleep 0.05
        done
        if kill -0 "$OCID_PID" 2>/dev/null; then
                echo "ocid did not stop on SIGTERM" >&2
                return 1
        fi
        wait "$OCID_PID" 2>/dev/null || true
}

restart_ocid() {
        stop_ocid_keep_dirs && start_image_ocid "$@"
}

# Files under ROOT/tmp that ocid holds open, "(deleted)" O_TMPFILEs included.
ocid_tmp_fds() {
        local fd target
        for fd in /proc/"$OCID_PID"/fd/*; do
                target="$(readlink "$fd" 2>/dev/null)" || continue
                case "$target" in "$ROOT/tmp/"*) echo "$target" ;; esac
        done
}

store_is_empty() {
        local images layers tmp fds
        images="$("$OCIC" images -q)" || return 1
        layers="$(ls -A "$ROOT/layers")"
        tmp="$(ls -A "$ROOT/tmp")"
        fds="$(ocid_tmp_fds)"
        if [ -n "$images$layers$tmp$fds" ]; then
                [ -z "${QUIET_STORE_CHECK:-}" ] &&
                        printf 'store not empty:\n images: %s\n layers: %s\n tmp: %s\n open: %s\n' \
                                "$images" "$layers" "$tmp" "$fds" >&2
                return 1
        fi
}

wait_store_empty() {
        local i n=$((${1:-10} * 10))
        for ((i = 0; i < n; i++)); do
                QUIET_STORE_CHECK=1 store_is_empty && return 0
                sleep 0.1
        done
        store_is_empty
}

ocid_blob_gets() {
        grep -c "\"GET /v2/$1/blobs/sha256:[0-9a-f]* HTTP/1.1\" 200 .*\"ocid/" "$REGISTRY_LOG" || true
}

start_proxy() {
        PROXY_DIR="$(mktemp -d /tmp/ocid-proxy.XXXXXX)"
        PROXY_LOG="$PROXY_DIR/proxy.log"
        : >"$PROXY_LOG"
        setpriv --pdeathsig TERM -- "$PYTHON" "$SLOWPROXY" --upstream "$REGISTRY" \
                --port-file "$PROXY_DIR/port" --log "$PROXY_LOG" "$@" \
                >"$PROXY_DIR/stderr" 2>&1 3>&- &
        PROXY_PID=$!
        local i
        for i in $(seq 1 100); do
                [ -s "$PROXY_DIR/port" ] && break
                kill -0 "$PROXY_PID" 2>/dev/null || break
                sleep 0.05
        done
        if [ ! -s "$PROXY_DIR/port" ]; then
                echo "slowproxy did not start:" >&2
                cat "$PROXY_DIR/stderr" >&2
                return 1
        fi
        PROXY="127.0.0.1:$(cat "$PROXY_DIR/port")"
        export PROXY PROXY_PID PROXY_LOG PROXY_DIR
}

stop_proxy() {
        if [ -n "${PROXY_PID:-}" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
                kill -TERM "$PROXY_PID"
                wait "$PROXY_PID" 2>/dev/null || true
        fi
        [ -n "${PROXY_DIR:-}" ] && rm -rf "$PROXY_DIR"
        PROXY= PROXY_PID= PROXY_DIR=
}

# Wait until a line matching the regex $1 is in the proxy log (default 10 s).
wait_proxy_log() {
        local i n=$((${2:-10} * 20))
        for ((i = 0; i < n; i++)); do
                grep -qE "$1" "$PROXY_LOG" && return 0
                sleep 0.05
        done
        echo "no '$1' in the proxy log:" >&2
        cat "$PROXY_LOG" >&2
        return 1
}

pyc_setup() {
        PY_GEN="$(mktemp -d /tmp/ocid-image-py.XXXXXX)"
        protoc -I "$OCID_SOURCE_DIR/proto" --python_out="$PY_GEN" runtime/v1/api.proto
        export PY_GEN
}

pyc_cleanup() {
        [ -n "${PY_GEN:-}" ] && rm -rf "$PY_GEN"
        PY_GEN=
}

pyc() {
        "$PYTHON" "$CRI_CLIENT" --gen-dir "$PY_GEN" --socket "$OCID_SOCK" "$@"
}

# jq -e over $output, showing the output when it does not hold.
check() {
        if ! jq -e "$1" >/dev/null <<<"$output"; then
                echo "expected: $1" >&2
                echo "output:   $output" >&2
                return 1
        fi
}

# The chain IDs (hex) of an image, bottom layer first.
chain_hexes() {
        "$OCIC" inspecti "$1" | jq -r '.info.chainIDs[] | sub("^sha256:"; "")'
}
