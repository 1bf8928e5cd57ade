#!/usr/bin/env bats
# Containers (issue 5): who the process runs as and what it may do. Users
# by uid and by name (resolved in the container's own /etc/passwd: the
# fixture image has app = 1000:1000, member of users = 100), groups and the
# supplemental groups policy, the image's User; read-only root
# filesystems; capabilities (checked in /proc/self/status); privileged;
# no_new_privs, seccomp, masked paths; CRI bind mounts and the pod's files.
#
# One registry and one ocid for the file; host-network pods (no CNI);
# containers through the independent Python client.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_file_setup; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod security; }
teardown() { ctr_test_teardown; }

# Default capabilities (containerd's and moby's list): CHOWN DAC_OVERRIDE
# FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
# SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
DEFAULT_CAPS=00000000a80425fb
CAP_NET_ADMIN_BIT=$((1 << 12))
CAP_SYS_RESOURCE_BIT=$((1 << 24))

# ctr_id NAME JQ_EXPR [ARGS]: a sleeping container (CTR_ID); the output
# of `id` in it through ExecSync in ID_OUT.
ctr_id() {
        run_ctr "$@"
        ID_OUT="$(in_ctr "$CTR_ID" /bin/id)"
}

# cap_field ID FIELD: CapEff, CapBnd... of the container's own process,
# read by the process itself (cat /proc/self/status via ExecSync).
cap_field() {
        in_ctr "$1" /bin/cat /proc/self/status | awk -v f="$2:" '$1 == f { print $2 }'
}

# ---- users and groups ----------------------------------------------------------------

@test "run_as_user 1000: uid, gid and groups from the image's /etc/passwd and /etc/group" {
        ctr_id u '.linux.security_context.run_as_user = {value: 1000}'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=100(users),1000(app)" ]
        # The container's own process, seen from the host.
        local pid
        pid="$(ctr_pid "$CTR_ID")"
        grep -qP '^Uid:\t1000\t1000\t1000\t1000$' "/proc/$pid/status"
        grep -qP '^Gid:\t1000\t1000\t1000\t1000$' "/proc/$pid/status"
        output="$(ctr_status "$CTR_ID")"
        check '.status.user.linux | .uid == "1000" and .gid == "1000" and (.supplementalGroups | sort == ["100", "1000"])'
}

@test "run_as_username app is resolved to uid 1000 in the container's /etc/passwd" {
        ctr_id n '.linux.security_context.run_as_username = "app"'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=100(users),1000(app)" ]
}

@test "run_as_group overrides the primary group" {
        ctr_id g '.linux.security_context.run_as_user = {value: 1000} | .linux.security_context.run_as_group = {value: 2000}'
        [ "$ID_OUT" = "uid=1000(app) gid=2000 groups=100(users),2000" ]
}

@test "a uid missing from the image's /etc/passwd runs with gid 0" {
        ctr_id x '.linux.security_context.run_as_user = {value: 4242}'
        [ "$ID_OUT" = "uid=4242 gid=0(root) groups=0(root)" ]
}

@test "the image's User (app) is used when the container names none; run_as_user 0 overrides it" {
        ctr_id img '.image.image = $app_image'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=100(users),1000(app)" ]
        ctr_id root '.image.image = $app_image | .linux.security_context.run_as_user = {value: 0}'
        [ "$ID_OUT" = "uid=0(root) gid=0(root) groups=0(root)" ]
}

@test "supplemental groups: Merge (the default) keeps the image's groups, Strict only the ones asked for" {
        ctr_id merge '.linux.security_context.run_as_user = {value: 1000}
                | .linux.security_context.supplemental_groups = [3000, 3001]'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=100(users),1000(app),3000,3001" ]
        ctr_id merge2 '.linux.security_context.run_as_user = {value: 1000}
                | .linux.security_context.supplemental_groups = [3000]
                | .linux.security_context.supplemental_groups_policy = "Merge"'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=100(users),1000(app),3000" ]
        ctr_id strict '.linux.security_context.run_as_user = {value: 1000}
                | .linux.security_context.supplemental_groups = [3000]
                | .linux.security_context.supplemental_groups_policy = "Strict"'
        [ "$ID_OUT" = "uid=1000(app) gid=1000(app) groups=1000(app),3000" ]
        output="$(ctr_status "$CTR_ID")"
        check '.status.user.linux | (.supplementalGroups | sort == ["1000", "3000"])'
}

