# A private CNI test network for the pod tests, built from Debian's
# containernetworking-plugins (/usr/lib/cni): bridge + host-local, loopback,
# portmap. Traffic never leaves the machine:
#   - the subnet (10.2xx.0.0/24, chosen per test file) is used by nothing
#     but the pods the tests create;
#   - ipMasq is false;
#   - an iptables rule drops anything forwarded from the test bridge to any
#     other interface; it is removed at teardown, with the bridge.
#
# Usage (per test, after prepare_ocid_dirs):
#   cni_net_setup 241        # subnet 10.241.0.0/24, bridge ocidt$$
#   cni_write_conflist       # [extra plugins JSON array], see below
#   start_ocid $(cni_ocid_flags)
#   ...
#   cni_net_teardown         # in teardown(), after the pods are gone
#
# Sets CNI_BRIDGE, CNI_NET, CNI_PREFIX (e.g. 10.241.0), CNI_SUBNET,
# CNI_GATEWAY, CNI_DATA_DIR (host-local's store), CNI_PLUGIN_DIR (test
# plugins), CNI_FWD_COMMENT.

CNI_SYSTEM_PLUGINS="${CNI_SYSTEM_PLUGINS:-/usr/lib/cni}"

cni_net_setup() {
        local octet="$1"
        CNI_BRIDGE="ocidt$$"
        CNI_NET="ocidtest-$$"
        CNI_PREFIX="10.$octet.0"
        CNI_SUBNET="$CNI_PREFIX.0/24"
        CNI_GATEWAY="$CNI_PREFIX.1"
        CNI_DATA_DIR="$TEST_DIR/cni-ipam"
        CNI_PLUGIN_DIR="$TEST_DIR/cni-plugins"
        CNI_FWD_COMMENT="ocid-test $CNI_BRIDGE: no traffic leaves the test network"
        export CNI_BRIDGE CNI_NET CNI_PREFIX CNI_SUBNET CNI_GATEWAY CNI_DATA_DIR CNI_PLUGIN_DIR CNI_FWD_COMMENT
        # Another run using the same subnet would make the routes ambiguous.
        if ip -4 route show | grep -q "^$CNI_PREFIX\.0/24 "; then
                echo "subnet $CNI_SUBNET is already routed on this machine:" >&2
                ip -4 route show | grep "^$CNI_PREFIX\.0/24 " >&2
                return 1
        fi
        mkdir -p "$CNI_DATA_DIR" "$CNI_PLUGIN_DIR"
        iptables -I FORWARD -i "$CNI_BRIDGE" ! -o "$CNI_BRIDGE" \
                -m comment --comment "$CNI_FWD_COMMENT" -j DROP
}

# Flags for start_ocid: Debian's plugins and this test's own.
cni_ocid_flags() {
        echo "--cni-plugin-dir $CNI_SYSTEM_PLUGINS --cni-plugin-dir $CNI_PLUGIN_DIR"
}

# The standard chain as a JSON array: bridge (host-local IPAM), loopback,
# portmap.
cni_default_plugins() {
        jq -cn --arg br "$CNI_BRIDGE" --arg subnet "$CNI_SUBNET" --arg gw "$CNI_GATEWAY" \
                --arg data "$CNI_DATA_DIR" '[
                {type: "bridge", bridge: $br, isGateway: true, ipMasq: false, hairpinMode: true,
                 ipam: {type: "host-local", dataDir: $data,
                        ranges: [[{subnet: $subnet, gateway: $gw}]],
                        routes: [{dst: $subnet}]}},
                {type: "loopback"},
                {type: "portmap", capabilities: {portMappings: true}, snat: true}]'
}

# cni_write_conflist [EXTRA_PLUGINS_JSON_ARRAY]: write the test network as
# $OCID_CNI_DIR/10-ocidtest.conflist (atomically), the default chain with
# the extra plugins appended.
cni_write_conflist() {
        local extra="${1:-[]}"
        jq -n --arg name "$CNI_NET" --argjson p "$(cni_default_plugins)" --argjson x "$extra" \
                '{cniVersion: "1.0.0", name: $name, plugins: ($p + $x)}' \
                >"$OCID_CNI_DIR/.10-ocidtest.tmp"
        mv -f "$OCID_CNI_DIR/.10-ocidtest.tmp" "$OCID_CNI_DIR/10-ocidtest.conflist"
}

# cni_write_test_plugin NAME: a plugin that fails or hangs in ADD, and
# succeeds in DEL (so the undo can run), configured by its own keys:
#   "fail": ADD prints a CNI error object with this message and exits 1
#   "hang": ADD sleeps this many seconds (in a child, so that both the
#           plugin and its child must be killed)
#   "pidfile": ADD writes its pid (= its process group) there first, then
#              the pid of its sleeping child
# Every invocation appends "COMMAND CONTAINERID" to $CNI_PLUGIN_DIR/NAME.log.
cni_write_test_plugin() {
        local name="$1"
        cat >"$CNI_PLUGIN_DIR/.$name.tmp" <<'PLUGIN'
#!/bin/sh
conf=$(cat)
get() { printf '%s' "$conf" | /usr/bin/jq -r --arg k "$1" '.[$k] // empty'; }
echo "$CNI_COMMAND $CNI_CONTAINERID" >>"$0.log"
case "$CNI_COMMAND" in
VERSION)
        echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
        ;;
