#!/usr/bin/env bats
# Pod sandboxes (issue 4) through ocic against the real daemon: run, status,
# list, stop, remove; namespaces, hostname, DNS, hosts, /dev/shm, sysctls;
# host namespaces; bad configs; restarts; nothing leaked.
#
# Each test has its own ocid, its own test network (cni.bash: a bridge named
# ocidt<pid> on 10.241.0.0/24, host-local's store in TEST_DIR, traffic
# from the bridge to other interfaces dropped) and cleans both up.
# Networking between pods and host ports: pod-network.bats.

bats_require_minimum_version 1.5.0

load helpers
load cni

setup_file() {
        export PY_GEN="$(mktemp -d /tmp/ocid-pod-py.XXXXXX)"
        protoc -I "$OCID_SOURCE_DIR/proto" --python_out="$PY_GEN" runtime/v1/api.proto
}

teardown_file() {
        rm -rf "$PY_GEN"
}

setup() {
        pod_test_setup 241
}

teardown() {
        show_log_on_failure
        pod_test_teardown
}

# The independent Python client (interop/cri_client.py): one JSON object
# with the gRPC code.
pyc() {
        "$PYTHON" "$BATS_TEST_DIRNAME/interop/cri_client.py" --gen-dir "$PY_GEN" --socket "$OCID_SOCK" "$@"
}

# jq -e over $output, showing it when it does not hold.
check() {
        if ! jq -e "$@" >/dev/null <<<"$output"; then
                echo "expected: $*" >&2
                echo "output:   $output" >&2
                return 1
        fi
}

