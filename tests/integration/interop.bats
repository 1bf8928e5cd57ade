#!/usr/bin/env bats
# Interop: ocid against independent gRPC clients, not our own ocic.
#
#  - Python: Debian's python3-grpcio, modules generated at test time from
#    proto/runtime/v1/api.proto (interop/cri_client.py).
#  - Go: grpc-go, the library of the kubelet and crictl, built offline from
#    Debian's packages (interop/build-go-client.sh, interop/goclient).
#
# Slow and failing network plugins come from interop/cni.bash: a test CNI
# plugin whose STATUS sleeps or fails as its configuration says.

bats_require_minimum_version 1.5.0

load helpers
load interop/cni

INTEROP="$BATS_TEST_DIRNAME/interop"

setup_file() {
        export PY_GEN="$(mktemp -d /tmp/ocid-interop-py.XXXXXX)"
        protoc -I "$OCID_SOURCE_DIR/proto" --python_out="$PY_GEN" runtime/v1/api.proto
        GO_CLIENT="$("$INTEROP/build-go-client.sh")"
        export GO_CLIENT
        prepare_ocid_dirs
        export PLUGIN_DIR="$TEST_DIR/plugins"
        write_test_plugin "$PLUGIN_DIR"
        start_ocid --cni-plugin-dir "$PLUGIN_DIR" --cni-plugin-dir /usr/lib/cni
}

teardown_file() {
        stop_ocid
        rm -rf "$PY_GEN"
}

setup() {
        # Every test starts without a network configuration.
        find "$OCID_CNI_DIR" -mindepth 1 -delete
}

teardown() {
        show_log_on_failure
}

# The Python client; prints one JSON object.
pyc() {
        "$PYTHON" "$INTEROP/cri_client.py" --gen-dir "$PY_GEN" --socket "$OCID_SOCK" "$@"
}

# The grpc-go client; prints one JSON object.
goc() {
        "$GO_CLIENT" -endpoint "unix://$OCID_SOCK" "$@"
}

# jq -e over $output, with the output shown when it does not hold.
check() {
        if ! jq -e "$1" >/dev/null <<<"$output"; then
                echo "expected: $1" >&2
                echo "output:   $output" >&2
                return 1
        fi
}

# Condition $1 of a Status response in $output (Python or Go).
condition() {
        jq -c --arg t "$1" '.response.status.conditions[] | select(.type == $t)' <<<"$output"
}

# A cniVersion 1.0.0 list of Debian's loopback plugin: no STATUS command.
loopback_conflist() {
        echo '{"cniVersion":"1.0.0","name":"lo-net","plugins":[{"type":"loopback"}]}'
}

wait_pgroup_gone() {
        local i
        for i in $(seq 1 40); do
                pgroup_gone "$1" && return 0
                sleep 0.05
        done
        echo "process group $1 still alive:" >&2
        ps -e -o pid,pgid,stat,etime,args | awk -v g="$1" 'NR == 1 || $2 == g' >&2
        return 1
}

# ---- Python (grpcio) ------------------------------------------------------

@test "python: Version returns runtime_name ocid and runtime_api_version v1" {
        run --separate-stderr pyc call Version '{"version":"v1"}'
        [ "$status" -eq 0 ]
        check '.response.runtimeName == "ocid"'
        check '.response.runtimeApiVersion == "v1"'
        check '.response.version != "" and .response.runtimeVersion != ""'
}

@test "python: the socket path as :authority, the way grpc-go sends it" {
        # nghttp2 rejects a path as :authority unless HTTP messaging checks
        # are off; grpcio's default ("localhost") would hide that.
        run --separate-stderr pyc --authority socket call Version
        [ "$status" -eq 0 ]
        check '.response.runtimeName == "ocid"'
        run --separate-stderr pyc --authority socket call Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        check '.response.status.conditions | length == 2'
}

@test "python: Status with no CNI configuration: runtime ready, network not ready" {
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        [ "$(condition RuntimeReady | jq .status)" = true ]
        local net
        net="$(condition NetworkReady)"
        # proto3 JSON leaves out a false bool
        [ "$(jq '.status // false' <<<"$net")" = false ]
        [ "$(jq -r .reason <<<"$net")" = NetworkPluginNotReady ]
        [[ "$(jq -r .message <<<"$net")" == *"no valid CNI configuration in $OCID_CNI_DIR"* ]]
}

