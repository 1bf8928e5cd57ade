#!/usr/bin/env bats
# Containers (issue 5), their lifecycle through the CRI: the process a
# container runs (command/args vs the image's Entrypoint/Cmd, env, working
# dir), exit codes and reasons, stop with its timeout and the image's stop
# signal, ContainerStatus and ListContainers, names, both runtime handlers,
# removal leaving nothing behind, and bad requests.
#
# One registry and one ocid for the file; host-network pods (no CNI);
# containers through the independent Python client (interop/cri_client.py).

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_file_setup; }
teardown_file() { ctr_file_teardown; }
setup() { new_pod lifecycle; }
teardown() { ctr_test_teardown; }

# run_to_exit NAME JQ_EXPR: run a container and wait until it has exited.
run_to_exit() {
        run_ctr "$@"
        wait_state "$CTR_ID" CONTAINER_EXITED
}

# ---- the process -----------------------------------------------------------------

@test "image Entrypoint and Cmd are used when the container gives neither command nor args" {
        run_to_exit e '.image.image = $entry_image | del(.command)'
        [ "$(log_text "$CTR_ID")" = "entry cmd1 cmd2" ]
}

@test "args alone replace the image's Cmd and keep its Entrypoint" {
        run_to_exit e '.image.image = $entry_image | del(.command) | .args = ["a1", "a 2"]'
        [ "$(log_text "$CTR_ID")" = "entry a1 a 2" ]
}

@test "command alone replaces the Entrypoint and drops the image's Cmd" {
        run_to_exit e '.image.image = $entry_image | .command = ["/bin/echo", "cmd-only"]'
        [ "$(log_text "$CTR_ID")" = "cmd-only" ]
}

@test "command and args together replace both Entrypoint and Cmd" {
        run_to_exit e '.image.image = $entry_image | .command = ["/bin/echo", "c"] | .args = ["x", "y"]'
        [ "$(log_text "$CTR_ID")" = "c x y" ]
}

@test "args alone on an image without Entrypoint are the whole command line" {
        run_to_exit a 'del(.command) | .args = ["/bin/echo", "only", "args"]'
        [ "$(log_text "$CTR_ID")" = "only args" ]
}

@test "env is merged over the image's: CRI values win, image-only keys and PATH stay" {
        run_to_exit env '.image.image = $entry_image | .command = ["/bin/env"]
                | .envs = [{key: "FOO", value: "cri"}, {key: "NEW", value: "a=b c"}]'
        run log_text "$CTR_ID"
        [ "$(grep -c '^FOO=' <<<"$output")" -eq 1 ]
        grep -qx 'FOO=cri' <<<"$output"
        grep -qx 'KEEP=image' <<<"$output"
        grep -qx 'NEW=a=b c' <<<"$output"
        grep -q '^PATH=.*/bin' <<<"$output"
}

@test "working dir: the image's, the container's override, and / by default" {
        run_to_exit w1 '.image.image = $entry_image | .command = ["/bin/sh", "-c", "pwd"]'
        [ "$(log_text "$CTR_ID")" = /etc/fixture ]
        run_to_exit w2 '.image.image = $entry_image | .command = ["/bin/sh", "-c", "pwd"] | .working_dir = "/tmp"'
        [ "$(log_text "$CTR_ID")" = /tmp ]
        run_to_exit w3 '.command = ["/bin/sh", "-c", "pwd"]'
        [ "$(log_text "$CTR_ID")" = / ]
}

@test "a working dir missing from the image is created" {
        run_to_exit w '.command = ["/bin/sh", "-c", "pwd"] | .working_dir = "/new/work/dir"'
        [ "$(log_text "$CTR_ID")" = /new/work/dir ]
}

# ---- exit codes ---------------------------------------------------------------------