@test "a run_as_username missing from the image: NOT_FOUND naming it, nothing left" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config nouser '.linux.security_context.run_as_username = "nosuch"')")"
        check '.code == "NOT_FOUND"'
        check '.details | contains("nosuch") and contains("/etc/passwd")'
        assert_no_containers
        [ -z "$(ls -A "$TEST_DIR/run/attach")" ]
}

# ---- read-only root, no_new_privs, seccomp, masked paths -------------------------------------------

@test "read-only rootfs: / and /tmp refuse writes; /dev/shm and a rw mount accept them" {
        local host="$TEST_DIR/work.rw"
        mkdir -p "$host"
        run_ctr ro '.linux.security_context.readonly_rootfs = true
                | .mounts = [{container_path: "/data", host_path: $h}]' --arg h "$host"
        exec_sync "$CTR_ID" 10 /bin/touch /x >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Read-only file system"* ]]
        exec_sync "$CTR_ID" 10 /bin/touch /tmp/x >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Read-only file system"* ]]
        # The pod's files are read-only too.
        exec_sync "$CTR_ID" 10 /bin/sh -c 'echo x >> /etc/hosts' >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        # Mounts stay writable.
        in_ctr "$CTR_ID" /bin/touch /dev/shm/ok /data/ok >/dev/null
        [ -f "$host/ok" ]
        # The same image without the flag is writable.
        run_ctr rw
        in_ctr "$CTR_ID" /bin/touch /x /tmp/x >/dev/null
}

@test "no_new_privs and RuntimeDefault seccomp show in /proc/self/status; Unconfined has no filter" {
        run_ctr confined '.linux.security_context.no_new_privs = true
                | .linux.security_context.seccomp = {profile_type: "RuntimeDefault"}'
        [ "$(cap_field "$CTR_ID" NoNewPrivs)" = 1 ]
        [ "$(cap_field "$CTR_ID" Seccomp)" = 2 ]
        run_ctr free '.linux.security_context.seccomp = {profile_type: "Unconfined"}'
        [ "$(cap_field "$CTR_ID" NoNewPrivs)" = 0 ]
        [ "$(cap_field "$CTR_ID" Seccomp)" = 0 ]
}

@test "the default masked and read-only paths: /proc/keys reads empty, /proc/sys and /sys are read-only" {
        run_ctr masked
        [ -z "$(in_ctr "$CTR_ID" /bin/cat /proc/keys)" ]
        [ -z "$(in_ctr "$CTR_ID" /bin/ls /sys/firmware)" ]
        exec_sync "$CTR_ID" 10 /bin/sh -c 'echo 1 > /proc/sys/vm/drop_caches' >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Read-only file system"* ]]
        exec_sync "$CTR_ID" 10 /bin/touch /sys/x >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
}

# ---- capabilities ---------------------------------------------------------------------------------

@test "capabilities: the default set in CapEff and CapBnd" {
        run_ctr caps
        [ "$(cap_field "$CTR_ID" CapEff)" = "$DEFAULT_CAPS" ]
        [ "$(cap_field "$CTR_ID" CapBnd)" = "$DEFAULT_CAPS" ]
        [ "$(cap_field "$CTR_ID" CapAmb)" = 0000000000000000 ]
        # CHOWN is in it: chown works.
        in_ctr "$CTR_ID" /bin/chown 1000 /tmp >/dev/null
}

@test "capabilities: drop ALL leaves none; chown then fails" {
        run_ctr none '.linux.security_context.capabilities = {drop_capabilities: ["ALL"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = 0000000000000000 ]
        [ "$(cap_field "$CTR_ID" CapBnd)" = 0000000000000000 ]
        exec_sync "$CTR_ID" 10 /bin/chown 1000 /tmp >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Operation not permitted"* ]]
}

