# A local image registry for the integration tests: Debian's docker-registry
# on 127.0.0.1, fed with images built by tests/fixtures/mkimage.py.
#
#   load registry
#   setup_file()    { start_registry; push_image busybox:latest; }
#   teardown_file() { stop_registry; }
#
# start_registry [--htpasswd USER:PASS] [--token USER:PASS] [--anonymous-pull]
#                [--tls [--client-certs]] [--schema1]
#       Start a registry in a fresh temp dir and wait until /v2/ answers.
#       --htpasswd   basic auth (bcrypt line made with htpasswd -Bbn)
#       --token      bearer-token auth: a token server (fixtures/token_server.py)
#                    issues RS256 JWTs for USER:PASS; the registry verifies them
#                    against the token server's certificate (rootcertbundle)
#       --anonymous-pull   with --token: requests without credentials get a
#                    pull-only token (Docker Hub style)
#       --tls        HTTPS with a fresh self-signed CA (the token server too)
#       --client-certs   with --tls: the registry requires a client certificate
#                    signed by that CA (REGISTRY_CLIENT_CERT, REGISTRY_CLIENT_KEY)
#       --schema1    accept schema 1 manifests (compatibility.schema1.enabled)
#   Exports:
#       REGISTRY          127.0.0.1:PORT
#       REGISTRY_URL      http(s)://127.0.0.1:PORT
#       REGISTRY_SCHEME   http | https
#       REGISTRY_PID      the docker-registry process
#       REGISTRY_DIR      temp dir: config.yml, registry.log, storage/, certs...
#       REGISTRY_LOG      the registry's log
#       REGISTRY_CA       CA certificate file (--tls), else empty
#       REGISTRY_AUTH     none | basic | token
#       REGISTRY_USER, REGISTRY_PASS   the credentials (empty without auth)
#       TOKEN_SERVER_PID, TOKEN_REALM, TOKEN_SERVICE, TOKEN_LOG   (--token)
#
# stop_registry [DIR]
#       Kill the registry (and token server) recorded in DIR (default
#       $REGISTRY_DIR) by PID and remove DIR. To run two registries, save
#       REGISTRY/REGISTRY_DIR after the first start and stop each by its dir.
# stop_registries
#       Stop every registry started by this shell (REGISTRY_DIRS): the safe
#       teardown.
#
# The registry and token server get SIGTERM when the shell that started them
# exits (setpriv --pdeathsig), so a bats run killed before its teardown
# leaves no servers behind (only the temp dir). Hence: call start_registry
# in the test or in setup_file itself, never inside $(...), ( ) or `run`.
#
# push_image NAME:TAG [mkimage.py options]
#       Build and push to $REGISTRY with its scheme, CA and credentials.
#       Exports IMAGE_REF (REGISTRY/NAME:TAG), IMAGE_DIGEST (the pushed
#       manifest/index digest), IMAGE_ID (config digest; for an index the
#       linux/amd64 one), IMAGE_MEDIA_TYPE, IMAGE_JSON (file with
#       mkimage.py's full JSON output).
#
# registry_curl PATH [curl options]
#       curl $REGISTRY_URL$PATH with the CA and the credentials (for --token a
#       pull token for the repository named in PATH is fetched first).
#
# install_registry_ca CERTS_D
#       Copy $REGISTRY_CA to CERTS_D/$REGISTRY/ca.crt (containerd/docker
#       certs.d layout).

REGISTRY_FIXTURES="$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)"
MKIMAGE="$REGISTRY_FIXTURES/mkimage.py"
TOKEN_SERVER="$REGISTRY_FIXTURES/token_server.py"
REGISTRY_BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"
REGISTRY_PYTHON="${PYTHON:-/usr/bin/python3}"
TOKEN_ISSUER="ocid-test-token-issuer"

# A TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
        "$REGISTRY_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# CA + server certificate for 127.0.0.1 and localhost (EC keys: quick to make).
_registry_make_certs() {
        local d="$1"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$d/ca.key" -out "$d/ca.crt" -days 7 -subj "/CN=ocid test CA" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || return 1
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null || return 1
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
                "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
                -days 7 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
}

