#!/usr/bin/python3
"""An independent CRI client for ocid's interop tests, on Debian's python3-grpcio.

The Python modules for runtime.v1 are generated at test time (protoc
--python_out) into a temporary directory given with --gen-dir; no grpc
plugin is needed: calls go through channel.unary_unary with the generated
classes' serializers.

Every command prints one JSON object on stdout and exits 0 when the
gRPC outcome is what the command reports as success, 1 otherwise:

  call METHOD [REQUEST_JSON]   {"ok", "code", "details", "response", "elapsed"}
  raw METHOD --size N          send N bytes of raw payload as the request
  big-pod-cidr --size N        UpdateRuntimeConfig with an N-byte pod_cidr
  big-version --size N         Version with an N-byte version string
  concurrent N                 N calls at once (Version and Status mixed)
  deadline --timeout S         Status with deadline S, Version calls meanwhile

METHOD is "Version" (RuntimeService), "ImageService/PullImage", or a full
path "/runtime.v1.RuntimeService/Version".
"""

import argparse
import json
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--gen-dir", required=True, help="where protoc --python_out wrote runtime/v1")
    p.add_argument("--socket", required=True, help="ocid's unix socket path")
    p.add_argument("--authority", default=None,
                   help="':authority' to send; 'socket' sends the socket path the way grpc-go "
                        "does (default: grpcio's own, 'localhost')")
    p.add_argument("--timeout", type=float, default=10.0, help="per-call deadline, seconds")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call")
    c.add_argument("method")
    c.add_argument("request", nargs="?", default="{}")
    r = sub.add_parser("raw")
    r.add_argument("method")
    r.add_argument("--size", type=int, required=True)
    b = sub.add_parser("big-pod-cidr")
    b.add_argument("--size", type=int, required=True)
    v = sub.add_parser("big-version")
    v.add_argument("--size", type=int, required=True)
    n = sub.add_parser("concurrent")
    n.add_argument("count", type=int)
    d = sub.add_parser("deadline")
    d.add_argument("--status-timeout", type=float, required=True)
    d.add_argument("--versions", type=int, default=5)
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.gen_dir)

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from runtime.v1 import api_pb2  # noqa: E402


def method_path(method):
    if method.startswith("/"):
        return method
    service, _, name = method.rpartition("/")
    return "/runtime.v1.%s/%s" % (service or "RuntimeService", name)


def method_types(path):
    """Request and response classes of a CRI method, or (None, None)."""
    try:
        service, name = path.lstrip("/").split("/")
        svc = api_pb2.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[-1]]
        m = svc.methods_by_name[name]
    except (ValueError, KeyError):
        return None, None
    return getattr(api_pb2, m.input_type.name), getattr(api_pb2, m.output_type.name)


def open_channel():
    options = [
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    if args.authority == "socket":
        options.append(("grpc.default_authority", args.socket))
    elif args.authority:
        options.append(("grpc.default_authority", args.authority))
    return grpc.insecure_channel("unix:" + args.socket, options=options)


def rpc(channel, path, raw=False):
    req_cls, resp_cls = method_types(path)
    if raw or req_cls is None:
        return channel.unary_unary(path, request_serializer=lambda x: x,
                                   response_deserializer=lambda x: x)
    return channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                               response_deserializer=resp_cls.FromString)


def outcome(fn, *a, **kw):
    """Run one call; describe it as a dict."""
    t0 = time.monotonic()
    try:
        resp = fn(*a, **kw)
        out = {"ok": True, "code": "OK", "details": ""}
        if isinstance(resp, bytes):
            out["response_bytes"] = len(resp)
        else:
            out["response"] = json_format.MessageToDict(resp)
    except grpc.RpcError as e:
        out = {"ok": False, "code": e.code().name, "details": e.details() or ""}
    out["elapsed"] = round(time.monotonic() - t0, 3)
    return out


def emit(obj, ok):
    print(json.dumps(obj, sort_keys=True))
    sys.exit(0 if ok else 1)


def cmd_call(ch):
    path = method_path(args.method)
    req_cls, _ = method_types(path)
    if req_cls is None:
        req = b""
    else:
        req = json_format.Parse(args.request, req_cls())
    out = outcome(rpc(ch, path), req, timeout=args.timeout)
    emit(out, out["ok"])


def cmd_raw(ch):
    payload = b"\x00" * args.size
    out = outcome(rpc(ch, method_path(args.method), raw=True), payload, timeout=args.timeout)
    emit(out, out["ok"])


def cmd_big_pod_cidr(ch):
    req = api_pb2.UpdateRuntimeConfigRequest()
    req.runtime_config.network_config.pod_cidr = "1" * args.size
    out = outcome(rpc(ch, method_path("UpdateRuntimeConfig")), req, timeout=args.timeout)
    out["request_bytes"] = req.ByteSize()
    emit(out, out["ok"])


def cmd_big_version(ch):
    req = api_pb2.VersionRequest(version="v" * args.size)
    out = outcome(rpc(ch, method_path("Version")), req, timeout=args.timeout)
    out["request_bytes"] = req.ByteSize()
    emit(out, out["ok"])


def cmd_concurrent(ch):
    version = rpc(ch, method_path("Version"))
    status = rpc(ch, method_path("Status"))
    # Start every call before waiting for any: futures on one channel are
    # concurrent streams on one HTTP/2 connection.
    futures = []
    for i in range(args.count):
        if i % 2:
            futures.append(("Status", status.future(api_pb2.StatusRequest(verbose=bool(i % 4 == 1)),
                                                    timeout=args.timeout)))
        else:
            futures.append(("Version", version.future(api_pb2.VersionRequest(version="v1"),
                                                      timeout=args.timeout)))
    codes = {}
    failures = []
    for name, f in futures:
        try:
            resp = f.result()
            if name == "Version" and resp.runtime_name != "ocid":
                failures.append("Version answered runtime_name %r" % resp.runtime_name)
            code = "OK"
        except grpc.RpcError as e:
            code = e.code().name
            failures.append("%s: %s %s" % (name, code, e.details()))
        codes[code] = codes.get(code, 0) + 1
    emit({"codes": codes, "failures": failures[:10]}, not failures)


def cmd_deadline(ch):
    """A Status with a short deadline against a slow CNI STATUS, and
    Version calls while it is pending: the fast path must not wait."""
    status = rpc(ch, method_path("Status"))
    version = rpc(ch, method_path("Version"))
    result = {}

    def slow():
        result["status"] = outcome(status, api_pb2.StatusRequest(), timeout=args.status_timeout)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.05)
    versions = []
    for _ in range(args.versions):
        versions.append(outcome(version, api_pb2.VersionRequest(version="v1"), timeout=5))
    t.join()
    result["versions"] = versions
    result["version_max_elapsed"] = max(v["elapsed"] for v in versions)
    ok = result["status"]["code"] == "DEADLINE_EXCEEDED" and all(v["ok"] for v in versions)
    emit(result, ok)


def main():
    ch = open_channel()
    try:
        {"call": cmd_call, "raw": cmd_raw, "big-pod-cidr": cmd_big_pod_cidr,
         "big-version": cmd_big_version,
         "concurrent": cmd_concurrent, "deadline": cmd_deadline}[args.cmd](ch)
    finally:
        ch.close()


if __name__ == "__main__":
    main()
