#!/usr/bin/env bash
# Undo what scripts/run-ocid.sh started: remove the demo pod (its container,
# network and IP), stop ocid and the demo registry, delete the demo bridge
# when no pod uses it any more. Installed files, images and the registry's
# storage stay (see README.md to remove them too). Idempotent.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

export CONTAINER_RUNTIME_ENDPOINT=unix:///run/ocid/ocid.sock
export IMAGE_SERVICE_ENDPOINT=unix:///run/ocid/ocid.sock
REGISTRY_CONF=/etc/ocid/demo-registry.yml
REGISTRY_PIDFILE=/run/ocid/demo-registry.pid
OCID_LOCK=/run/ocid/ocid.sock.lock

# Whether PID runs the program PATH (also when PATH was replaced since,
# by a reinstall or an upgrade: then the kernel reports "PATH (deleted)").
runs() {
        local exe
        exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
        [ "$exe" = "$2" ] || [ "$exe" = "$2 (deleted)" ]
}

# TERM the process PID and wait up to SECONDS for it to go.
stop_pid() {
        local pid="$1" what="$2" secs="$3" i
        kill -TERM "$pid" 2>/dev/null || return 0
        for ((i = 0; i < secs * 10; i++)); do
                kill -0 "$pid" 2>/dev/null || { echo "stopped $what (pid $pid)"; return 0; }
                sleep 0.1
        done
        echo "$what (pid $pid) did not stop in $secs s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
}

# Stop and remove pod POD. StopPodSandbox is retried once, as the kubelet
# would: a CNI DEL can fail half-way (Debian 12's bridge plugin does when the
# pod's masquerade chain was deleted behind its back, by a firewall reload or
# flush) and the retry finishes the teardown.
remove_pod() {
        local pod="$1"
        if ! ocic stopp "$pod" >/dev/null; then
                sleep 1
                echo "retrying: ocic stopp $pod"
                ocic stopp "$pod" >/dev/null || return 1
        fi
        ocic rmp "$pod" >/dev/null
}

failed=0
# The demo pod first, while ocid runs: StopPodSandbox stops the container and
# releases the pod's network (CNI DEL: IP, iptables rules).
if [ -S /run/ocid/ocid.sock ] && ocic version >/dev/null 2>&1; then
        for pod in $(ocic pods -q --label app=example); do
                if remove_pod "$pod"; then
                        echo "removed the demo pod $pod"
                else
                        echo "could not remove the demo pod $pod: stopping the rest anyway" >&2
                        failed=1
                fi
        done
        # Its logs (contrib/pod-example.yaml's log_directory), as the kubelet
        # removes a deleted pod's logs.
        if [ "$failed" = 0 ]; then
                rm -rf /var/log/ocid/pods/example
        fi
        others="$(ocic pods -q)"
        if [ -n "$others" ]; then
                echo "other pods remain (their containers keep running under conmon without ocid):"
                ocic pods
        fi
fi

# ocid: its PID is in the lock file beside the socket (held while it runs).
pid="$(cat "$OCID_LOCK" 2>/dev/null || true)"
if [ -n "$pid" ] && runs "$pid" /usr/local/bin/ocid; then
        stop_pid "$pid" ocid 30
else
        echo "ocid is not running"
fi

# The registry, by the PID run-ocid.sh recorded, only if it is still that one.
pid="$(cat "$REGISTRY_PIDFILE" 2>/dev/null || true)"
if [ -n "$pid" ] && runs "$pid" /usr/bin/docker-registry &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF " $REGISTRY_CONF"; then
        stop_pid "$pid" "the demo registry" 10
else
        echo "the demo registry is not running"
fi
rm -f "$REGISTRY_PIDFILE"

# The bridge of the default network (contrib/10-ocid-bridge.conflist), once
# no address on it is allocated any more.
if ip link show ocid0 >/dev/null 2>&1 &&
        [ -z "$(find /var/lib/cni/networks/ocid -maxdepth 1 -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null)" ]; then
        ip link delete ocid0
        echo "deleted the ocid0 bridge"
fi
exit "$failed"