# A client certificate from the test CA, for registries that require one.
_registry_make_client_cert() {
        local d="$1"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=ocid test client" 2>/dev/null || return 1
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=clientAuth" >"$d/client.ext"
        openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
                -days 7 -extfile "$d/client.ext" -out "$d/client.cert" 2>/dev/null
}

# Start the token server; sets TOKEN_SERVER_PID, TOKEN_REALM, TOKEN_SERVICE, TOKEN_LOG.
_registry_start_token_server() {
        local d="$REGISTRY_DIR" anonymous="$1" tls=()
        # The signing key and its self-signed certificate (the rootcertbundle).
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/token.key" -out "$d/token.crt" \
                -days 7 -subj "/CN=$TOKEN_ISSUER" 2>/dev/null || return 1
        printf '%s:%s\n' "$REGISTRY_USER" "$REGISTRY_PASS" >"$d/token-users"
        [ "$REGISTRY_SCHEME" = https ] && tls=(--tls-cert "$d/server.crt" --tls-key "$d/server.key")
        TOKEN_SERVICE="ocid-test-registry"
        TOKEN_LOG="$d/token.log"
        setpriv --pdeathsig TERM -- "$REGISTRY_PYTHON" "$TOKEN_SERVER" --key "$d/token.key" --cert "$d/token.crt" \
                --issuer "$TOKEN_ISSUER" --service "$TOKEN_SERVICE" --users "$d/token-users" \
                --port-file "$d/token.port" --log "$TOKEN_LOG" $anonymous "${tls[@]}" \
                >"$d/token-server.log" 2>&1 3>&- &
        TOKEN_SERVER_PID=$!
        echo "$TOKEN_SERVER_PID" >"$d/token.pid"
        local i
        for i in $(seq 1 100); do
                [ -s "$d/token.port" ] && break
                if ! kill -0 "$TOKEN_SERVER_PID" 2>/dev/null; then
                        cat "$d/token-server.log" >&2
                        return 1
                fi
                sleep 0.05
        done
        [ -s "$d/token.port" ] || { echo "token server did not start" >&2; return 1; }
        TOKEN_REALM="$REGISTRY_SCHEME://127.0.0.1:$(cat "$d/token.port")/token"
        export TOKEN_SERVER_PID TOKEN_REALM TOKEN_SERVICE TOKEN_LOG
}

_registry_write_config() {
        local d="$REGISTRY_DIR" port="$1" schema1="$2"
        cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $d/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: ocid-test-secret
EOF
        if [ "$REGISTRY_SCHEME" = https ]; then
                cat >>"$d/config.yml" <<EOF
  tls:
    certificate: $d/server.crt
    key: $d/server.key
EOF
                if [ -n "$REGISTRY_CLIENT_CERT" ]; then
                        cat >>"$d/config.yml" <<EOF
    clientcas:
      - $d/ca.crt
EOF
                fi
        fi
        case "$REGISTRY_AUTH" in
        basic)
                cat >>"$d/config.yml" <<EOF
auth:
  htpasswd:
    realm: ocid-test-registry
    path: $d/htpasswd
EOF
                ;;
        token)
                cat >>"$d/config.yml" <<EOF
auth:
  token:
    realm: $TOKEN_REALM
    service: $TOKEN_SERVICE
    issuer: $TOKEN_ISSUER
    rootcertbundle: $d/token.crt
EOF
                ;;
        esac
        if [ -n "$schema1" ]; then
                cat >>"$d/config.yml" <<EOF
compatibility:
  schema1:
    enabled: true
EOF
        fi
}