@test "capabilities: add NET_ADMIN to the default set; drop ALL + add NET_ADMIN is NET_ADMIN alone" {
        run_ctr add '.linux.security_context.capabilities = {add_capabilities: ["NET_ADMIN"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = "$(printf '%016x' $((0x$DEFAULT_CAPS | CAP_NET_ADMIN_BIT)))" ]
        run_ctr only '.linux.security_context.capabilities = {drop_capabilities: ["ALL"], add_capabilities: ["CAP_NET_ADMIN"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = "$(printf '%016x' "$CAP_NET_ADMIN_BIT")" ]
}

@test "capabilities: dropping one (CHOWN) removes just that one" {
        run_ctr drop '.linux.security_context.capabilities = {drop_capabilities: ["CHOWN"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = "$(printf '%016x' $((0x$DEFAULT_CAPS & ~1)))" ]
        exec_sync "$CTR_ID" 10 /bin/chown 1000 /tmp >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
}

@test "capabilities: a non-root user gets none in CapEff, the bounding set keeps the added ones" {
        run_ctr user '.linux.security_context.run_as_user = {value: 1000}
                | .linux.security_context.capabilities = {add_capabilities: ["NET_ADMIN"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = 0000000000000000 ]
        [ "$(cap_field "$CTR_ID" CapBnd)" = "$(printf '%016x' $((0x$DEFAULT_CAPS | CAP_NET_ADMIN_BIT)))" ]
}

@test "capabilities: add ALL and privileged give the daemon's own bounding set, never CAP_SYS_RESOURCE here" {
        local daemon_bnd
        daemon_bnd="$(awk '$1 == "CapBnd:" { print $2 }' "/proc/$OCID_PID/status")"
        run_ctr all '.linux.security_context.capabilities = {add_capabilities: ["ALL"]}'
        [ "$(cap_field "$CTR_ID" CapEff)" = "$daemon_bnd" ]
        run_ctr priv '.linux.security_context.privileged = true'
        local eff
        eff="$(cap_field "$CTR_ID" CapEff)"
        [ "$eff" = "$daemon_bnd" ]
        [ "$(cap_field "$CTR_ID" CapBnd)" = "$daemon_bnd" ]
        # This machine's root lacks CAP_SYS_RESOURCE: neither the process
        # nor its spec has it.
        if ! (( 0x$daemon_bnd & CAP_SYS_RESOURCE_BIT )); then
                ! (( 0x$eff & CAP_SYS_RESOURCE_BIT ))
                output="$(ctr_info "$CTR_ID")"
                check '[.runtimeSpec.process.capabilities[][]] | index("CAP_SYS_RESOURCE") == null'
        fi
}

@test "privileged: the host's devices, /sys writable, the device cgroup allows everything, no seccomp filter" {
        run_ctr priv '.linux.security_context.privileged = true
                | .linux.security_context.seccomp = {profile_type: "RuntimeDefault"}'
        in_ctr "$CTR_ID" /bin/grep -q ' /sys rw,' /proc/self/mountinfo
        [ "$(cap_field "$CTR_ID" Seccomp)" = 0 ]
        local pid cg
        pid="$(ctr_pid "$CTR_ID")"
        cg="$(awk -F: '$2 == "devices" { print $3 }' "/proc/$pid/cgroup")"
        [ "$(cat "/sys/fs/cgroup/devices$cg/devices.list")" = "a *:* rwm" ]
        # The host's devices are there (with the host's numbers), the
        # console and /dev/pts are the container's own.
        local dev n=0
        for dev in /dev/kmsg /dev/loop-control /dev/fuse /dev/loop0 /dev/vda; do
                [ -c "$dev" ] || [ -b "$dev" ] || continue
                [ "$(in_ctr "$CTR_ID" /bin/stat -c %t:%T "$dev")" = "$(stat -c %t:%T "$dev")" ]
                n=$((n + 1))
        done
        [ "$n" -gt 0 ]
        # Not so for an unprivileged container.
        run_ctr plain
        exec_sync "$CTR_ID" 10 /bin/stat /dev/kmsg >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
}

@test "an unknown capability name: INVALID_ARGUMENT naming it, nothing left" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config badcap '.linux.security_context.capabilities = {add_capabilities: ["CAP_BOGUS"]}')")"
        check '.code == "INVALID_ARGUMENT"'
        check '.details | contains("BOGUS")'
        assert_no_containers
}

