#!/usr/bin/env bash
# Set up everything and run ocid with a working default configuration:
# installs the packages, builds, installs the binaries and a default config,
# starts ocid on /run/ocid/ocid.sock and shows it answering.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }

scripts/install-deps.sh
scripts/host-setup.sh
scripts/build.sh build
install -m 0755 build/src/daemon/ocid /usr/local/bin/ocid
install -m 0755 build/src/ocic/ocic /usr/local/bin/ocic
install -D -m 0755 build/src/pause/pause /usr/local/libexec/ocid/pause
mkdir -p /etc/ocid/ocid.conf.d /etc/cni/net.d
[ -f /etc/ocid/ocid.conf ] || /usr/local/bin/ocid config >/etc/ocid/ocid.conf
# A default pod network, only when the node has none.
if [ -z "$(ls /etc/cni/net.d 2>/dev/null)" ]; then
        install -m 0644 contrib/10-ocid-bridge.conflist /etc/cni/net.d/10-ocid-bridge.conflist
fi

if [ -S /run/ocid/ocid.sock ] && ocic version >/dev/null 2>&1; then
        echo "ocid is already running"
else
        mkdir -p /var/log/ocid
        nohup /usr/local/bin/ocid >>/var/log/ocid/ocid.log 2>&1 &
        echo "ocid started (pid $!), log in /var/log/ocid/ocid.log"
        for _ in $(seq 1 100); do
                ocic version >/dev/null 2>&1 && break
                sleep 0.1
        done
fi
ocic version
# Show a pod running: the example pod, created once.
if [ -z "$(ocic pods -q --label app=example)" ]; then
        ocic runp contrib/pod-example.yaml
fi
ocic pods
