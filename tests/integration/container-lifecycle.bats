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
        grep -q '^HOSTNAME=' <<<"$output"
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
