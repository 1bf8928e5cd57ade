#!/usr/bin/env bats
# Containers (issue 5): Linux resources, seen where the kernel applies them:
# the container's cgroups (cgroup v1 here: memory, cpu, cpuset, hugetlb
# hierarchies, found from /proc/PID/cgroup of the container's process) and
# /proc/PID/oom_score_adj; a memory limit that gets the process OOM-killed
# (reason OOMKilled, exit 137); UpdateContainerResources.
#
# One registry and one ocid for the file; host-network pods (no CNI);
# containers through the independent Python client.

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_file_setup; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod resources; }
teardown() { ctr_test_teardown; }

MiB=$((1024 * 1024))

# cgroup_file ID CONTROLLER FILE: the path of FILE in the container's cgroup
# of the v1 hierarchy CONTROLLER, from /proc/PID/cgroup of its process.
cgroup_file() {
        local pid rel
        pid="$(ctr_pid "$1")"
        [ -n "$pid" ] && [ "$pid" != 0 ] || { echo "container $1 has no pid" >&2; return 1; }
        rel="$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")"
        [ -n "$rel" ] || { echo "no $2 cgroup for pid $pid" >&2; return 1; }
        echo "/sys/fs/cgroup/$2$rel/$3"
}

cgroup_value() {
        local f
        f="$(cgroup_file "$@")" || return 1
        cat "$f"
}

update() {
        # update ID JQ_OBJECT: UpdateContainerResources that must succeed.
        cri UpdateContainerResources "$(jq -cn --arg id "$1" "{container_id: \$id, linux: $2}")" >/dev/null
}

# ---- limits at create ---------------------------------------------------------------

@test "memory limit, cpu quota/period/shares and cpuset at create are in the container's cgroups" {
        run_ctr limited '.linux.resources = {memory_limit_in_bytes: 104857600, cpu_quota: 50000, cpu_period: 100000,
                                             cpu_shares: 512, cpuset_cpus: "0"}'
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -eq $((100 * MiB)) ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.cfs_quota_us)" -eq 50000 ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.cfs_period_us)" -eq 100000 ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.shares)" -eq 512 ]
        [ "$(cgroup_value "$CTR_ID" cpuset cpuset.cpus)" = 0 ]
        # The cgroup is the container's own (named after it), and the
        # process sees its limit too.
        [[ "$(cgroup_file "$CTR_ID" memory memory.limit_in_bytes)" == *"$CTR_ID"* ]]
        output="$(ctr_status "$CTR_ID")"
        check '.status.resources.linux | (.memoryLimitInBytes | tonumber) == 104857600 and (.cpuQuota | tonumber) == 50000'
}

@test "no limits given: memory unlimited, no cpu quota" {
        run_ctr free
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -ge $((1 << 40)) ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.cfs_quota_us)" -eq -1 ]
}

@test "oom_score_adj is applied; a value below the daemon's own is raised to it (no CAP_SYS_RESOURCE here)" {
        run_ctr adj '.linux.resources = {oom_score_adj: 500}'
        [ "$(cat "/proc/$(ctr_pid "$CTR_ID")/oom_score_adj")" -eq 500 ]
        local floor
        floor="$(cat "/proc/$OCID_PID/oom_score_adj")"
        run_ctr low '.linux.resources = {oom_score_adj: -998}'
        [ "$(cat "/proc/$(ctr_pid "$CTR_ID")/oom_score_adj")" -eq "$floor" ]
}

@test "hugepage limits go to the hugetlb controller" {
        [ -f /sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes ] || skip "no 2MB hugetlb v1 controller"
        run_ctr huge '.linux.resources = {hugepage_limits: [{page_size: "2MB", limit: 4194304}]}'
        [ "$(cgroup_value "$CTR_ID" hugetlb hugetlb.2MB.limit_in_bytes)" -eq 4194304 ]
}

# ---- OOM -----------------------------------------------------------------------------

@test "a process exceeding a 20 MiB memory limit is OOM-killed: reason OOMKilled, exit code 137" {
        # tail buffers its whole (newline-free) input: 100 MiB.
        run_ctr oom '.linux.resources = {memory_limit_in_bytes: 20971520}
                | .command = ["/bin/sh", "-c", "echo start; head -c 100m /dev/zero | tail"]'
        wait_state "$CTR_ID" CONTAINER_EXITED 30
        output="$(ctr_status "$CTR_ID")"
        echo "$output" | jq -c .status >&2
        local oom
        oom="$(cat "$TEST_DIR/run/containers/$CTR_ID/oom" 2>/dev/null && echo present || echo absent)"
        echo "conmon's oom file: $oom" >&2
        check '.status.state == "CONTAINER_EXITED"'
        check '.status.exitCode == 137'
        check '.status.reason == "OOMKilled"'
        [ "$oom" = present ]
        # conmon writes its oom file into its working directory as well:
        # that must be the container's own directory, not the daemon's.
        [ ! -e "/proc/$OCID_PID/cwd/oom" ] || { echo "oom file in the daemon's cwd $(readlink "/proc/$OCID_PID/cwd")" >&2; return 1; }
}