# ---- mounts ---------------------------------------------------------------------------------------

@test "a host dir bound read-write: the container's writes show on the host and back" {
        local host="$TEST_DIR/work.bind"
        mkdir -p "$host"
        echo "from host" >"$host/in.txt"
        run_ctr rw '.mounts = [{container_path: "/mnt/data", host_path: $h}]' --arg h "$host"
        [ "$(in_ctr "$CTR_ID" /bin/cat /mnt/data/in.txt)" = "from host" ]
        in_ctr "$CTR_ID" /bin/sh -c 'echo from container > /mnt/data/out.txt' >/dev/null
        [ "$(cat "$host/out.txt")" = "from container" ]
}

@test "a host dir bound read-only: readable, writes fail with EROFS, the host is untouched" {
        local host="$TEST_DIR/work.robind"
        mkdir -p "$host"
        echo "from host" >"$host/in.txt"
        run_ctr ro '.mounts = [{container_path: "/mnt/ro", host_path: $h, readonly: true}]' --arg h "$host"
        [ "$(in_ctr "$CTR_ID" /bin/cat /mnt/ro/in.txt)" = "from host" ]
        exec_sync "$CTR_ID" 10 /bin/sh -c 'echo x > /mnt/ro/out.txt' >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Read-only file system"* ]]
        exec_sync "$CTR_ID" 10 /bin/rm /mnt/ro/in.txt >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [ ! -e "$host/out.txt" ]
        [ -f "$host/in.txt" ]
        in_ctr "$CTR_ID" /bin/grep -q ' /mnt/ro ro,' /proc/self/mountinfo
}

@test "a single host file can be bound over a file of the image" {
        local host="$TEST_DIR/work.file"
        mkdir -p "$host"
        echo "replaced" >"$host/hello.txt"
        run_ctr f '.mounts = [{container_path: "/etc/fixture/hello.txt", host_path: $h, readonly: true}]' \
                --arg h "$host/hello.txt"
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/fixture/hello.txt)" = replaced ]
        # The image's other files are still there.
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/fixture/base.txt)" = "base layer" ]
}

@test "a mount whose host path does not exist: INVALID_ARGUMENT naming it, nothing left, nothing created on the host" {
        local missing="$TEST_DIR/work.missing/nowhere"
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config nomount '.mounts = [{container_path: "/data", host_path: $h}]' --arg h "$missing")")"
        check '.code == "INVALID_ARGUMENT"'
        check --arg h "$missing" '.details | contains("mount source") and contains($h) and contains("No such file")'
        [ ! -e "$missing" ]
        [ ! -e "$(dirname "$missing")" ]
        assert_no_containers
        [ -z "$(ls -A "$TEST_DIR/run/attach")" ]
        [ -z "$(grep -F "$TEST_DIR/root/containers" /proc/self/mountinfo || true)" ]
}

@test "a relative container path: INVALID_ARGUMENT, nothing left" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config relmount '.mounts = [{container_path: "data", host_path: "/tmp"}]')")"
        check '.code == "INVALID_ARGUMENT"'
        check '.details | contains("data")'
        assert_no_containers
}