ADD)
        pidfile=$(get pidfile)
        [ -n "$pidfile" ] && echo $$ >"$pidfile"
        secs=$(get hang)
        if [ -n "$secs" ]; then
                sleep "$secs" &
                [ -n "$pidfile" ] && echo $! >>"$pidfile"
                wait
        fi
        msg=$(get fail)
        if [ -n "$msg" ]; then
                /usr/bin/jq -cn --arg m "$msg" '{cniVersion:"1.0.0",code:999,msg:$m,details:"from the ocid test plugin"}'
                exit 1
        fi
        # Pass the previous result through.
        printf '%s' "$conf" | /usr/bin/jq -c '.prevResult'
        ;;
DEL|CHECK)
        ;;
*)
        /usr/bin/jq -cn --arg c "$CNI_COMMAND" '{cniVersion:"1.0.0",code:4,msg:("unsupported command " + $c)}'
        exit 1
        ;;
esac
exit 0
PLUGIN
        chmod 0755 "$CNI_PLUGIN_DIR/.$name.tmp"
        mv -f "$CNI_PLUGIN_DIR/.$name.tmp" "$CNI_PLUGIN_DIR/$name"
}

# Live (not zombie) processes of the test plugin whose pidfile is $1: the
# members of the process group it names (ocid runs each plugin in a group
# of its own).
cni_plugin_alive() {
        local g
        g="$(head -n 1 "$1" 2>/dev/null)"
        [ -n "$g" ] || return 0
        ps -e -o pid=,pgid=,stat= | awk -v g="$g" '$2 == g && $3 !~ /^Z/ { print $1 }'
}

# IPs host-local holds in this test's store (one per line).
cni_allocated_ips() {
        find "$CNI_DATA_DIR" -type f -printf '%f\n' 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' || true
}

# iptables rules (all tables of the nft variant) whose text contains $1.
cni_rules_matching() {
        local t
        for t in filter nat mangle raw; do
                iptables-save -t "$t" 2>/dev/null | grep -F -- "$1" || true
        done
}

# Best effort after a failed test: remove the portmap rules and chains whose
# rule text has $1 (a pod ID, or the network's name as portmap's comments
# quote it: \"NAME\"); the daemon should have, but the machine must stay clean.
cni_purge_pod_rules() {
        local id="$1" lines chains c
        lines="$(iptables-save -t nat | grep -F -- "$id" | grep '^-A ' || true)"
        [ -n "$lines" ] || return 0
        chains="$(sed -n 's/.* -j \(CNI-[A-Z]*-[0-9a-f]*\).*/\1/p' <<<"$lines" | sort -u)"
        {
                echo '*nat'
                sed 's/^-A /-D /' <<<"$lines"
                for c in $chains; do
                        echo "-F $c"
                        echo "-X $c"
                done
                echo COMMIT
        } | iptables-restore --noflush || true
}

# Mount points under this test's directory, from the test's (= the
# daemon's) mount namespace.
cni_mounts_under() {
        awk -v d="$1" 'index($5, d "/") == 1 || $5 == d { print $5 }' /proc/self/mountinfo
}

# Interfaces enslaved to the test bridge (the host ends of pods' veths).
cni_bridge_ports() {
        ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//'
}