@test "python: NetworkReady turns true when a valid conflist appears, without a restart" {
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq '.status // false')" = false ]

        # cniVersion 1.0.0: the plugin binary must exist (Debian's loopback).
        write_conflist "$OCID_CNI_DIR" lo-net "$(loopback_conflist)"
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq .status)" = true ]
        [ "$(jq -r '.response.info.network | fromjson | .name' <<<"$output")" = lo-net ]

        # cniVersion 1.1.0: the plugin's STATUS is asked, and says ready.
        write_conflist "$OCID_CNI_DIR" status-net "$(status_conflist status-net)"
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq .status)" = true ]
        [ "$(jq -r '.response.info.network | fromjson | .file' <<<"$output")" = "$OCID_CNI_DIR/status-net.conflist" ]

        # And back to not ready when it goes away.
        rm "$OCID_CNI_DIR/status-net.conflist"
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq -r .reason)" = NetworkPluginNotReady ]
}

@test "python: a 1.0.0 conflist naming a missing plugin is not ready, naming the plugin" {
        write_conflist "$OCID_CNI_DIR" missing \
                '{"cniVersion":"1.0.0","name":"missing","plugins":[{"type":"no-such-plugin"}]}'
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq '.status // false')" = false ]
        [[ "$(condition NetworkReady | jq -r .message)" == *"'no-such-plugin' not found in $PLUGIN_DIR:/usr/lib/cni"* ]]
}

@test "python: a CNI STATUS error object makes NetworkReady false with the plugin's message" {
        write_conflist "$OCID_CNI_DIR" sick \
                "$(status_conflist sick '{"statusError":"plugin not ready"}')"
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        [ "$(condition RuntimeReady | jq .status)" = true ]
        local net
        net="$(condition NetworkReady)"
        [ "$(jq '.status // false' <<<"$net")" = false ]
        [ "$(jq -r .reason <<<"$net")" = NetworkPluginNotReady ]
        [[ "$(jq -r .message <<<"$net")" == *"plugin not ready"* ]]
        [[ "$(jq -r .message <<<"$net")" == *ocid-test-status* ]]
}

@test "python: Status verbose info has a \"config\" JSON entry" {
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        check '.response.info.config | fromjson | type == "object"'
        [ "$(jq -r '.response.info.config | fromjson | .ocid.api.listen' <<<"$output")" = "$OCID_SOCK" ]
        [ "$(jq -r '.response.info.config | fromjson | .ocid.network.network_dir' <<<"$output")" = "$OCID_CNI_DIR" ]
        # Without verbose there is no info.
        run --separate-stderr pyc call Status
        [ "$status" -eq 0 ]
        check '.response.info == null'
}

@test "python: RuntimeConfig reports the cgroup driver (CGROUPFS here)" {
        local want=CGROUPFS
        [ -d /run/systemd/system ] && want=SYSTEMD
        run --separate-stderr pyc call RuntimeConfig
        [ "$status" -eq 0 ]
        [ "$(jq -r .response.linux.cgroupDriver <<<"$output")" = "$want" ]
}

@test "python: UpdateRuntimeConfig sets the pod CIDR that Status verbose shows" {
        run --separate-stderr pyc call UpdateRuntimeConfig \
                '{"runtimeConfig":{"networkConfig":{"podCidr":"10.88.0.0/16"}}}'
        [ "$status" -eq 0 ]
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        [ "$(jq -r '.response.info.network | fromjson | .podCIDR' <<<"$output")" = 10.88.0.0/16 ]

        # An empty one leaves it as it was (the kubelet's behaviour).
        run --separate-stderr pyc call UpdateRuntimeConfig '{"runtimeConfig":{"networkConfig":{}}}'
        [ "$status" -eq 0 ]
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$(jq -r '.response.info.network | fromjson | .podCIDR' <<<"$output")" = 10.88.0.0/16 ]
}

@test "python: unimplemented methods answer UNIMPLEMENTED" {
        run --separate-stderr pyc call CheckpointContainer '{"containerId":"x"}'
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
        check '.details | contains("/runtime.v1.RuntimeService/CheckpointContainer")'
        run --separate-stderr pyc call ListPodSandboxMetrics
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
        check '.details | contains("ListPodSandboxMetrics")'
}

@test "python: an unknown method path answers UNIMPLEMENTED" {
        run --separate-stderr pyc call /runtime.v1.RuntimeService/NoSuchMethod
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
        check '.details | contains("/runtime.v1.RuntimeService/NoSuchMethod")'
        run --separate-stderr pyc call /no.such.Service/Version
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
        # and the daemon is fine
        run --separate-stderr pyc call Version
        [ "$status" -eq 0 ]
}