@test "the container's main process itself OOM-killed: reason OOMKilled, exit code 137" {
        # The shell grows its own variable past the limit.
        run_ctr oom1 '.linux.resources = {memory_limit_in_bytes: 20971520}
                | .command = ["/bin/sh", "-c", "x=$(head -c 100m /dev/zero | tr \"\\0\" a); echo survived"]'
        wait_state "$CTR_ID" CONTAINER_EXITED 30
        output="$(ctr_status "$CTR_ID")"
        echo "$output" | jq -c .status >&2
        check '.status.exitCode == 137 and .status.reason == "OOMKilled"'
}

@test "a container under its memory limit exits normally and is not reported OOMKilled" {
        run_ctr fits '.linux.resources = {memory_limit_in_bytes: 52428800}
                | .command = ["/bin/sh", "-c", "head -c 5m /dev/zero | tail > /dev/null; exit 0"]'
        wait_state "$CTR_ID" CONTAINER_EXITED 30
        output="$(ctr_status "$CTR_ID")"
        check '(.status.exitCode // 0) == 0 and .status.reason == "Completed"'
}

# ---- UpdateContainerResources ------------------------------------------------------------

@test "UpdateContainerResources: the new memory limit and cpu quota are in the cgroup" {
        run_ctr upd '.linux.resources = {memory_limit_in_bytes: 104857600, cpu_quota: 50000, cpu_period: 100000}'
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -eq $((100 * MiB)) ]
        update "$CTR_ID" '{memory_limit_in_bytes: 209715200, cpu_quota: 20000, cpu_period: 100000}'
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -eq $((200 * MiB)) ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.cfs_quota_us)" -eq 20000 ]
        [ "$(cgroup_value "$CTR_ID" cpu cpu.cfs_period_us)" -eq 100000 ]
        # The same process, still running.
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "UpdateContainerResources: cpu shares and cpuset; a container created without limits gets them" {
        run_ctr later
        update "$CTR_ID" '{cpu_shares: 256, cpuset_cpus: "0", memory_limit_in_bytes: 67108864}'
        [ "$(cgroup_value "$CTR_ID" cpu cpu.shares)" -eq 256 ]
        [ "$(cgroup_value "$CTR_ID" cpuset cpuset.cpus)" = 0 ]
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -eq $((64 * MiB)) ]
}

@test "UpdateContainerResources: ContainerStatus reports the updated resources" {
        run_ctr shown '.linux.resources = {memory_limit_in_bytes: 104857600}'
        update "$CTR_ID" '{memory_limit_in_bytes: 209715200, cpu_quota: 20000, cpu_period: 100000}'
        output="$(ctr_status "$CTR_ID")"
        check '.status.resources.linux | (.memoryLimitInBytes | tonumber) == 209715200 and (.cpuQuota | tonumber) == 20000'
}

@test "UpdateContainerResources: a memory limit below what the container uses is refused with the kernel's reason; nothing changes" {
        # tail holds ~60 MiB of newline-free input while its writer stays open.
        run_ctr shrink '.linux.resources = {memory_limit_in_bytes: 209715200}
                | .command = ["/bin/sh", "-c", "(head -c 60m /dev/zero; echo ready >&2; sleep 3600) | tail > /dev/null; echo tail ended $?; sleep 3600"]'
        wait_log "$CTR_ID" ready
        sleep 0.5
        [ "$(cgroup_value "$CTR_ID" memory memory.usage_in_bytes)" -gt $((50 * MiB)) ]
        run pyc call UpdateContainerResources "$(jq -cn --arg id "$CTR_ID" '{container_id: $id, linux: {memory_limit_in_bytes: 20971520}}')"
        check '.ok | not'
        check '.details | contains("memory.limit_in_bytes") and contains("busy")'
        [ "$(cgroup_value "$CTR_ID" memory memory.limit_in_bytes)" -eq $((200 * MiB)) ]
        ! grep -q "tail ended" "$(ctr_log_path "$CTR_ID")"
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}

@test "UpdateContainerResources of an exited container: FAILED_PRECONDITION; unknown: NOT_FOUND; none given: INVALID_ARGUMENT" {
        run_ctr gone '.command = ["/bin/true"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        run pyc call UpdateContainerResources "$(jq -cn --arg id "$CTR_ID" '{container_id: $id, linux: {cpu_shares: 256}}')"
        check '.code == "FAILED_PRECONDITION"'
        run pyc call UpdateContainerResources '{"container_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "linux": {"cpu_shares": 256}}'
        check '.code == "NOT_FOUND"'
        run_ctr alive
        run pyc call UpdateContainerResources "$(jq -cn --arg id "$CTR_ID" '{container_id: $id}')"
        check '.code == "INVALID_ARGUMENT"'
        "$OCIC" version >/dev/null
}

@test "UpdateContainerResources with a value the kernel refuses: the runtime's message, the old limits kept" {
        run_ctr keep '.linux.resources = {cpuset_cpus: "0"}'
        run pyc call UpdateContainerResources "$(jq -cn --arg id "$CTR_ID" '{container_id: $id, linux: {cpuset_cpus: "1000"}}')"
        check '.ok | not'
        echo "$output" >&2
        check '.details | contains("cpuset")'
        [ "$(cgroup_value "$CTR_ID" cpuset cpuset.cpus)" = 0 ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}