@test "/etc/resolv.conf, /etc/hostname and /etc/hosts are the pod's files" {
        run_ctr files
        local dir
        dir="$("$OCIC" inspectp "$POD_ID" | jq -r .info.runDir)"
        run in_ctr "$CTR_ID" /bin/cat /etc/resolv.conf
        [[ "$output" == *"nameserver 10.0.0.10"* ]]
        [[ "$output" == *"search ctr.svc.local"* ]]
        [[ "$output" == *"options ndots:2"* ]]
        [ "$output" = "$(cat "$dir/resolv.conf")" ]
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/hosts)" = "$(cat "$dir/hosts")" ]
        in_ctr "$CTR_ID" /bin/grep -q localhost /etc/hosts
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/hostname)" = "$(cat "$dir/hostname")" ]
        # A host-network pod has the node's name.
        [ "$(in_ctr "$CTR_ID" /bin/cat /etc/hostname)" = "$(hostname)" ]
        [ "$(in_ctr "$CTR_ID" /bin/hostname)" = "$(hostname)" ]
        # They are bind mounts of the pod's files, not copies in the rootfs.
        in_ctr "$CTR_ID" /bin/grep -qF "$dir/resolv.conf /etc/resolv.conf" /proc/self/mountinfo
}

@test "/dev/shm is the pod's tmpfs: shared by the pod's containers, not by other pods" {
        run_ctr writer
        local writer="$CTR_ID"
        in_ctr "$writer" /bin/sh -c 'echo shared > /dev/shm/note' >/dev/null
        in_ctr "$writer" /bin/grep -q ' /dev/shm .* - tmpfs ' /proc/self/mountinfo
        run_ctr reader
        [ "$(in_ctr "$CTR_ID" /bin/cat /dev/shm/note)" = shared ]
        local dir
        dir="$("$OCIC" inspectp "$POD_ID" | jq -r .info.runDir)"
        [ "$(cat "$dir/shm/note")" = shared ]
        new_pod elsewhere
        run_ctr stranger
        exec_sync "$CTR_ID" 10 /bin/cat /dev/shm/note >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
}

@test "privileged with the runc handler too: all capabilities but CAP_SYS_RESOURCE, the host's devices" {
        POD_RUNTIME=runc new_pod privrunc
        run_ctr priv '.linux.security_context.privileged = true'
        [ "$(ctr_info "$CTR_ID" | jq -r .runtimeHandler)" = runc ]
        local daemon_bnd
        daemon_bnd="$(awk '$1 == "CapBnd:" { print $2 }' "/proc/$OCID_PID/status")"
        [ "$(cap_field "$CTR_ID" CapEff)" = "$daemon_bnd" ]
        [ "$(in_ctr "$CTR_ID" /bin/stat -c %t:%T /dev/kmsg)" = "$(stat -c %t:%T /dev/kmsg)" ]
        in_ctr "$CTR_ID" /bin/grep -q ' /sys rw,' /proc/self/mountinfo
}

# ---- devices, namespaces, seccomp profiles, terminals ------------------------------------------------

@test "a CRI device mapping: the host's /dev/null appears at /dev/mynull with its numbers, usable" {
        run_ctr dev '.devices = [{container_path: "/dev/mynull", host_path: "/dev/null", permissions: "rw"}]'
        [ "$(in_ctr "$CTR_ID" /bin/stat -c '%F %t:%T' /dev/mynull)" = "character special file 1:3" ]
        in_ctr "$CTR_ID" /bin/sh -c 'echo hi > /dev/mynull' >/dev/null
}

@test "a device whose host path does not exist: NOT_FOUND naming it, nothing left" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config nodev '.devices = [{container_path: "/dev/x", host_path: "/dev/no-such-device", permissions: "rw"}]')")"
        check '.code == "NOT_FOUND"'
        check '.details | contains("/dev/no-such-device")'
        assert_no_containers
}