start_registry() {
        local htpasswd= token= anonymous= tls= schema1= client_certs=
        while [ $# -gt 0 ]; do
                case "$1" in
                --htpasswd) htpasswd="$2"; shift 2 ;;
                --token) token="$2"; shift 2 ;;
                --anonymous-pull) anonymous=--anonymous-pull; shift ;;
                --tls) tls=1; shift ;;
                --client-certs) client_certs=1; shift ;;
                --schema1) schema1=1; shift ;;
                *) echo "start_registry: unknown option $1" >&2; return 1 ;;
                esac
        done
        if [ -n "$htpasswd" ] && [ -n "$token" ]; then
                echo "start_registry: --htpasswd and --token exclude each other" >&2
                return 1
        fi

        REGISTRY_DIR="$(mktemp -d /tmp/ocid-registry.XXXXXX)"
        REGISTRY_DIRS="${REGISTRY_DIRS:-} $REGISTRY_DIR"
        export REGISTRY_DIRS
        REGISTRY_LOG="$REGISTRY_DIR/registry.log"
        REGISTRY_SCHEME=http REGISTRY_CA= REGISTRY_AUTH=none REGISTRY_USER= REGISTRY_PASS=
        REGISTRY_CLIENT_CERT= REGISTRY_CLIENT_KEY=
        TOKEN_SERVER_PID= TOKEN_REALM= TOKEN_SERVICE= TOKEN_LOG=
        mkdir -p "$REGISTRY_DIR/storage"
        if [ -n "$tls" ]; then
                _registry_make_certs "$REGISTRY_DIR" || { echo "start_registry: openssl failed" >&2; return 1; }
                REGISTRY_SCHEME=https
                REGISTRY_CA="$REGISTRY_DIR/ca.crt"
                if [ -n "$client_certs" ]; then
                        _registry_make_client_cert "$REGISTRY_DIR" || { echo "start_registry: openssl failed" >&2; return 1; }
                        REGISTRY_CLIENT_CERT="$REGISTRY_DIR/client.cert"
                        REGISTRY_CLIENT_KEY="$REGISTRY_DIR/client.key"
                fi
        fi
        export REGISTRY_CLIENT_CERT REGISTRY_CLIENT_KEY
        if [ -n "$htpasswd" ]; then
                REGISTRY_AUTH=basic
                REGISTRY_USER="${htpasswd%%:*}" REGISTRY_PASS="${htpasswd#*:}"
                htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" >"$REGISTRY_DIR/htpasswd" || return 1
        fi
        if [ -n "$token" ]; then
                REGISTRY_AUTH=token
                REGISTRY_USER="${token%%:*}" REGISTRY_PASS="${token#*:}"
                _registry_start_token_server "$anonymous" || return 1
        fi
        export REGISTRY_DIR REGISTRY_LOG REGISTRY_SCHEME REGISTRY_CA REGISTRY_AUTH REGISTRY_USER REGISTRY_PASS

        # The port was free when asked; if another process takes it first,
        # the registry exits and we try another.
        local attempt port i code
        for attempt in 1 2 3 4 5; do
                port="$(free_port)"
                _registry_write_config "$port" "$schema1"
                # docker-registry takes REGISTRY_* variables as config
                # overrides (REGISTRY_AUTH, REGISTRY_LOG...): give it none.
                # It gets SIGTERM if this shell dies (a killed bats run
                # never reaches its teardown).
                env -i PATH="$PATH" setpriv --pdeathsig TERM -- \
                        "$REGISTRY_BIN" serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 3>&- &
                REGISTRY_PID=$!
                echo "$REGISTRY_PID" >"$REGISTRY_DIR/registry.pid"
                REGISTRY="127.0.0.1:$port"
                REGISTRY_URL="$REGISTRY_SCHEME://$REGISTRY"
                export REGISTRY REGISTRY_URL REGISTRY_PID
                for i in $(seq 1 200); do
                        kill -0 "$REGISTRY_PID" 2>/dev/null || break
                        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
                                ${REGISTRY_CA:+--cacert "$REGISTRY_CA"} \
                                ${REGISTRY_CLIENT_CERT:+--cert "$REGISTRY_CLIENT_CERT" --key "$REGISTRY_CLIENT_KEY"} \
                                "$REGISTRY_URL/v2/" || true)"
                        case "$code" in 200|401) return 0 ;; esac
                        sleep 0.05
                done
                if kill -0 "$REGISTRY_PID" 2>/dev/null; then
                        kill -KILL "$REGISTRY_PID"
                        wait "$REGISTRY_PID" 2>/dev/null || true
                        echo "start_registry: no answer from $REGISTRY_URL/v2/ in 10 s" >&2
                        tail -n 20 "$REGISTRY_LOG" >&2
                        return 1
                fi
                wait "$REGISTRY_PID" 2>/dev/null || true
        done
        echo "start_registry: docker-registry kept exiting:" >&2
        tail -n 20 "$REGISTRY_LOG" >&2
        return 1
}

