#!/usr/bin/env bats
# Streaming (issue 6): the streaming server over TLS, and the limits on
# sessions: idle sessions are closed, a bound on concurrent sessions.
# The client is Python's websocket-client (an independent implementation),
# verifying the server's certificate.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() {
        ctr_images_setup
        export TLS_DIR="$(mktemp -d /tmp/ocid-tls.XXXXXX)"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" \
                -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
        ctr_daemon_start --stream-tls-cert "$TLS_DIR/cert.pem" --stream-tls-key "$TLS_DIR/key.pem" \
                --stream-idle-timeout 3 --stream-max-sessions 2
}
teardown_file() {
        ctr_file_teardown
        rm -rf "$TLS_DIR"
}
setup() { new_pod tls; }
teardown() { ctr_test_teardown; }

# wss_exec URL: run the session sending nothing; print each message as
# "CHANNEL TEXT", and at the end "closed after N s".
wss_exec() {
        timeout 30 "$PYTHON" - "$@" <<'PY'
import os, sys, time, websocket
url = sys.argv[1].replace('https://', 'wss://')
ws = websocket.create_connection(url, subprotocols=['v4.channel.k8s.io'],
                                 sslopt={'ca_certs': os.environ['TLS_DIR'] + '/cert.pem'})
start = time.monotonic()
while True:
    try:
        op, data = ws.recv_data()
    except Exception:
        print('closed after %d s' % (time.monotonic() - start)); break
    if op == 8:
        print('closed after %d s' % (time.monotonic() - start)); break
    print(data[0], data[1:].decode(errors='replace'))
PY
}

exec_url() {
        cri Exec "$(jq -cn --arg id "$CTR_ID" --arg cmd "$1" '{container_id: $id, cmd: ["/bin/sh","-c",$cmd], stdout: true}')" | jq -r .url
}

@test "Exec URLs are https and the session runs over TLS with a certificate the client verifies" {
        run_ctr x
        url="$(exec_url 'echo secure; exit 3')"
        [[ "$url" == https://127.0.0.1:* ]]
        run wss_exec "$url"
        [ "$status" -eq 0 ]
        [[ "${lines[0]}" == "1 secure" ]]
        [[ "$output" == *'"reason":"NonZeroExitCode"'* ]]
        [[ "$output" == *'"message":"3"'* ]]
        # Plain HTTP to the TLS port gets nowhere.
        run curl -s --max-time 5 "${url/https:/http:}"
        [ "$status" -ne 0 ]
}

@test "a session without traffic is closed after stream_idle_timeout and its process ends" {
        run_ctr x
        url="$(exec_url 'sleep 1789')"
        run wss_exec "$url"
        [ "$status" -eq 0 ]
        [[ "$output" == "closed after "[2-5]" s" ]]
        # The exec'd sleep goes with it (stdin closed, then killed).
        for i in $(seq 1 50); do
                pgrep -f '^sleep 1789$' >/dev/null || break
                sleep 0.2
        done
        ! pgrep -f '^sleep 1789$'
}

@test "more sessions than stream_max_sessions are refused with 503; the others go on" {
        run_ctr x
        # (Printing at once: the file's idle timeout is 3 s.)
        a="$(exec_url 'echo a; sleep 1; echo a')"
        b="$(exec_url 'echo b; sleep 1; echo b')"
        c="$(exec_url 'echo c')"
        wss_exec "$a" >"$TEST_DIR/a.out" &
        pa=$!
        wss_exec "$b" >"$TEST_DIR/b.out" &
        pb=$!
        # Both sessions run once their first line arrived.
        for i in $(seq 1 100); do
                grep -qx '1 a' "$TEST_DIR/a.out" 2>/dev/null && grep -qx '1 b' "$TEST_DIR/b.out" 2>/dev/null && break
                sleep 0.1
        done
        run curl -s --max-time 5 --cacert "$TLS_DIR/cert.pem" -o /dev/null -w '%{http_code}' \
                -H 'Connection: Upgrade' -H 'Upgrade: SPDY/3.1' -H 'X-Stream-Protocol-Version: v4.channel.k8s.io' "$c"
        [ "$output" = 503 ]
        wait "$pa" "$pb"
        cat "$TEST_DIR/a.out" "$TEST_DIR/b.out"
        [ "$(grep -cx '1 a' "$TEST_DIR/a.out")" -eq 2 ]
        [ "$(grep -cx '1 b' "$TEST_DIR/b.out")" -eq 2 ]
}

@test "with TLS configured the daemon maps OpenSSL, through the TLS module" {
        grep -q '/ocid-tls-server\.so$' "/proc/$OCID_PID/maps"
        grep -q '/libssl\.so' "/proc/$OCID_PID/maps"
}

# ocid_alone DIR: a copy of the daemon alone in DIR, with directories of
# its own and TLS configured; the daemon is killed if it does not refuse.
ocid_alone() {
        prepare_ocid_dirs
        cp "$OCID" "$1/ocid"
        local rc=0
        timeout -s KILL 10 "$1/ocid" --config "$OCID_CONF" --config-dir "$TEST_DIR/conf.d" \
                --stream-tls-cert "$TLS_DIR/cert.pem" --stream-tls-key "$TLS_DIR/key.pem" || rc=$?
        rm -rf "$TEST_DIR"
        return "$rc"
}

@test "with TLS configured and the TLS module unusable, ocid refuses to start and names the module" {
        # Beside the binary is where the daemon looks first.
        bin="$(mktemp -d /tmp/ocid-bin.XXXXXX)"
        echo "not a shared object" >"$bin/ocid-tls-server.so"
        chmod 0755 "$bin/ocid-tls-server.so"
        run ocid_alone "$bin"
        rm -rf "$bin"
        [ "$status" -ne 0 ]
        [ "$status" -ne 137 ]
        [[ "$output" == *"cannot start the streaming server: stream TLS: cannot load the module $bin/ocid-tls-server.so"* ]]
}