@test "pid namespace: CONTAINER is private, NODE is the host's, TARGET joins another container's" {
        run_ctr own
        local target="$CTR_ID"
        [ "$(in_ctr "$CTR_ID" /bin/ps -o pid= | wc -l)" -le 3 ]
        in_ctr "$CTR_ID" /bin/ps -o pid,args | grep -q '^ *1 /bin/sleep 3600'
        run_ctr host '.linux.security_context.namespace_options = {pid: "NODE"}'
        # The daemon itself is visible.
        in_ctr "$CTR_ID" /bin/ps -o pid,args | grep -q "^ *$OCID_PID .*ocid"
        run_ctr joiner '.linux.security_context.namespace_options = {pid: "TARGET", target_id: $t}
                | .command = ["/bin/sleep", "2222"]' --arg t "$target"
        run in_ctr "$CTR_ID" /bin/ps -o pid,args
        [[ "$output" =~ (^|$'\n')\ *1\ /bin/sleep\ 3600 ]]
        [[ "$output" == *"/bin/sleep 2222"* ]]
}

@test "pid namespace POD: ocid's pause is PID 1 of the pod, every container joins it, nothing left after" {
        local pauses_before
        pauses_before="$(pgrep -xc pause || true)"
        new_pod shared '.linux.security_context.namespace_options.pid = "POD"'
        local shared_pod="$POD_ID"
        run_ctr first '.linux.security_context.namespace_options = {network: "NODE", pid: "POD"}'
        local first="$CTR_ID"
        run_ctr second '.linux.security_context.namespace_options = {network: "NODE", pid: "POD"}
                | .command = ["/bin/sleep", "2222"]'
        run in_ctr "$CTR_ID" /bin/ps -o pid,args
        [[ "$output" =~ (^|$'\n')\ *1\ /pause ]]
        [[ "$output" == *"/bin/sleep 3600"* ]]
        [[ "$output" == *"/bin/sleep 2222"* ]]
        # The infra process is not a container the kubelet sees.
        [ "$(cri ListContainers "{\"filter\": {\"pod_sandbox_id\": \"$shared_pod\"}}" | jq '.containers | length')" -eq 2 ]
        "$OCIC" rmp "$shared_pod" >/dev/null
        ! pgrep -f "$first" >/dev/null
        [ "$(pgrep -xc pause || true)" = "$pauses_before" ]
        ! grep -q "$shared_pod" /proc/self/mountinfo
}

@test "pid namespace TARGET of a container that is not running: FAILED_PRECONDITION, nothing left" {
        new_ctr idle
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config joiner '.linux.security_context.namespace_options = {pid: "TARGET", target_id: $t}' --arg t "$CTR_ID")")"
        check '.code == "FAILED_PRECONDITION"'
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 1 ]
}

@test "seccomp Localhost profile: the listed syscalls fail with EPERM; a missing profile is INVALID_ARGUMENT" {
        cat >"$TEST_DIR/work.seccomp.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
JSON
        run_ctr sc '.linux.security_context.seccomp = {profile_type: "Localhost", localhost_ref: $p}' \
                --arg p "$TEST_DIR/work.seccomp.json"
        exec_sync "$CTR_ID" 10 /bin/mkdir /tmp/x >/dev/null
        [ "$EXEC_CODE" -ne 0 ]
        [[ "$EXEC_ERR" == *"Operation not permitted"* ]]
        in_ctr "$CTR_ID" /bin/touch /tmp/file-ok >/dev/null
        [ "$(cap_field "$CTR_ID" Seccomp)" = 2 ]
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config missing '.linux.security_context.seccomp = {profile_type: "Localhost", localhost_ref: "/nonexistent/profile.json"}')")"
        check '.code == "INVALID_ARGUMENT"'
        check '.details | contains("/nonexistent/profile.json")'
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 1 ]
}

@test "tty: the process has a terminal on stdout; without tty it has none" {
        run_ctr tty '.tty = true | .command = ["/bin/sh", "-c", "[ -t 1 ] && echo is-a-tty || echo no-tty; sleep 3600"]'
        wait_log "$CTR_ID" 'F (is-a-tty|no-tty)'
        [ "$(log_text "$CTR_ID" | tr -d '\r')" = is-a-tty ]
        run_ctr notty '.command = ["/bin/sh", "-c", "[ -t 1 ] && echo is-a-tty || echo no-tty; sleep 3600"]'
        wait_log "$CTR_ID" 'F (is-a-tty|no-tty)'
        [ "$(log_text "$CTR_ID")" = no-tty ]
}