@test "python: 200 concurrent calls all succeed" {
        write_conflist "$OCID_CNI_DIR" lo-net "$(loopback_conflist)"
        run --separate-stderr pyc --authority socket concurrent 200
        [ "$status" -eq 0 ]
        check '.codes == {"OK": 200}'
}

@test "python: a 17 MiB request is RESOURCE_EXHAUSTED and the daemon keeps serving" {
        run --separate-stderr pyc call UpdateRuntimeConfig \
                '{"runtimeConfig":{"networkConfig":{"podCidr":"10.99.0.0/16"}}}'
        [ "$status" -eq 0 ]
        # A well-formed UpdateRuntimeConfig with a 17 MiB pod_cidr.
        run --separate-stderr pyc big-pod-cidr --size $((17 << 20))
        [ "$status" -eq 1 ]
        check '.code == "RESOURCE_EXHAUSTED"'
        check '.request_bytes > 16777216'
        check '.details | contains("16777216")'
        # 17 MiB of raw bytes on Version.
        run --separate-stderr pyc raw Version --size $((17 << 20))
        [ "$status" -eq 1 ]
        check '.code == "RESOURCE_EXHAUSTED"'

        run --separate-stderr pyc call Version
        [ "$status" -eq 0 ]
        check '.response.runtimeName == "ocid"'
        # The rejected request changed nothing.
        run --separate-stderr pyc call Status '{"verbose":true}'
        [ "$(jq -r '.response.info.network | fromjson | .podCIDR' <<<"$output")" = 10.99.0.0/16 ]
        # Just under the limit is accepted: a Version request of 16 MiB - 64.
        run --separate-stderr pyc big-version --size $(((16 << 20) - 64))
        [ "$status" -eq 0 ]
        check '.request_bytes <= 16777216 and .request_bytes > 16777000'
        check '.response.runtimeName == "ocid"'
}

@test "python: a short deadline against a slow CNI STATUS is DEADLINE_EXCEEDED; Version stays fast" {
        local pidfile="$TEST_DIR/status.pid"
        rm -f "$pidfile"
        write_conflist "$OCID_CNI_DIR" slow \
                "$(status_conflist slow "{\"statusSleep\":3,\"pidfile\":\"$pidfile\"}")"
        run --separate-stderr pyc deadline --status-timeout 0.3 --versions 5
        [ "$status" -eq 0 ]
        check '.status.code == "DEADLINE_EXCEEDED"'
        check '.status.elapsed < 1.5'
        check '[.versions[] | .ok] | all'
        check '.version_max_elapsed < 0.5'
        # The plugin ran, and ocid gave it only the call's deadline: it is
        # killed (with its sleep) instead of running its 3 s.
        [ -s "$pidfile" ]
        wait_pgroup_gone "$(cat "$pidfile")"
        # The daemon answers the next Status (the plugin still slow: give it time).
        run --separate-stderr pyc --timeout 10 call Status
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq .status)" = true ]
        check '.elapsed >= 2.5'
}

# ---- grpc-go ----------------------------------------------------------------

@test "grpc-go: Version, dialled like crictl: the socket path is the :authority" {
        run --separate-stderr goc Version '{"version":"v1"}'
        [ "$status" -eq 0 ]
        check '.response.runtimeName == "ocid"'
        check '.response.runtimeApiVersion == "v1"'
        # What the client put on the wire, decoded from its own HTTP/2 bytes.
        [ "$(jq -r .authority <<<"$output")" = "$OCID_SOCK" ]
}

@test "grpc-go: grpc.Dial(\"unix:///path\") works too" {
        # This grpc-go (Debian's 1.33) sends "localhost" for the unix
        # scheme; either way the call must succeed.
        run --separate-stderr goc -dial scheme Version
        [ "$status" -eq 0 ]
        check '.response.runtimeName == "ocid"'
        check '.authority == "localhost" or .authority == env.OCID_SOCK'
}

@test "grpc-go: Status" {
        run --separate-stderr goc Status '{"verbose":true}'
        [ "$status" -eq 0 ]
        [ "$(condition RuntimeReady | jq .status)" = true ]
        [ "$(condition NetworkReady | jq -r .reason)" = NetworkPluginNotReady ]
        check '.response.info.config | fromjson | .ocid.api.listen == env.OCID_SOCK'

        write_conflist "$OCID_CNI_DIR" status-net "$(status_conflist status-net)"
        run --separate-stderr goc Status
        [ "$status" -eq 0 ]
        [ "$(condition NetworkReady | jq .status)" = true ]

        run --separate-stderr goc RuntimeConfig
        [ "$status" -eq 0 ]
        check '.response.linux.cgroupDriver == "CGROUPFS" or .response.linux.cgroupDriver == "SYSTEMD"'
}