# Undo cni_net_setup: the bridge, the FORWARD rule, leftovers of a failed
# test (mounts under TEST_DIR, plugin processes). Call after the daemon's
# pods are removed.
cni_net_teardown() {
        [ -n "${CNI_BRIDGE:-}" ] || return 0
        local m
        if [ -n "${TEST_DIR:-}" ]; then
                # Plugins left running by a failed test (they run in their own
                # process group; the pidfiles name the groups).
                for m in "$TEST_DIR"/*.pid; do
                        [ -f "$m" ] || continue
                        # shellcheck disable=SC2046
                        kill -KILL $(cni_plugin_alive "$m") 2>/dev/null || true
                done
                for m in $(cni_mounts_under "$TEST_DIR" | sort -r); do
                        umount -l "$m" 2>/dev/null || true
                done
        fi
        cni_purge_pod_rules "\\\"$CNI_NET\\\""
        ip link del "$CNI_BRIDGE" 2>/dev/null || true
        while iptables -D FORWARD -i "$CNI_BRIDGE" ! -o "$CNI_BRIDGE" \
                -m comment --comment "$CNI_FWD_COMMENT" -j DROP 2>/dev/null; do :; done
        CNI_BRIDGE=
}

# ---- pods -------------------------------------------------------------------

# pod_config FILE NAME [JQ_EXPR [ARGS...]]: write a crictl-style pod config
# as JSON, modified by the jq expression (given extra jq args).
pod_config() {
        local file="$1" name="$2" expr="${3:-.}"
        shift 3 2>/dev/null || shift $#
        jq -n --arg name "$name" --arg uid "uid-$name-$$" "$@" '{
                metadata: {name: $name, namespace: "ocid-test", uid: $uid, attempt: 1},
                hostname: $name,
                log_directory: "/tmp",
                dns_config: {servers: ["10.0.0.10"], searches: ["test.svc.local", "svc.local"],
                             options: ["ndots:3", "edns0"]},
                labels: {app: $name, tier: "test"},
                annotations: {"ocid.test/owner": "pod.bats"},
                linux: {cgroup_parent: "/ocid-test"}
        } | '"$expr" >"$file"
}

# pod_ns ID KIND: the pinned namespace file (network, ipc, uts).
pod_ns() {
        ocic inspectp "$1" | jq -r --arg k "$2" '.info.namespaces[$k]'
}

# pod_rundir ID
pod_rundir() {
        ocic inspectp "$1" | jq -r '.info.runDir'
}

# assert_pod_gone ID RUNDIR [IP]: the checks of "leaks are failures" for one
# pod after stop + remove (or a failed RunPodSandbox): no mount under its run
# directory, no directory, no IP in host-local's store, no iptables rule
# naming it, no veth left on the bridge for it, no cgroup named after it.
assert_pod_gone() {
        local id="$1" dir="$2" ip="${3:-}" left
        left="$(cni_mounts_under "$dir")"
        [ -z "$left" ] || { echo "mounts left: $left" >&2; return 1; }
        [ ! -e "$dir" ] || { echo "run directory left: $(ls -la "$dir")" >&2; return 1; }
        left="$(find "$TEST_DIR/run" "$TEST_DIR/root" -name "*$id*" 2>/dev/null)"
        [ -z "$left" ] || { echo "files left: $left" >&2; return 1; }
        left="$(grep -rlF -- "$id" "$CNI_DATA_DIR" 2>/dev/null || true)"
        [ -z "$left" ] || { echo "host-local still holds: $left" >&2; return 1; }
        if [ -n "$ip" ] && [ -e "$CNI_DATA_DIR/$CNI_NET/$ip" ]; then
                echo "IP $ip still allocated" >&2
                return 1
        fi
        left="$(cni_rules_matching "$id")"
        [ -z "$left" ] || { echo "iptables rules left: $left" >&2; return 1; }
        left="$(find /sys/fs/cgroup -maxdepth 4 -name "*$id*" 2>/dev/null | head -5)"
        [ -z "$left" ] || { echo "cgroups left: $left" >&2; return 1; }
        return 0
}

# wait_bridge_empty: the host ends of the pods' veths disappear once their
# netns is released; the kernel does this asynchronously.
wait_bridge_empty() {
        local i
        for i in $(seq 1 50); do
                [ -z "$(cni_bridge_ports)" ] && return 0
                sleep 0.1
        done
        echo "veths still on $CNI_BRIDGE: $(cni_bridge_ports | tr '\n' ' ')" >&2
        return 1
}

# ---- per-test setup shared by pod.bats and pod-network.bats ------------------

# pod_test_setup OCTET [OCID FLAGS...]: fresh dirs, the test network on
# 10.OCTET.0.0/24 with its conflist written, and a daemon using it.
pod_test_setup() {
        local octet="$1"
        shift
        prepare_ocid_dirs
        cni_net_setup "$octet"
        cni_write_conflist
        # shellcheck disable=SC2046
        start_ocid $(cni_ocid_flags) "$@"
}

# In teardown(): remove what the test left (pods through the daemon, then
# by hand whatever the daemon could not), the network, the daemon.
pod_test_teardown() {
        local ids id
        if [ -n "${OCID_PID:-}" ] && kill -0 "$OCID_PID" 2>/dev/null; then
                ids="$("$OCIC" pods -q 2>/dev/null || true)"
                "$OCIC" -t 60s rmp -a >/dev/null 2>&1 || true
        fi
        # Rules of pods the daemon lost track of too (their directories).
        [ -n "${TEST_DIR:-}" ] && ids="$ids $(ls "$TEST_DIR/run/pods" 2>/dev/null)"
        for id in $ids; do
                cni_purge_pod_rules "$id"
        done
        cni_net_teardown
        stop_ocid
}

# restart_ocid [SIGNAL]: stop the daemon with SIGNAL (TERM), keeping its
# directories, and start it again on them.
restart_ocid() {
        local sig="${1:-TERM}"
        kill "-$sig" "$OCID_PID"
        wait "$OCID_PID" 2>/dev/null || true
        OCID_PID=
        # shellcheck disable=SC2046
        start_ocid $(cni_ocid_flags)
}