@test "a container exiting 0 is CONTAINER_EXITED with reason Completed and its times in order" {
        local before after
        before="$(date +%s%N)"
        run_to_exit ok '.command = ["/bin/true"]'
        after="$(date +%s%N)"
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and (.status.exitCode // 0) == 0 and .status.reason == "Completed"'
        check --argjson b "$before" --argjson a "$after" '.status
                | (.createdAt | tonumber) >= $b and (.startedAt | tonumber) >= (.createdAt | tonumber)
                  and (.finishedAt | tonumber) >= (.startedAt | tonumber) and (.finishedAt | tonumber) <= $a'
}

@test "a container exiting 3 is CONTAINER_EXITED with reason Error and exit code 3" {
        run_to_exit bad '.command = ["/bin/sh", "-c", "echo failing; exit 3"]'
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.exitCode == 3 and .status.reason == "Error"'
        [ "$(log_text "$CTR_ID")" = failing ]
}

@test "a command that does not exist in the image: create fails with the runtime's message (crun and runc), nothing left" {
        local handler cfg
        cfg="$(ctr_config nocmd '.command = ["/no/such/program"]')"
        for handler in crun runc; do
                POD_RUNTIME=$handler new_pod "nocmd-$handler"
                run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$cfg")"
                echo "$handler: $output" >&2
                check '.code == "INTERNAL"'
                check --arg h "$handler" '.details | contains("nocmd") and contains($h + " create: ")
                        and contains("/no/such/program") and test("not found|no such file"; "i")'
                [ -z "$(ls -A "$TEST_DIR/run/attach")" ]
                assert_no_containers
        done
}

# ---- stop ---------------------------------------------------------------------------

# ms since $1 (from date +%s%N)
elapsed_ms() {
        echo $((($(date +%s%N) - $1) / 1000000))
}

@test "stop: a container trapping TERM gets it and exits promptly, well before the timeout" {
        run_ctr trap '.command = ["/bin/sh", "-c", "trap \"echo got TERM; exit 0\" TERM; echo ready; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" ready
        local t0 ms
        t0="$(date +%s%N)"
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 30}" >/dev/null
        ms="$(elapsed_ms "$t0")"
        echo "stop took $ms ms" >&2
        [ "$ms" -lt 5000 ]
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and (.status.exitCode // 0) == 0 and .status.reason == "Completed"'
        grep -q "got TERM" "$(ctr_log_path "$CTR_ID")"
}

@test "stop: a container ignoring TERM is killed when the timeout passes, not before and not much after" {
        run_ctr deaf '.command = ["/bin/sh", "-c", "trap \"echo ignoring TERM\" TERM; echo ready; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" ready
        local t0 ms
        t0="$(date +%s%N)"
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 3}" >/dev/null
        ms="$(elapsed_ms "$t0")"
        echo "stop took $ms ms" >&2
        [ "$ms" -ge 2900 ]
        [ "$ms" -lt 8000 ]
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.exitCode == 137 and .status.reason == "Error"'
        # TERM did arrive first.
        grep -q "ignoring TERM" "$(ctr_log_path "$CTR_ID")"
}

@test "stop with timeout 0 kills at once" {
        run_ctr now '.command = ["/bin/sh", "-c", "trap \"\" TERM; echo ready; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" ready
        local t0 ms
        t0="$(date +%s%N)"
        cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 0}" >/dev/null
        ms="$(elapsed_ms "$t0")"
        echo "stop took $ms ms" >&2
        [ "$ms" -lt 2000 ]
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.exitCode == 137'
}

@test "stop: an image whose StopSignal is SIGUSR1 gets USR1, not TERM" {
        run_ctr usr1 '.image.image = $usr1_image | .command = ["/bin/sh", "-c",
                "trap \"echo got USR1; exit 0\" USR1; trap \"echo got TERM; exit 1\" TERM; echo ready; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" ready
        local t0 ms
        t0="$(date +%s%N)"
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 30}" >/dev/null
        ms="$(elapsed_ms "$t0")"
        [ "$ms" -lt 5000 ]
        grep -q "got USR1" "$(ctr_log_path "$CTR_ID")"
        ! grep -q "got TERM" "$(ctr_log_path "$CTR_ID")"
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and (.status.exitCode // 0) == 0'
}