_registry_kill() {
        local pid="$1" i
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
        kill -TERM "$pid"
        for i in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
}

stop_registry() {
        local d="${1:-${REGISTRY_DIR:-}}"
        [ -n "$d" ] && [ -d "$d" ] || return 0
        [ -f "$d/registry.pid" ] && _registry_kill "$(cat "$d/registry.pid")"
        [ -f "$d/token.pid" ] && _registry_kill "$(cat "$d/token.pid")"
        if [ -n "${OCID_TEST_LOGS:-}" ] && [ -f "$d/registry.log" ]; then
                mkdir -p "$OCID_TEST_LOGS"
                cp "$d/registry.log" "$OCID_TEST_LOGS/registry-$(basename "$d").log"
        fi
        rm -rf "$d"
        REGISTRY_DIRS="$(echo " ${REGISTRY_DIRS:-} " | sed "s| $d | |")"
        if [ "$d" = "${REGISTRY_DIR:-}" ]; then
                REGISTRY= REGISTRY_URL= REGISTRY_PID= REGISTRY_DIR= REGISTRY_CA= TOKEN_SERVER_PID=
        fi
}

stop_registries() {
        local d
        for d in ${REGISTRY_DIRS:-}; do
                stop_registry "$d"
        done
}

push_image() {
        local out args=(--registry "$REGISTRY" --scheme "$REGISTRY_SCHEME")
        [ -n "$REGISTRY_CA" ] && args+=(--ca "$REGISTRY_CA")
        [ -n "${REGISTRY_CLIENT_CERT:-}" ] && args+=(--client-cert "$REGISTRY_CLIENT_CERT" --client-key "$REGISTRY_CLIENT_KEY")
        [ -n "$REGISTRY_USER" ] && args+=(--creds "$REGISTRY_USER:$REGISTRY_PASS")
        out="$(mktemp "$REGISTRY_DIR/push.XXXXXX.json")"
        if ! "$REGISTRY_PYTHON" "$MKIMAGE" "${args[@]}" "$@" >"$out"; then
                echo "push_image $*: mkimage.py failed" >&2
                return 1
        fi
        IMAGE_JSON="$out"
        IMAGE_REF="$(jq -r .reference "$out")"
        IMAGE_DIGEST="$(jq -r .digest "$out")"
        IMAGE_ID="$(jq -r '.image_id // empty' "$out")"
        IMAGE_MEDIA_TYPE="$(jq -r .media_type "$out")"
        export IMAGE_JSON IMAGE_REF IMAGE_DIGEST IMAGE_ID IMAGE_MEDIA_TYPE
}

# A bearer token from the token server for SCOPE (e.g. repository:x:pull).
registry_token() {
        curl -sf ${REGISTRY_CA:+--cacert "$REGISTRY_CA"} -u "$REGISTRY_USER:$REGISTRY_PASS" \
                -G --data-urlencode "service=$TOKEN_SERVICE" --data-urlencode "scope=$1" \
                "$TOKEN_REALM" | jq -r .token
}

registry_curl() {
        local path="$1" auth=()
        shift
        case "$REGISTRY_AUTH" in
        basic) auth=(-u "$REGISTRY_USER:$REGISTRY_PASS") ;;
        token)
                local repo="${path#/v2/}"
                repo="${repo%/manifests/*}"
                repo="${repo%/blobs/*}"
                repo="${repo%/tags/list*}"
                auth=(-H "Authorization: Bearer $(registry_token "repository:$repo:pull")")
                ;;
        esac
        curl -s ${REGISTRY_CA:+--cacert "$REGISTRY_CA"} "${auth[@]}" "$@" "$REGISTRY_URL$path"
}

install_registry_ca() {
        mkdir -p "$1/$REGISTRY"
        cp "$REGISTRY_CA" "$1/$REGISTRY/ca.crt"
}