# run_pod NAME [JQ_EXPR [JQ ARGS...]]: write a config and runp it; ID in $POD_ID.
run_pod() {
        local name="$1"
        shift
        pod_config "$TEST_DIR/$name.json" "$name" "$@"
        POD_ID="$(ocic runp "$TEST_DIR/$name.json")"
        [ ${#POD_ID} -eq 64 ]
}

# Nothing of a pod that never came to be: no directory or mount under the
# run dir, no IP in host-local's store, no pod listed.
assert_nothing_made() {
        [ -z "$(ls -A "$TEST_DIR/run/pods")" ] || { ls -la "$TEST_DIR/run/pods" >&2; return 1; }
        [ -z "$(cni_mounts_under "$TEST_DIR")" ] || { cni_mounts_under "$TEST_DIR" >&2; return 1; }
        [ -z "$(cni_allocated_ips)" ] || { cni_allocated_ips >&2; return 1; }
        [ -z "$(ocic pods -q)" ] || { ocic pods >&2; return 1; }
        [ -z "$(cni_rules_matching "$CNI_PREFIX.")" ]
}

@test "runp returns an ID; pods lists it Ready with its name, namespace and attempt" {
        run_pod web
        run ocic pods
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 2 ]
        [[ "${lines[0]}" == "POD ID"*"CREATED"*"STATE"*"NAME"*"NAMESPACE"*"ATTEMPT"*"RUNTIME"* ]]
        read -r shown _ <<<"${lines[1]}"
        [ "$shown" = "${POD_ID:0:13}" ]
        [[ "${lines[1]}" =~ [[:space:]]Ready[[:space:]]+web[[:space:]]+ocid-test[[:space:]]+1[[:space:]]+crun ]]
        run ocic pods -o json
        check --arg id "$POD_ID" '.items | length == 1 and .[0].id == $id and .[0].state == "SANDBOX_READY"
                and .[0].metadata == {name: "web", uid: .[0].metadata.uid, namespace: "ocid-test", attempt: 1}'
}

@test "inspectp shows state, createdAt, the IP in the test subnet, labels, annotations, handler, namespace options" {
        local before after
        before="$(date +%s%N)"
        run_pod web '.linux.security_context = {namespace_options: {network: 0, pid: 1, ipc: 0}}'
        after="$(date +%s%N)"
        run ocic inspectp "$POD_ID"
        [ "$status" -eq 0 ]
        check --arg id "$POD_ID" '.status.id == $id and .status.state == "SANDBOX_READY"'
        check '.status.metadata == {name: "web", uid: .status.metadata.uid, namespace: "ocid-test", attempt: 1}'
        local created ip
        created="$(jq -r .status.createdAt <<<"$output")"
        [ "$created" -ge "$before" ] && [ "$created" -le "$after" ]
        ip="$(jq -r .status.network.ip <<<"$output")"
        [[ "$ip" == "$CNI_PREFIX".* ]]
        [ "$ip" != "$CNI_GATEWAY" ]
        check '.status.network.additionalIps == []'
        check '.status.labels == {app: "web", tier: "test"}'
        check '.status.annotations == {"ocid.test/owner": "pod.bats"}'
        check '.status.runtimeHandler == "crun"'
        check '.status.linux.namespaces.options | .network == "POD" and .pid == "CONTAINER" and .ipc == "POD"'
}

@test "inspectp verbose info: namespace paths, CNI result, cgroup parent, network name" {
        run_pod web
        run ocic inspectp "$POD_ID"
        [ "$status" -eq 0 ]
        local dir="$TEST_DIR/run/pods/$POD_ID"
        check --arg d "$dir" '.info.runDir == $d'
        check --arg d "$dir" '.info.namespaces == {network: ($d + "/net"), ipc: ($d + "/ipc"), uts: ($d + "/uts")}'
        check '.info.cgroupParent == "/ocid-test" and .info.runtimeHandler == "crun"'
        check --arg n "$CNI_NET" '.info.network == $n'
        # The CNI result is the chain's: the bridge's interfaces, the IP.
        check --arg ip "$(jq -r .status.network.ip <<<"$output")" --arg gw "$CNI_GATEWAY" \
                '.info.cniResult.ips[0] | .address == ($ip + "/24") and .gateway == $gw'
        check --arg br "$CNI_BRIDGE" --arg d "$dir" '.info.cniResult.interfaces
                | (map(.name) | index($br)) != null and (map(select(.name == "eth0"))[0].sandbox == ($d + "/net"))'
        # The pinned files are nsfs bind mounts of three distinct namespaces.
        local kind
        for kind in net ipc uts; do
                [ "$(findmnt -n -o FSTYPE "$dir/$kind")" = nsfs ]
        done
        [ "$(stat -L -c %i "$dir/net")" != "$(stat -L -c %i /proc/self/ns/net)" ]
}

@test "--runtime runc is kept; an unknown handler fails with a clear error and makes nothing" {
        pod_config "$TEST_DIR/r.json" r
        POD_ID="$(ocic runp --runtime runc "$TEST_DIR/r.json")"
        run ocic inspectp "$POD_ID"
        check '.status.runtimeHandler == "runc" and .info.runtimeHandler == "runc"'
        run ocic pods
        [[ "${lines[1]}" == *" runc" ]]
        ocic rmp "$POD_ID"

        pod_config "$TEST_DIR/k.json" k
        run ocic runp --runtime kata "$TEST_DIR/k.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"unknown runtime handler 'kata' (configured: crun, runc)"* ]]
        assert_nothing_made
        run pyc call RunPodSandbox "$(jq -c '{config: ., runtime_handler: "kata"}' "$TEST_DIR/k.json")"
        check '.code == "INVALID_ARGUMENT"'
        assert_nothing_made
}

@test "the pod's netns has eth0 with its IP and lo up" {
        run_pod web
        local ip ns
        ip="$(ocic inspectp "$POD_ID" | jq -r .status.network.ip)"
        ns="$(pod_ns "$POD_ID" network)"
        run nsenter --net="$ns" ip -o -4 addr show dev eth0
        [ "$status" -eq 0 ]
        [[ "$output" == *" inet $ip/24 "* ]]
        run nsenter --net="$ns" ip -o link show dev eth0
        [[ "$output" == *"state UP"* ]]
        run nsenter --net="$ns" ip -o addr show dev lo
        [[ "$output" == *"inet 127.0.0.1/8"* ]]
        run nsenter --net="$ns" ip -o link show dev lo
        [[ "$output" == *"<LOOPBACK,UP,LOWER_UP>"* ]]
        # Exactly lo and eth0, and the route to the test subnet only.
        [ "$(nsenter --net="$ns" ip -o link show | wc -l)" -eq 2 ]
        run nsenter --net="$ns" ip -4 route show
        [[ "$output" == *"$CNI_PREFIX.0/24"* ]]
        [[ "$output" != *default* ]]
}

@test "the hostname is set in the pod's UTS namespace, not the host's" {
        run_pod web '.hostname = "web-host.example"'
        local uts
        uts="$(pod_ns "$POD_ID" uts)"
        [ "$(nsenter --uts="$uts" hostname)" = web-host.example ]
        [ "$(hostname)" != web-host.example ]
        [ "$(cat "$(pod_rundir "$POD_ID")/hostname")" = web-host.example ]
        # Without a hostname, the pod's name.
        run_pod noname 'del(.hostname)'
        [ "$(nsenter --uts="$(pod_ns "$POD_ID" uts)" hostname)" = noname ]
}

@test "the DNS config lands in the pod's resolv.conf" {
        run_pod web
        run cat "$(pod_rundir "$POD_ID")/resolv.conf"
        [ "$status" -eq 0 ]
        [ "${lines[0]}" = "nameserver 10.0.0.10" ]
        [ "${lines[1]}" = "search test.svc.local svc.local" ]
        [ "${lines[2]}" = "options ndots:3 edns0" ]
        [ "${#lines[@]}" -eq 3 ]
        # Two servers, no searches or options.
        run_pod two '.dns_config = {servers: ["10.0.0.10", "10.0.0.11"]}'
        run cat "$(pod_rundir "$POD_ID")/resolv.conf"
        [ "$output" = $'nameserver 10.0.0.10\nnameserver 10.0.0.11' ]
}

@test "the hosts file maps the pod's IP to its hostname" {
        run_pod web '.hostname = "web-1"'
        local ip
        ip="$(ocic inspectp "$POD_ID" | jq -r .status.network.ip)"
        run cat "$(pod_rundir "$POD_ID")/hosts"
        [[ "$output" == *$'127.0.0.1\tlocalhost'* ]]
        grep -qxP "$ip\tweb-1" <<<"$output"
}

@test "/dev/shm is a tmpfs mounted at runDir/shm" {
        run_pod web
        local shm
        shm="$(pod_rundir "$POD_ID")/shm"
        run findmnt -n -o FSTYPE,OPTIONS "$shm"
        [ "$status" -eq 0 ]
        [[ "$output" == tmpfs* ]]
        [[ "$output" == *nosuid* && "$output" == *nodev* && "$output" == *noexec* ]]
        [[ "$output" == *size=65536k* ]]
        [ "$(stat -c %a "$shm")" = 1777 ]
        # Stop unmounts it.
        ocic stopp "$POD_ID"
        ! findmnt -n "$shm"
}

@test "namespaced sysctls are applied inside the pod's namespaces only" {
        local host_port host_shm
        host_port="$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
        host_shm="$(cat /proc/sys/kernel/shm_rmid_forced)"
        run_pod web '.linux.sysctls = {"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"}'
        [ "$(nsenter --net="$(pod_ns "$POD_ID" network)" cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" = 80 ]
        [ "$(nsenter --ipc="$(pod_ns "$POD_ID" ipc)" cat /proc/sys/kernel/shm_rmid_forced)" = 1 ]
        # The host's values are untouched.
        [ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" = "$host_port" ]
        [ "$(cat /proc/sys/kernel/shm_rmid_forced)" = "$host_shm" ]
}

@test "a non-namespaced sysctl is refused with a clear error and leaves nothing" {
        local panic
        panic="$(cat /proc/sys/kernel/panic)"
        pod_config "$TEST_DIR/s.json" s '.linux.sysctls = {"kernel.panic": "77"}'
        run ocic runp "$TEST_DIR/s.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"sysctl 'kernel.panic' is not namespaced and cannot be set for a pod"* ]]
        [ "$(cat /proc/sys/kernel/panic)" = "$panic" ]
        assert_nothing_made
        # A network sysctl for a pod on the host's network is refused too.
        pod_config "$TEST_DIR/h.json" h '.linux.sysctls = {"net.ipv4.ip_unprivileged_port_start": "80"}
                | .linux.security_context = {namespace_options: {network: 2, pid: 1}}'
        run ocic runp "$TEST_DIR/h.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"sysctl 'net.ipv4.ip_unprivileged_port_start' needs the pod's own network namespace"* ]]
        assert_nothing_made
        # And one the kernel does not have.
        pod_config "$TEST_DIR/n.json" n '.linux.sysctls = {"net.ipv4.no_such_sysctl": "1"}'
        run ocic runp "$TEST_DIR/n.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"sysctl 'net.ipv4.no_such_sysctl'"* ]]
        assert_nothing_made
}

@test "a host-network pod: no CNI, no net pin, the host's IP; host IPC: no /dev/shm mount" {
        local ports_before
        ports_before="$(cni_bridge_ports | wc -l)"
        run_pod hostnet '.linux.security_context = {namespace_options: {network: 2, pid: 1, ipc: 2}}'
        run ocic inspectp "$POD_ID"
        [ "$status" -eq 0 ]
        check '.status.state == "SANDBOX_READY"'
        check '.status.linux.namespaces.options | .network == "NODE" and .ipc == "NODE"'
        check '.info.namespaces.network == "host" and .info.namespaces.ipc == "host" and .info.namespaces.uts == "host"'
        check '.info.cniResult == null and (.info | has("network") | not)'
        local ip dir
        ip="$(jq -r .status.network.ip <<<"$output")"
        dir="$(jq -r .info.runDir <<<"$output")"
        # One of the host's own addresses.
        [ -n "$ip" ]
        ip -o addr show | grep -qw -- "inet6\? $ip"
        # No namespace pinned, no shm, nothing from CNI.
        [ ! -e "$dir/net" ] && [ ! -e "$dir/ipc" ] && [ ! -e "$dir/uts" ]
        [ -z "$(cni_mounts_under "$dir")" ]
        [ -z "$(cni_allocated_ips)" ]
        [ "$(cni_bridge_ports | wc -l)" -eq "$ports_before" ]
        # The host's hostname is the pod's.
        [ "$(cat "$dir/hostname")" = "$(hostname)" ]
        ocic rmp "$POD_ID"
        [ ! -e "$dir" ]

        # Host network only: the pod still has its IPC namespace and /dev/shm.
        run_pod hostnet2 '.linux.security_context = {namespace_options: {network: 2, pid: 1}}'
        dir="$(pod_rundir "$POD_ID")"
        [ ! -e "$dir/net" ]
        [ "$(findmnt -n -o FSTYPE "$dir/ipc")" = nsfs ]
        [ "$(findmnt -n -o FSTYPE "$dir/shm")" = tmpfs ]
        # Host IPC only: its own network (an IP from the test subnet), no shm.
        run_pod hostipc '.linux.security_context = {namespace_options: {ipc: 2, pid: 1}}'
        dir="$(pod_rundir "$POD_ID")"
        [[ "$(ocic inspectp "$POD_ID" | jq -r .status.network.ip)" == "$CNI_PREFIX".* ]]
        [ ! -e "$dir/ipc" ] && [ ! -e "$dir/shm" ]
        [ -z "$(cni_mounts_under "$dir" | grep -v -e '/net$' -e '/uts$')" ]
}

@test "a second runp with the same metadata fails with 'already exists' naming the existing ID" {
        run_pod web
        local first="$POD_ID"
        run ocic runp "$TEST_DIR/web.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"pod sandbox 'web' in namespace 'ocid-test'"*"already exists with id $first"* ]]
        [ "$(ocic pods -q)" = "$first" ]
        [ "$(ls "$TEST_DIR/run/pods")" = "$first" ]
        [ "$(cni_allocated_ips | wc -l)" -eq 1 ]
        run pyc call RunPodSandbox "$(jq -c '{config: .}' "$TEST_DIR/web.json")"
        check '.code == "ALREADY_EXISTS"'
        # Another attempt of the same pod is a different sandbox.
        run_pod web '.metadata.attempt = 2'
        [ "$POD_ID" != "$first" ]
        [ "$(ocic pods -q | wc -l)" -eq 2 ]
}

@test "invalid config: no metadata name is refused clearly and makes nothing" {
        pod_config "$TEST_DIR/n.json" x 'del(.metadata.name)'
        run ocic runp "$TEST_DIR/n.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"pod sandbox metadata needs a name, a namespace and a uid"* ]]
        pod_config "$TEST_DIR/m.json" x 'del(.metadata)'
        run ocic runp "$TEST_DIR/m.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"pod sandbox config without metadata"* ]]
        run pyc call RunPodSandbox "$(jq -c '{config: .}' "$TEST_DIR/n.json")"
        check '.code == "INVALID_ARGUMENT"'
        assert_nothing_made
}

@test "invalid config: a bad hostname is refused clearly and makes nothing" {
        pod_config "$TEST_DIR/h.json" h '.hostname = "bad_host!"'
        run ocic runp "$TEST_DIR/h.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"invalid hostname 'bad_host!'"* ]]
        pod_config "$TEST_DIR/l.json" l '.hostname = $h' --arg h "$(printf 'a%.0s' $(seq 1 64))"
        run ocic runp "$TEST_DIR/l.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"invalid hostname"* ]]
        assert_nothing_made
}

@test "invalid config: a bad cgroup parent is refused clearly and makes nothing" {
        pod_config "$TEST_DIR/c.json" c '.linux.cgroup_parent = "not-a-path"'
        run ocic runp "$TEST_DIR/c.json"
        [ "$status" -ne 0 ]
        [[ "$output" == *"cgroup parent 'not-a-path' is neither a cgroupfs path nor a systemd slice"* ]]
        assert_nothing_made
        # The systemd form is taken and kept.
        run_pod slice '.linux.cgroup_parent = "kubepods-besteffort.slice"'
        [ "$(ocic inspectp "$POD_ID" | jq -r .info.cgroupParent)" = kubepods-besteffort.slice ]
}

@test "YAML pod configs: one with an unknown field is refused naming the field; a valid one runs" {
        cat >"$TEST_DIR/bad.yaml" <<'YAML'
metadata:
  name: y1
  namespace: ocid-test
  uid: y1-uid
hostname: y1
not_a_field: 3
YAML
        run ocic runp "$TEST_DIR/bad.yaml"
        [ "$status" -ne 0 ]
        [[ "$output" == *"bad.yaml: not_a_field: unknown field"* ]]
        assert_nothing_made
        cat >"$TEST_DIR/good.yaml" <<'YAML'
metadata:
  name: y1
  namespace: ocid-test
  uid: y1-uid
  attempt: 3
hostname: y1
labels:
  app: yaml
dnsConfig:
  servers: [10.0.0.53]
linux:
  security_context:
    namespace_options:
      pid: CONTAINER
YAML
        run ocic runp "$TEST_DIR/good.yaml"
        [ "$status" -eq 0 ]
        POD_ID="$output"
        run ocic inspectp "$POD_ID"
        check '.status.metadata.attempt == 3 and .status.labels == {app: "yaml"}'
        check '.status.linux.namespaces.options.pid == "CONTAINER"'
        [ "$(cat "$(pod_rundir "$POD_ID")/resolv.conf")" = "nameserver 10.0.0.53" ]
}

@test "stopp is idempotent; stopp and rmp of an unknown ID succeed; rmp -a removes all" {
        run_pod a
        local a="$POD_ID" dir
        dir="$(pod_rundir "$a")"
        run ocic stopp "$a"
        [ "$status" -eq 0 ]
        [ "$output" = "Stopped sandbox \"$a\"" ]
        run ocic stopp "$a"
        [ "$status" -eq 0 ]
        run ocic inspectp "$a"
        check '.status.state == "SANDBOX_NOTREADY"'
        # Stopped: no mounts, no IP, but the record and directory stay.
        [ -z "$(cni_mounts_under "$dir")" ]
        [ -z "$(cni_allocated_ips)" ]
        [ -d "$dir" ]
        # The handler turns NotFound into success (as the kubelet expects).
        run ocic stopp 0123456789abcdef
        [ "$status" -eq 0 ]
        run pyc call StopPodSandbox '{"pod_sandbox_id": "0123456789abcdef"}'
        check '.code == "OK"'
        run ocic rmp 0123456789abcdef
        [ "$status" -eq 0 ]
        run pyc call RemovePodSandbox '{"pod_sandbox_id": "0123456789abcdef"}'
        check '.code == "OK"'
        # Status of an unknown pod is NotFound.
        run ocic inspectp 0123456789abcdef
        [ "$status" -ne 0 ]
        [[ "$output" == *"pod sandbox '0123456789abcdef' not found"* ]]
        run pyc call PodSandboxStatus '{"pod_sandbox_id": "0123456789abcdef"}'
        check '.code == "NOT_FOUND"'
        # An empty ID is not an ID.
        run pyc call StopPodSandbox '{"pod_sandbox_id": ""}'
        check '.code == "INVALID_ARGUMENT"'

        run_pod b
        run_pod c
        run ocic rmp -a
        [ "$status" -eq 0 ]
        [ "${#lines[@]}" -eq 3 ]
        [ -z "$(ocic pods -q)" ]
        [ -z "$(ls -A "$TEST_DIR/run/pods")" ]
        [ -z "$(cni_mounts_under "$TEST_DIR")" ]
        [ -z "$(cni_allocated_ips)" ]
        wait_bridge_empty
}

@test "pods filters: --id prefix, --state, --label, --name, --namespace, -q, -o json" {
        run_pod alpha '.labels.group = "g1"'
        local a="$POD_ID"
        run_pod beta '.labels.group = "g2"'
        local b="$POD_ID"
        run_pod gamma '.labels.group = "g1" | .metadata.namespace = "other"'
        local g="$POD_ID"
        ocic stopp "$b"

        [ "$(ocic pods -q --id "${a:0:12}")" = "$a" ]
        [ "$(ocic pods -q --id "$a")" = "$a" ]
        [ -z "$(ocic pods -q --id ffffffffffff)" ]
        [ "$(ocic pods -q --state notready)" = "$b" ]
        [ "$(ocic pods -q --state ready | sort)" = "$(printf '%s\n' "$a" "$g" | sort)" ]
        [ "$(ocic pods -q --label group=g1 | sort)" = "$(printf '%s\n' "$a" "$g" | sort)" ]
        [ "$(ocic pods -q --label group=g1 --label app=gamma)" = "$g" ]
        [ -z "$(ocic pods -q --label group=g3)" ]
        [ "$(ocic pods -q --name beta)" = "$b" ]
        [ "$(ocic pods -q --namespace other)" = "$g" ]
        [ "$(ocic pods -q --label group=g1 --state ready --namespace ocid-test)" = "$a" ]
        run ocic pods -q
        [ "${#lines[@]}" -eq 3 ]
        run ocic pods --label group=g1 -o json
        check --arg a "$a" --arg g "$g" '[.items[].id] | sort == ([$a, $g] | sort)'
        check '.items | all(.labels.group == "g1" and .state == "SANDBOX_READY")'
        run ocic pods --state notready -o json
        check --arg b "$b" '.items | length == 1 and .[0].id == $b and .[0].state == "SANDBOX_NOTREADY"'
        run ocic pods --state bogus
        [ "$status" -ne 0 ]
}

@test "stop + remove leave nothing: no mount, netns, IP, rule, directory, veth" {
        run_pod web '.port_mappings = [{container_port: 80, host_port: 18641}]'
        local id="$POD_ID" dir ip
        dir="$(pod_rundir "$id")"
        ip="$(ocic inspectp "$id" | jq -r .status.network.ip)"
        [ -n "$(cni_mounts_under "$dir")" ]
        [ -e "$CNI_DATA_DIR/$CNI_NET/$ip" ]
        [ "$(cni_bridge_ports | wc -l)" -eq 1 ]
        [ -n "$(cni_rules_matching "$id")" ]
        ocic stopp "$id"
        [ -z "$(cni_mounts_under "$dir")" ]
        [ ! -e "$CNI_DATA_DIR/$CNI_NET/$ip" ]
        [ -z "$(cni_rules_matching "$id")" ]
        [ -z "$(cni_rules_matching "$ip:")" ]
        wait_bridge_empty
        ocic rmp "$id"
        assert_pod_gone "$id" "$dir" "$ip"
        [ -z "$(ocic pods -q)" ]
        [ -z "$(cni_mounts_under "$TEST_DIR")" ]
}

@test "pods survive a daemon restart (SIGTERM): listed Ready with IP and labels, then stop and remove cleanly" {
        run_pod web '.port_mappings = [{container_port: 80, host_port: 18642}]'
        local a="$POD_ID" ip_a
        ip_a="$(ocic inspectp "$a" | jq -r .status.network.ip)"
        run_pod stopped
        local b="$POD_ID"
        ocic stopp "$b"
        local old_pid="$OCID_PID"
        restart_ocid TERM
        [ "$OCID_PID" != "$old_pid" ]
        [ "$(ocic pods -q --state ready)" = "$a" ]
        [ "$(ocic pods -q --state notready)" = "$b" ]
        run ocic inspectp "$a"
        check --arg ip "$ip_a" '.status.state == "SANDBOX_READY" and .status.network.ip == $ip'
        check '.status.labels == {app: "web", tier: "test"}'
        # Its namespaces are still pinned and still hold the IP.
        nsenter --net="$(pod_ns "$a" network)" ip -o -4 addr show dev eth0 | grep -q " $ip_a/24 "
        local dir_a dir_b
        dir_a="$(pod_rundir "$a")"
        dir_b="$(pod_rundir "$b")"
        ocic stopp "$a"
        ocic rmp "$a" "$b"
        assert_pod_gone "$a" "$dir_a" "$ip_a"
        assert_pod_gone "$b" "$dir_b"
        wait_bridge_empty
}

@test "pods survive kill -9 of the daemon, and are then stopped and removed cleanly" {
        run_pod web '.port_mappings = [{container_port: 80, host_port: 18643}]'
        local a="$POD_ID" ip_a dir_a
        ip_a="$(ocic inspectp "$a" | jq -r .status.network.ip)"
        dir_a="$(pod_rundir "$a")"
        restart_ocid KILL
        run ocic inspectp "$a"
        check --arg ip "$ip_a" '.status.state == "SANDBOX_READY" and .status.network.ip == $ip'
        check '.status.labels == {app: "web", tier: "test"}'
        [ "$(findmnt -n -o FSTYPE "$dir_a/net")" = nsfs ]
        # A new pod does not get the IP still in use.
        run_pod second
        [ "$(ocic inspectp "$POD_ID" | jq -r .status.network.ip)" != "$ip_a" ]
        ocic rmp -a
        assert_pod_gone "$a" "$dir_a" "$ip_a"
        [ -z "$(cni_allocated_ips)" ]
        [ -z "$(cni_mounts_under "$TEST_DIR")" ]
        wait_bridge_empty
}

@test "Status and RunPodSandbox errors carry gRPC codes (independent client)" {
        pod_config "$TEST_DIR/p.json" p
        run pyc call RunPodSandbox "$(jq -c '{config: .}' "$TEST_DIR/p.json")"
        check '.code == "OK" and (.response.podSandboxId | length == 64)'
        POD_ID="$(jq -r .response.podSandboxId <<<"$output")"
        run pyc call PodSandboxStatus "$(jq -cn --arg id "$POD_ID" '{pod_sandbox_id: $id, verbose: true}')"
        # (SANDBOX_READY is the enum's zero: proto3 JSON leaves it out.)
        check '.code == "OK" and (.response.status.state // "SANDBOX_READY") == "SANDBOX_READY"'
        check '.response.info.info | fromjson | .namespaces.network | endswith("/net")'
        run pyc call ListPodSandbox "$(jq -cn --arg id "${POD_ID:0:10}" '{filter: {id: $id}}')"
        check --arg id "$POD_ID" '.response.items | length == 1 and .[0].id == $id'
}
