#!/usr/bin/env bash
# Set up everything and show ocid at work:
#   - installs the packages, prepares the host, builds, installs ocid, ocic
#     and the pause program, a default /etc/ocid/ocid.conf and (when the node
#     has none) a default CNI network;
#   - starts a registry for the demo image on 127.0.0.1:5000 (loopback only:
#     Debian's docker-registry with /etc/ocid/demo-registry.yml) and pushes a
#     busybox image built locally from Debian's busybox-static to it;
#   - starts ocid on /run/ocid/ocid.sock;
#   - runs the example pod with a busybox container printing a counter
#     (contrib/pod-example.yaml, contrib/container-example.yaml) and shows
#     `ocic pods`, `ocic ps` and `ocic logs`.
# Idempotent: what is already there or running is left as it is.
# scripts/stop-ocid.sh removes the demo pod and stops ocid and the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

# ocic talks to the daemon this script runs, whatever the environment says.
export CONTAINER_RUNTIME_ENDPOINT=unix:///run/ocid/ocid.sock
export IMAGE_SERVICE_ENDPOINT=unix:///run/ocid/ocid.sock

REGISTRY=127.0.0.1:5000
DEMO_REPO=ocid-demo/busybox             # contrib/container-example.yaml names
DEMO_IMAGE="$REGISTRY/$DEMO_REPO:latest" # this image
REGISTRY_CONF=/etc/ocid/demo-registry.yml
REGISTRY_STORAGE=/var/lib/ocid-demo-registry
REGISTRY_PIDFILE=/run/ocid/demo-registry.pid
REGISTRY_LOG=/var/log/ocid/demo-registry.log
REGISTRIES_DROPIN=/etc/containers/registries.conf.d/50-ocid-demo-registry.conf

# HTTP status of GET URL [HEADER: VALUE...], 0 when nothing answers. Python
# (a dependency already) rather than curl (not one); no proxy for loopback.
http_status() {
        python3 - "$@" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers=dict(h.split(": ", 1) for h in sys.argv[2:]))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(req, timeout=2) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
EOF
}

# Whether PID runs the program PATH (also when PATH was replaced since,
# by a reinstall or an upgrade: then the kernel reports "PATH (deleted)").
runs() {
        local exe
        exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
        [ "$exe" = "$2" ] || [ "$exe" = "$2 (deleted)" ]
}

# The PID of the demo registry this script started, if it still runs.
registry_pid() {
        local pid
        pid="$(cat "$REGISTRY_PIDFILE" 2>/dev/null)" || return 1
        [ -n "$pid" ] && runs "$pid" /usr/bin/docker-registry &&
                tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF " $REGISTRY_CONF" && echo "$pid"
}

# ---- install ------------------------------------------------------------------

scripts/install-deps.sh
scripts/host-setup.sh
scripts/build.sh build
install -C -m 0755 build/src/daemon/ocid /usr/local/bin/ocid
install -C -m 0755 build/src/ocic/ocic /usr/local/bin/ocic
install -C -D -m 0755 build/src/pause/pause /usr/local/libexec/ocid/pause
install -C -D -m 0755 build/src/daemon/ocid-fetch /usr/local/libexec/ocid/ocid-fetch
install -C -D -m 0644 build/src/daemon/ocid-tls-server.so /usr/local/libexec/ocid/ocid-tls-server.so
mkdir -p /etc/ocid/ocid.conf.d /etc/cni/net.d /etc/containers/registries.conf.d /var/log/ocid /run/ocid
[ -f /etc/ocid/ocid.conf ] || /usr/local/bin/ocid config >/etc/ocid/ocid.conf
# A default pod network, only when the node has none.
if [ -z "$(ls /etc/cni/net.d 2>/dev/null)" ]; then
        install -m 0644 contrib/10-ocid-bridge.conflist /etc/cni/net.d/10-ocid-bridge.conflist
fi

# ---- the demo registry -----------------------------------------------------------

if [ ! -f "$REGISTRY_CONF" ]; then
        cat >"$REGISTRY_CONF" <<EOF
# The registry scripts/run-ocid.sh starts for its demo image (Debian's
# docker-registry): plain HTTP on the loopback interface only, no auth.
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
http:
  addr: $REGISTRY
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
EOF
        # The secret is the registry's own: readable by its user only.
        chmod 0600 "$REGISTRY_CONF"
        if getent group docker-registry >/dev/null; then
                chgrp docker-registry "$REGISTRY_CONF"
                chmod 0640 "$REGISTRY_CONF"
        fi
fi
# 127.0.0.1:5000 speaks plain HTTP.
if [ ! -f "$REGISTRIES_DROPIN" ]; then
        cat >"$REGISTRIES_DROPIN" <<EOF
# The demo registry of scripts/run-ocid.sh: loopback, plain HTTP.
[[registry]]
location = "$REGISTRY"
insecure = true
EOF
fi