@test "stop: the container config's stop_signal wins over the image's" {
        run_ctr usr2 '.image.image = $usr1_image | .stop_signal = "SIGUSR2" | .command = ["/bin/sh", "-c",
                "trap \"echo got USR1; exit 1\" USR1; trap \"echo got USR2; exit 0\" USR2; echo ready; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" ready
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 30}" >/dev/null
        grep -q "got USR2" "$(ctr_log_path "$CTR_ID")"
        output="$(ctr_status "$CTR_ID")"
        check '.status.stopSignal == "SIGUSR2" and (.status.exitCode // 0) == 0'
}

@test "stopping an exited container, or one never started, succeeds; stopping twice too" {
        run_to_exit done '.command = ["/bin/true"]'
        cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 5}" >/dev/null
        cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 5}" >/dev/null
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_EXITED ]
        new_ctr never
        cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 5}" >/dev/null
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_EXITED ]
        # It cannot be started any more.
        run pyc call StartContainer "{\"container_id\": \"$CTR_ID\"}"
        check '.code == "FAILED_PRECONDITION"'
}

# ---- status and lists ----------------------------------------------------------------

@test "ContainerStatus: metadata, image, image_ref, labels, annotations, mounts, log path, user, verbose pid and spec" {
        local host="$TEST_DIR/work.status"
        mkdir -p "$host"
        local before after
        before="$(date +%s%N)"
        run_ctr st '.metadata.attempt = 2 | .labels.tier = "web"
                | .mounts = [{container_path: "/data", host_path: $h, readonly: true}]
                | .linux.security_context.run_as_user = {value: 1000}' --arg h "$host"
        after="$(date +%s%N)"
        output="$(ctr_status "$CTR_ID")"
        check --arg id "$CTR_ID" '.status.id == $id and .status.metadata == {name: "st", attempt: 2}'
        check '.status.state == "CONTAINER_RUNNING"'
        check --argjson b "$before" --argjson a "$after" '.status
                | (.createdAt | tonumber) >= $b and (.startedAt | tonumber) >= (.createdAt | tonumber)
                  and (.startedAt | tonumber) <= $a and (.finishedAt // "0" | tonumber) == 0'
        check --arg img "$BUSYBOX" '.status.image.image == $img'
        check --arg id "$BUSYBOX_ID" '.status.imageRef == $id'
        check '.status.labels == {ctr: "st", tier: "web"} and .status.annotations == {"ocid.test/ctr": "st"}'
        check --arg h "$host" '.status.mounts | length == 1 and .[0].containerPath == "/data"
                and .[0].hostPath == $h and .[0].readonly == true'
        check --arg p "$TEST_DIR/logs/lifecycle/st.log" '.status.logPath == $p'
        [ -s "$TEST_DIR/logs/lifecycle/st.log" ] || [ -f "$TEST_DIR/logs/lifecycle/st.log" ]
        check '.status.user.linux.uid == "1000" and .status.user.linux.gid == "1000"'
        # Verbose info: the pid is the container's process, the spec its command.
        output="$(jq -c '.info.info | fromjson' <<<"$output")"
        check --arg pod "$POD_ID" '.sandboxID == $pod and .runtimeHandler == "crun" and .pid > 0'
        check '.runtimeSpec.process.args == ["/bin/sleep", "3600"] and .runtimeSpec.process.user.uid == 1000'
        local pid
        pid="$(jq -r .pid <<<"$output")"
        [ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "/bin/sleep 3600 " ]
}

@test "ListContainers filters by id prefix, state, pod sandbox id and labels" {
        local pod1="$POD_ID" pod1_file="$POD_FILE" a b c
        run_ctr a '.labels.tier = "web"'
        a="$CTR_ID"
        new_ctr b '.labels.tier = "db"'
        b="$CTR_ID"
        new_pod other
        run_ctr c '.labels.tier = "web"'
        c="$CTR_ID"
        ids() { cri ListContainers "$1" | jq -c '[.containers[]?.id] | sort'; }
        sorted() { printf '%s\n' "$@" | jq -Rsc 'split("\n") | map(select(. != "")) | sort'; }

        [ "$(ids '{}')" = "$(sorted "$a" "$b" "$c")" ]
        [ "$(ids "{\"filter\": {\"id\": \"${b:0:12}\"}}")" = "$(sorted "$b")" ]
        [ "$(ids "{\"filter\": {\"id\": \"$a\"}}")" = "$(sorted "$a")" ]
        [ "$(ids '{"filter": {"state": {"state": "CONTAINER_RUNNING"}}}')" = "$(sorted "$a" "$c")" ]
        [ "$(ids '{"filter": {"state": {"state": "CONTAINER_CREATED"}}}')" = "$(sorted "$b")" ]
        [ "$(ids '{"filter": {"state": {"state": "CONTAINER_EXITED"}}}')" = "[]" ]
        [ "$(ids "{\"filter\": {\"pod_sandbox_id\": \"$pod1\"}}")" = "$(sorted "$a" "$b")" ]
        [ "$(ids "{\"filter\": {\"pod_sandbox_id\": \"$POD_ID\"}}")" = "$(sorted "$c")" ]
        [ "$(ids '{"filter": {"label_selector": {"tier": "web"}}}')" = "$(sorted "$a" "$c")" ]
        [ "$(ids '{"filter": {"label_selector": {"tier": "web", "ctr": "c"}}}')" = "$(sorted "$c")" ]
        [ "$(ids '{"filter": {"label_selector": {"tier": "none"}}}')" = "[]" ]
        [ "$(ids "{\"filter\": {\"pod_sandbox_id\": \"$pod1\", \"state\": {\"state\": \"CONTAINER_RUNNING\"}}}")" = "$(sorted "$a")" ]
        [ "$(ids '{"filter": {"id": "0000000000"}}')" = "[]" ]
        # An exited container moves to the EXITED filter.
        cri StopContainer "{\"container_id\": \"$a\", \"timeout\": 0}" >/dev/null
        [ "$(ids '{"filter": {"state": {"state": "CONTAINER_EXITED"}}}')" = "$(sorted "$a")" ]
        # The listed fields.
        output="$(cri ListContainers "{\"filter\": {\"id\": \"$c\"}}")"
        check --arg pod "$POD_ID" --arg img "$BUSYBOX" --arg iid "$BUSYBOX_ID" '.containers[0]
                | .podSandboxId == $pod and .metadata.name == "c" and .image.image == $img
                  and .imageRef == $iid and .state == "CONTAINER_RUNNING" and (.createdAt | tonumber) > 0
                  and .labels == {ctr: "c", tier: "web"} and .annotations == {"ocid.test/ctr": "c"}'
}

@test "a second container with the same name and attempt in the pod is refused; other pods and attempts are fine" {
        new_ctr dup
        local first="$CTR_ID" pod1="$POD_ID" pod1_file="$POD_FILE" cfg
        cfg="$(ctr_config dup)"
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$cfg")"
        check '.code == "ALREADY_EXISTS"'
        check --arg id "$first" '.details | contains("dup") and contains($id)'
        # Only the first exists.
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 1 ]
        # Attempt 1 of the same name is another container.
        new_ctr dup '.metadata.attempt = 1'
        [ "$CTR_ID" != "$first" ]
        # The same name in another pod too.
        new_pod other
        new_ctr dup
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 3 ]
        # Once the first is removed, its name is free again.
        cri RemoveContainer "{\"container_id\": \"$first\"}" >/dev/null
        run pyc call CreateContainer "$(create_request "$pod1" "$pod1_file" "$cfg")"
        check '.ok'
}

# ---- runtime handlers ------------------------------------------------------------------

@test "runtime handler runc: a container runs, execs, logs, stops and is removed through runc" {
        # The pod through the Python client's RunPodSandbox with its handler.
        POD_FILE="$TEST_DIR/pod-viarunc.json"
        pod_config "$POD_FILE" viarunc
        POD_ID="$(cri RunPodSandbox "$(jq -c '{config: ., runtime_handler: "runc"}' "$POD_FILE")" | jq -r .podSandboxId)"
        [ "$(cri PodSandboxStatus "{\"pod_sandbox_id\": \"$POD_ID\"}" | jq -r .status.runtimeHandler)" = runc ]
        run_ctr r '.command = ["/bin/sh", "-c", "echo hello from runc; trap \"exit 0\" TERM; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" "hello from runc"
        output="$(ctr_info "$CTR_ID")"
        check '.runtimeHandler == "runc" and .pid > 0'
        # runc keeps its state under the handler's root; conmon ran runc.
        [ -d "$TEST_DIR/run/runc/$CTR_ID" ]
        [ ! -e "$TEST_DIR/run/crun/$CTR_ID" ]
        pgrep -af -- "conmon.*$CTR_ID" | grep -q -- "-r [^ ]*runc "
        [ "$(in_ctr "$CTR_ID" /bin/echo exec-ok)" = exec-ok ]
        local pid
        pid="$(jq -r .pid <<<"$output")"
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 10}" >/dev/null
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.reason == "Completed"'
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        wait_ctr_gone "$CTR_ID" "$pid"
}

@test "runtime handler crun (the default): the same lifecycle" {
        run_ctr c '.command = ["/bin/sh", "-c", "echo hello from crun; trap \"exit 0\" TERM; while :; do sleep 0.1; done"]'
        wait_log "$CTR_ID" "hello from crun"
        output="$(ctr_info "$CTR_ID")"
        check '.runtimeHandler == "crun" and .pid > 0'
        [ -d "$TEST_DIR/run/crun/$CTR_ID" ]
        pgrep -af -- "conmon.*$CTR_ID" | grep -q -- "-r [^ ]*crun "
        [ "$(in_ctr "$CTR_ID" /bin/echo exec-ok)" = exec-ok ]
        local pid
        pid="$(jq -r .pid <<<"$output")"
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$CTR_ID\", \"timeout\": 10}" >/dev/null
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.reason == "Completed"'
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        wait_ctr_gone "$CTR_ID" "$pid"
}

# ---- removal ------------------------------------------------------------------------------

@test "RemoveContainer of a running container kills it and leaves no process, mount, cgroup or directory" {
        run_ctr victim
        local pid cgroup
        pid="$(ctr_pid "$CTR_ID")"
        [ -d "/proc/$pid" ]
        # While it runs: its overlay root, its cgroup, its bundle.
        grep -qF -- "$CTR_ID" /proc/self/mountinfo
        [ -n "$(find /sys/fs/cgroup -name "*$CTR_ID*" | head -1)" ]
        [ -d "$TEST_DIR/run/containers/$CTR_ID" ]
        [ -n "$(ctr_processes "$CTR_ID")" ]
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        wait_ctr_gone "$CTR_ID" "$pid"
        run pyc call ContainerStatus "{\"container_id\": \"$CTR_ID\"}"
        check '.code == "NOT_FOUND"'
        assert_no_containers
}

@test "RemoveContainer of a created (never started) container leaves nothing" {
        new_ctr idle
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        wait_ctr_gone "$CTR_ID"
        assert_no_containers
}

@test "removing a container that does not exist succeeds; removing twice too" {
        run pyc call RemoveContainer '{"container_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}'
        check '.ok'
        run_ctr twice '.command = ["/bin/true"]'
        wait_state "$CTR_ID" CONTAINER_EXITED
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        run pyc call RemoveContainer "{\"container_id\": \"$CTR_ID\"}"
        check '.ok'
        wait_ctr_gone "$CTR_ID"
}

@test "StopPodSandbox stops the pod's containers; RemovePodSandbox removes them and leaves nothing" {
        run_ctr one
        local one="$CTR_ID" one_pid
        one_pid="$(ctr_pid "$one")"
        run_ctr two '.command = ["/bin/sh", "-c", "trap \"\" TERM; while :; do sleep 0.1; done"]'
        local two="$CTR_ID" two_pid
        two_pid="$(ctr_pid "$two")"
        new_ctr three
        local three="$CTR_ID"
        "$OCIC" -t 60s stopp "$POD_ID"
        [ "$(ctr_state "$one")" = CONTAINER_EXITED ]
        [ "$(ctr_state "$two")" = CONTAINER_EXITED ]
        [ ! -d "/proc/$one_pid" ] || grep -q '^State:.*Z' "/proc/$one_pid/status"
        "$OCIC" -t 60s rmp "$POD_ID"
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 0 ]
        wait_ctr_gone "$one" "$one_pid"
        wait_ctr_gone "$two" "$two_pid"
        wait_ctr_gone "$three"
        assert_no_containers
}

@test "RemovePodSandbox of a running pod kills and removes its running containers" {
        run_ctr one
        local one="$CTR_ID" pid
        pid="$(ctr_pid "$one")"
        "$OCIC" -t 60s rmp "$POD_ID"
        [ "$(cri ListContainers '{}' | jq '.containers | length')" -eq 0 ]
        wait_ctr_gone "$one" "$pid"
        assert_no_containers
}

# ---- bad requests ------------------------------------------------------------------------

# The daemon still answers and holds no container.
assert_still_serving() {
        "$OCIC" version >/dev/null
        assert_no_containers
}

@test "CreateContainer in a pod that does not exist: NOT_FOUND, nothing made" {
        run pyc call CreateContainer "$(create_request 0000000000000000000000000000000000000000000000000000000000000000 "$POD_FILE" "$(ctr_config x)")"
        check '.code == "NOT_FOUND"'
        check '.details | contains("0000000000")'
        assert_still_serving
}

@test "CreateContainer with an image that is not pulled: NOT_FOUND naming the image, nothing made" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$(ctr_config x '.image.image = "127.0.0.1:1/never/pulled:v1"')")"
        check '.code == "NOT_FOUND"'
        check '.details | contains("127.0.0.1:1/never/pulled:v1")'
        assert_still_serving
}

@test "CreateContainer in a stopped pod: FAILED_PRECONDITION, nothing made" {
        "$OCIC" stopp "$POD_ID"
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$(ctr_config x)")"
        check '.code == "FAILED_PRECONDITION"'
        check '.details | contains("not ready")'
        assert_still_serving
}

@test "CreateContainer without a name or without an image: INVALID_ARGUMENT, nothing made" {
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$(ctr_config x '.metadata.name = ""')")"
        check '.code == "INVALID_ARGUMENT"'
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$(ctr_config x '.image.image = ""')")"
        check '.code == "INVALID_ARGUMENT"'
        assert_still_serving
}

@test "StartContainer twice: the second is FAILED_PRECONDITION and the container keeps running" {
        run_ctr twice
        local pid
        pid="$(ctr_pid "$CTR_ID")"
        run pyc call StartContainer "{\"container_id\": \"$CTR_ID\"}"
        check '.code == "FAILED_PRECONDITION"'
        check '.details | contains("running")'
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        [ "$(ctr_pid "$CTR_ID")" = "$pid" ]
        "$OCIC" version >/dev/null
}

@test "StartContainer, StopContainer, ContainerStatus of an unknown container: NOT_FOUND" {
        local id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef m
        for m in StartContainer ContainerStatus; do
                run pyc call "$m" "{\"container_id\": \"$id\"}"
                check '.code == "NOT_FOUND"'
        done
        run pyc call StopContainer "{\"container_id\": \"$id\", \"timeout\": 1}"
        check '.code == "NOT_FOUND"'
        run pyc call ExecSync "{\"container_id\": \"$id\", \"cmd\": [\"/bin/true\"], \"timeout\": 1}"
        check '.code == "NOT_FOUND"'
        run pyc call StartContainer '{"container_id": "not-hex!"}'
        check '.code == "NOT_FOUND"'
        assert_still_serving
}

@test "ExecSync in a stopped container: FAILED_PRECONDITION; in a created one too" {
        run_to_exit gone '.command = ["/bin/true"]'
        run pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"], \"timeout\": 5}"
        check '.code == "FAILED_PRECONDITION"'
        check '.details | contains("not running")'
        new_ctr created
        run pyc call ExecSync "{\"container_id\": \"$CTR_ID\", \"cmd\": [\"/bin/true\"], \"timeout\": 5}"
        check '.code == "FAILED_PRECONDITION"'
        "$OCIC" version >/dev/null
}

@test "a runtime failing at create: its message in the error; no mount, bundle, cgroup or process left" {
        # A pod with a cgroup parent of its own, to look for leftovers in.
        local parent="ocid-ctrtest-$$-$RANDOM"
        new_pod badcpu '.linux.cgroup_parent = $p' --arg p "/$parent"
        # A CPU this machine does not have: crun cannot write cpuset.cpus.
        run pyc call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" \
                "$(ctr_config badcpu '.linux.resources.cpuset_cpus = "1000"')")"
        local left
        left="$(find /sys/fs/cgroup -path "*/$parent/*" -type d 2>/dev/null)"
        find /sys/fs/cgroup -depth -name "$parent" -type d -exec rmdir {} \; 2>/dev/null || true
        check '.code == "INTERNAL"'
        check '.details | test("badcpu.*crun create: .*cpuset")'
        [ -z "$left" ] || { echo "cgroups left: $left" >&2; return 1; }
        [ -z "$(pgrep -af conmon | grep -F -- "$TEST_DIR" || true)" ]
        [ -z "$(ls -A "$TEST_DIR/run/attach")" ]
        assert_still_serving
}

@test "conmon killed while the container runs: the container is reported exited (137), not stuck, and removes cleanly" {
        run_ctr orphan
        local pid conmon
        pid="$(ctr_pid "$CTR_ID")"
        conmon="$(cat "$TEST_DIR/run/containers/$CTR_ID/conmon.pid")"
        [[ "$(tr '\0' ' ' <"/proc/$conmon/cmdline")" == *conmon*"$CTR_ID"* ]]
        kill -KILL "$conmon"
        wait_state "$CTR_ID" CONTAINER_EXITED 10
        output="$(ctr_status "$CTR_ID")"
        check '.status.exitCode == 137 and .status.reason == "Error"'
        # The container's process did not outlive its monitor.
        local i
        for i in $(seq 1 30); do
                [ ! -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
                sleep 0.1
        done
        [ ! -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status"
        cri RemoveContainer "{\"container_id\": \"$CTR_ID\"}" >/dev/null
        wait_ctr_gone "$CTR_ID" "$pid"
        assert_still_serving
}

# ---- the same through ocic -------------------------------------------------------------------

@test "ocic drives the lifecycle (create, start, ps, inspect, exec --sync, logs, update, stop, rm) and agrees with the Python client" {
        local cfg="$TEST_DIR/work.ocic.json"
        ctr_config viaocic '.command = ["/bin/sh", "-c", "echo hello from ocic; trap \"exit 0\" TERM; while :; do sleep 0.1; done"]
                | .linux.resources = {memory_limit_in_bytes: 104857600}' >"$cfg"
        CTR_ID="$("$OCIC" -t 30s create "$POD_ID" "$cfg" "$POD_FILE")"
        [ ${#CTR_ID} -eq 64 ]
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_CREATED ]
        "$OCIC" -t 30s start "$CTR_ID"
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
        [ "$("$OCIC" ps -q)" = "$CTR_ID" ]
        run "$OCIC" ps -o json
        check --arg id "$CTR_ID" '.containers | length == 1 and .[0].id == $id and .[0].state == "CONTAINER_RUNNING"'
        run "$OCIC" inspect -o json "$CTR_ID"
        check --arg id "$CTR_ID" '.status.id == $id and .status.metadata.name == "viaocic"'
        run "$OCIC" exec --sync "$CTR_ID" /bin/echo exec via ocic
        [ "$status" -eq 0 ] && [ "$output" = "exec via ocic" ]
        run "$OCIC" exec --sync "$CTR_ID" /bin/sh -c 'exit 4'
        [ "$status" -eq 4 ]
        wait_log "$CTR_ID" "hello from ocic"
        run "$OCIC" logs "$CTR_ID"
        [ "$output" = "hello from ocic" ]
        "$OCIC" update --memory 209715200 "$CTR_ID"
        local pid rel
        pid="$(ctr_pid "$CTR_ID")"
        rel="$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")"
        [ "$(cat "/sys/fs/cgroup/memory$rel/memory.limit_in_bytes")" -eq 209715200 ]
        "$OCIC" -t 30s stop -t 10 "$CTR_ID"
        output="$(ctr_status "$CTR_ID")"
        check '.status.state == "CONTAINER_EXITED" and .status.reason == "Completed"'
        "$OCIC" -t 30s rm "$CTR_ID"
        wait_ctr_gone "$CTR_ID" "$pid"
        [ -z "$("$OCIC" ps -a -q)" ]
}