@test "grpc-go: UNIMPLEMENTED for an unimplemented method" {
        run --separate-stderr goc CheckpointContainer '{"containerId":"x"}'
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
        check '.message | contains("/runtime.v1.RuntimeService/CheckpointContainer")'
        run --separate-stderr goc ListPodSandboxMetrics
        [ "$status" -eq 1 ]
        check '.code == "UNIMPLEMENTED"'
}

@test "grpc-go: a deadline against the slow CNI STATUS is DEADLINE_EXCEEDED" {
        local pidfile="$TEST_DIR/status-go.pid"
        rm -f "$pidfile"
        write_conflist "$OCID_CNI_DIR" slow \
                "$(status_conflist slow "{\"statusSleep\":5,\"pidfile\":\"$pidfile\"}")"
        local t0=$SECONDS
        goc -timeout 300ms Status >"$TEST_DIR/go-status.json" 2>&1 &
        local pid=$!
        # While it waits, Version answers at once.
        sleep 0.1
        run --separate-stderr goc -timeout 1s Version
        [ "$status" -eq 0 ]
        check '.elapsedMs < 500'
        local rc=0
        wait "$pid" || rc=$?
        output="$(cat "$TEST_DIR/go-status.json")"
        echo "Status with a 300 ms deadline: exit $rc, $output"
        [ "$rc" -eq 1 ]
        check '.code == "DEADLINE_EXCEEDED"'
        check '.elapsedMs < 1500'
        [ $((SECONDS - t0)) -lt 4 ]
        [ -s "$pidfile" ]
        wait_pgroup_gone "$(cat "$pidfile")"
}

@test "python: StreamImages, StreamPodSandboxes and StreamContainers answer as server streams" {
        # No objects: each stream ends OK without a message.
        run "$PYTHON" - "$PY_GEN" "$OCID_SOCK" <<'PY'
import sys, grpc
sys.path.insert(0, sys.argv[1])
from runtime.v1 import api_pb2 as api
channel = grpc.insecure_channel("unix://" + sys.argv[2])
calls = [("/runtime.v1.ImageService/StreamImages", api.StreamImagesRequest, api.StreamImagesResponse),
         ("/runtime.v1.RuntimeService/StreamPodSandboxes", api.StreamPodSandboxesRequest, api.StreamPodSandboxesResponse),
         ("/runtime.v1.RuntimeService/StreamContainers", api.StreamContainersRequest, api.StreamContainersResponse)]
for path, req, resp in calls:
    stream = channel.unary_stream(path, request_serializer=req.SerializeToString,
                                  response_deserializer=resp.FromString)
    print(path.rsplit("/", 1)[1], len(list(stream(req(), timeout=10))))
PY
        [ "$status" -eq 0 ]
        [ "$output" = $'StreamImages 0\nStreamPodSandboxes 0\nStreamContainers 0' ]
        # A pod shows up in its stream, filtered like ListPodSandbox.
        cat >"$TEST_DIR/pod.json" <<POD
{"metadata": {"name": "streamed", "namespace": "default", "uid": "s-1", "attempt": 0},
 "labels": {"app": "streamed"},
 "linux": {"security_context": {"namespace_options": {"network": "NODE", "pid": "CONTAINER"}}}}
POD
        local pod
        pod="$("$OCIC" runp "$TEST_DIR/pod.json")"
        run "$PYTHON" - "$PY_GEN" "$OCID_SOCK" <<'PY'
import sys, grpc
sys.path.insert(0, sys.argv[1])
from runtime.v1 import api_pb2 as api
channel = grpc.insecure_channel("unix://" + sys.argv[2])
stream = channel.unary_stream("/runtime.v1.RuntimeService/StreamPodSandboxes",
                              request_serializer=api.StreamPodSandboxesRequest.SerializeToString,
                              response_deserializer=api.StreamPodSandboxesResponse.FromString)
for labels in ({"app": "streamed"}, {"app": "other"}):
    req = api.StreamPodSandboxesRequest(filter=api.PodSandboxFilter(label_selector=labels))
    print(sum(len(r.pod_sandboxes) for r in stream(req, timeout=10)),
          [p.metadata.name for r in stream(req, timeout=10) for p in r.pod_sandboxes])
PY
        "$OCIC" rmp "$pod" >/dev/null
        [ "$status" -eq 0 ]
        [ "$output" = $'1 [\'streamed\']\n0 []' ]
}