status="$(http_status "http://$REGISTRY/v2/")"
if [ "$status" = 200 ]; then
        if pid="$(registry_pid)"; then
                echo "the demo registry is already running (pid $pid) on $REGISTRY"
        else
                echo "a registry not started by this script answers on $REGISTRY: using it"
        fi
elif [ "$status" != 0 ]; then
        echo "something else answers on http://$REGISTRY/v2/ (HTTP $status); the demo needs" >&2
        echo "127.0.0.1:5000 for its registry (Debian's docker-registry service? then:" >&2
        echo "systemctl disable --now docker-registry)" >&2
        exit 1
else
        mkdir -p "$REGISTRY_STORAGE"
        user=()
        if getent passwd docker-registry >/dev/null; then
                chown docker-registry:docker-registry "$REGISTRY_STORAGE"
                user=(setpriv --reuid=docker-registry --regid=docker-registry --clear-groups)
        fi
        # docker-registry takes REGISTRY_* variables as config overrides:
        # give it none. Its own session: it outlives this script.
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid "${user[@]}" \
                /usr/bin/docker-registry serve "$REGISTRY_CONF" </dev/null >>"$REGISTRY_LOG" 2>&1 &
        pid=$!
        echo "$pid" >"$REGISTRY_PIDFILE"
        for _ in $(seq 1 100); do
                [ "$(http_status "http://$REGISTRY/v2/")" = 200 ] && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        if [ "$(http_status "http://$REGISTRY/v2/")" != 200 ]; then
                echo "the demo registry did not start; $REGISTRY_LOG says:" >&2
                tail -n 20 "$REGISTRY_LOG" >&2
                exit 1
        fi
        echo "demo registry started (pid $pid) on $REGISTRY, config $REGISTRY_CONF, log $REGISTRY_LOG"
fi

# The demo image: busybox from Debian's busybox-static, built here (no
# network needed).
if [ "$(http_status "http://$REGISTRY/v2/$DEMO_REPO/manifests/latest" \
        "Accept: application/vnd.docker.distribution.manifest.v2+json")" = 200 ]; then
        echo "$DEMO_IMAGE is already in the registry"
else
        digest="$(python3 tests/fixtures/mkimage.py --registry "$REGISTRY" "$DEMO_REPO:latest" |
                python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')"
        echo "built and pushed $DEMO_IMAGE ($digest)"
fi

# ---- ocid ------------------------------------------------------------------------

if [ -S /run/ocid/ocid.sock ] && ocic version >/dev/null 2>&1; then
        echo "ocid is already running"
        pid="$(cat /run/ocid/ocid.sock.lock 2>/dev/null || true)"
        if [ -n "$pid" ] && runs "$pid" /usr/local/bin/ocid && ! cmp -s "/proc/$pid/exe" /usr/local/bin/ocid; then
                echo "(an older build: scripts/stop-ocid.sh, then this script again, runs the new one)"
        fi
else
        setsid /usr/local/bin/ocid </dev/null >>/var/log/ocid/ocid.log 2>&1 &
        echo "ocid started (pid $!), log in /var/log/ocid/ocid.log"
        for _ in $(seq 1 100); do
                ocic version >/dev/null 2>&1 && break
                kill -0 $! 2>/dev/null || break
                sleep 0.1
        done
        if ! ocic version >/dev/null 2>&1; then
                echo "ocid did not start; /var/log/ocid/ocid.log says:" >&2
                tail -n 20 /var/log/ocid/ocid.log >&2
                exit 1
        fi
fi
ocic version

# ---- the demo pod ------------------------------------------------------------------

# The running demo container (the "counter" container in a ready example pod).
demo_container() {
        local pod
        for pod in $(ocic pods -q --label app=example --state ready); do
                ocic ps -q --pod "$pod" --name '^counter$' --state running
        done
}

ctr="$(demo_container | head -n 1)"
if [ -n "$ctr" ]; then
        echo "the demo pod is already running"
else
        # A leftover example pod (stopped, or without its container) goes first.
        for pod in $(ocic pods -q --label app=example); do
                ocic stopp "$pod" >/dev/null
                ocic rmp "$pod" >/dev/null
                echo "removed the leftover example pod $pod"
        done
        # An earlier demo container's log: the new one would append to it.
        rm -f /var/log/ocid/pods/example/counter.log
        ctr="$(ocic run contrib/container-example.yaml contrib/pod-example.yaml)"
        echo "demo pod started: container $ctr"
        sleep 3 # a few lines of output
fi

ctr="${ctr:0:13}" # ocic takes unique ID prefixes, as crictl does
echo
echo "# ocic pods"
ocic pods
echo
echo "# ocic ps"
ocic ps
echo
echo "# ocic logs --tail 5 $ctr"
ocic logs --tail 5 "$ctr"
echo
echo "Follow it with: ocic logs -f $ctr"
echo "Undo it with:   scripts/stop-ocid.sh"
