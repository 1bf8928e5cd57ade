#!/usr/bin/env bats
# Containers (issue 5) across daemon restarts: with containers running
# under conmon, ocid is stopped (SIGTERM, and kill -9) and started again on
# the same directories; every container is listed with its true state, its
# labels, and can be stopped and removed cleanly; a container that exited
# while ocid was down reports its real exit code.
#
# One registry for the file, one ocid per test (the tests stop it).

bats_require_minimum_version 1.5.0

load helpers
load registry
load container/lib

setup_file() { ctr_images_setup; }
teardown_file() { stop_registries; rm -rf "$PY_GEN"; }

setup() {
        ctr_daemon_start
        new_pod restart
}

teardown() {
        ctr_test_teardown
        stop_ocid
}

# Running, created, exited containers; then a restart with $1.
survives_restart() {
        local sig="$1" running created exited pid conmon
        run_ctr running '.labels.role = "long" | .command = ["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 0.1; done"]'
        running="$CTR_ID"
        pid="$(ctr_pid "$running")"
        conmon="$(cat "$TEST_DIR/run/containers/$running/conmon.pid")"
        new_ctr created '.labels.role = "idle"'
        created="$CTR_ID"
        run_ctr exited '.command = ["/bin/sh", "-c", "exit 5"]'
        exited="$CTR_ID"
        wait_state "$exited" CONTAINER_EXITED
        # Exits while the daemon is down: conmon still writes its exit file.
        run_ctr later '.command = ["/bin/sh", "-c", "echo waiting; sleep 2; exit 7"]'
        local later="$CTR_ID"
        wait_log "$later" waiting

        ctr_daemon_restart "$sig"
        # conmon and the container outlived the daemon.
        kill -0 "$conmon"
        kill -0 "$pid"
        wait_state "$later" CONTAINER_EXITED 10

        output="$(cri ListContainers '{}')"
        check '.containers | length == 4'
        output="$(ctr_status "$running")"
        check '.status.state == "CONTAINER_RUNNING" and .status.labels.role == "long"'
        [ "$(jq -r '.info.info | fromjson | .pid' <<<"$output")" = "$pid" ]
        [ "$(ctr_state "$created")" = CONTAINER_CREATED ]
        output="$(ctr_status "$created")"
        check '.status.labels.role == "idle"'
        output="$(ctr_status "$exited")"
        check '.status.state == "CONTAINER_EXITED" and .status.exitCode == 5 and .status.reason == "Error"'
        output="$(ctr_status "$later")"
        check '.status.state == "CONTAINER_EXITED" and .status.exitCode == 7'
        # Still usable: exec, stop with its signal, start the created one.
        [ "$(in_ctr "$running" /bin/echo alive)" = alive ]
        CRI_TIMEOUT=60 cri StopContainer "{\"container_id\": \"$running\", \"timeout\": 10}" >/dev/null
        output="$(ctr_status "$running")"
        check '.status.state == "CONTAINER_EXITED" and .status.reason == "Completed"'
        start_ctr "$created"
        [ "$(ctr_state "$created")" = CONTAINER_RUNNING ]
        # And removable, leaving nothing.
        local id
        for id in "$running" "$created" "$exited" "$later"; do
                cri RemoveContainer "{\"container_id\": \"$id\"}" >/dev/null
        done
        for id in "$running" "$created" "$exited" "$later"; do
                wait_ctr_gone "$id"
        done
        [ ! -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status"
        assert_no_containers
}

@test "after a SIGTERM restart every container is listed with its true state and labels, and stops and removes cleanly" {
        survives_restart TERM
}

@test "after kill -9 of the daemon every container is listed with its true state and labels, and stops and removes cleanly" {
        survives_restart KILL
}

@test "a pod's containers survive a restart and go with RemovePodSandbox afterwards" {
        run_ctr one
        local one="$CTR_ID" pid
        pid="$(ctr_pid "$one")"
        ctr_daemon_restart KILL
        [ "$(ctr_state "$one")" = CONTAINER_RUNNING ]
        "$OCIC" -t 60s rmp "$POD_ID"
        wait_ctr_gone "$one" "$pid"
        assert_no_containers
}

@test "a CreateContainer interrupted by kill -9 is undone at the next start: no process, mount, cgroup or file left, the name free again" {
        # A runtime whose create hangs, so that the daemon dies in the middle.
        cat >"$TEST_DIR/slow-crun" <<SH
#!/bin/sh
case " \$* " in *" create "*) touch "$TEST_DIR/create-started"; sleep 60 ;; esac
exec /usr/bin/crun "\$@"
SH
        chmod +x "$TEST_DIR/slow-crun"
        printf '[ocid.runtime.runtimes.crun]\nruntime_path = "/usr/bin/crun"\n[ocid.runtime.runtimes.slow]\nruntime_path = "%s"\n' \
                "$TEST_DIR/slow-crun" >"$TEST_DIR/conf.d/30-slow.conf"
        ctr_daemon_restart TERM
        POD_RUNTIME=slow new_pod slowpod
        local cfg
        cfg="$(ctr_config interrupted)"
        pyc --timeout 120 call CreateContainer "$(create_request "$POD_ID" "$POD_FILE" "$cfg")" >/dev/null 2>&1 &
        local client=$!
        for i in $(seq 1 100); do
                [ -e "$TEST_DIR/create-started" ] && break
                sleep 0.1
        done
        [ -e "$TEST_DIR/create-started" ]
        local id
        id="$(ls "$TEST_DIR/root/containers")"
        [ ${#id} -eq 64 ]
        grep -qF -- "$id" /proc/self/mountinfo   # the rootfs was mounted
        kill -9 "$OCID_PID"
        wait "$client" || true
        wait "$OCID_PID" 2>/dev/null || true
        start_ocid --registries-conf "$TEST_DIR/registries.conf" \
                --registries-conf-dir "$TEST_DIR/registries.conf.d"
        grep -q "container $id: cleaning up after an interrupted create" "$OCID_LOG"
        wait_ctr_gone "$id"
        ! pgrep -f "slow-crun" >/dev/null
        run cri ListContainers '{}'
        [ "$status" -eq 0 ]
        [ "$(jq '.containers | length' <<<"$output")" -eq 0 ]
        # The pod goes on: the same name can be created (with a runtime that
        # does not hang) and runs.
        rm "$TEST_DIR/conf.d/30-slow.conf"
        ctr_daemon_restart TERM
        new_pod again
        run_ctr interrupted
        [ "$(ctr_state "$CTR_ID")" = CONTAINER_RUNNING ]
}
