#!/usr/bin/python3
"""Container benchmark: CreateContainer + StartContainer, then StopContainer
+ RemoveContainer, of a busybox `sleep 3600` container in a running pod.

Run through bench/run.  A local registry serves busybox (mkimage.py
--layers 3) and, for containerd's sandbox, ocid's static pause program as an
image.  Each daemon runs one host-network pod (pid CONTAINER) for the whole
benchmark.  Each repetition, in rotating order, runs --containers iterations:

  ocid        CreateContainer, StartContainer, StopContainer (timeout 0:
              SIGKILL at once; `sleep` as PID 1 ignores SIGTERM),
              RemoveContainer; crun under conmon
  containerd  the same calls; runc under containerd-shim-runc-v2 (its
              default; BENCH_CONTAINERD_RUNTIME=/usr/bin/crun to use crun)
  floor       no daemon, the same pieces as ocid: overlay mount (mount(2)) of
              ocid's unpacked layers of the same image with a fresh upper
              dir, the config.json ocid generated for a container of the
              same config (from ContainerStatus verbose: runtimeSpec; root
              path and cgroup changed), conmon started with ocid's arguments
              -> `crun create` (conmon's sync pipe reports the pid), then
              `crun start`; stop: `crun kill ID 9` and the exit file conmon
              writes (inotify); remove: `crun delete --force`, umount, the
              directories removed.  The floor's containers join ocid's pod's
              pinned IPC namespace, as ocid's do.
"""

import argparse
import ctypes
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import uuid

from benchlib import (PATH, TICK, Cleanup, Containerd, CriClient, LoadMeter, Ocid, Registry, cgroup_parent,
                      common_args, cpu_ticks, floor_table, log, machine_info, mount_options, mounts_under, rotation, setup_common, summary, verdict, versions, write_results)
from pods import pod_config

STEPS = ("create", "start", "stop", "remove", "up", "down")
CALL_TIMEOUT = 60
CONMON = "/usr/bin/conmon"
CRUN = "/usr/bin/crun"

libc = ctypes.CDLL("libc.so.6", use_errno=True)
IN_CREATE, IN_CLOSE_WRITE, IN_MOVED_TO = 0x100, 0x8, 0x80


def mount_overlay(target, options):
    if libc.mount(b"overlay", target.encode(), b"overlay", 0, options.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount overlay on {target}: {os.strerror(e)}")


def umount(target):
    if libc.umount2(target.encode(), 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def ctr_config(name, image):
    return {"metadata": {"name": name, "attempt": 0}, "image": {"image": image},
            "command": ["/bin/sleep", "3600"], "log_path": f"{name}.log"}


class DaemonContainers:
    def __init__(self, daemon, cgroup_parent, image, workdir):
        self.daemon = daemon
        self.name = daemon.name
        self.image = image
        self.cgroup_parent = cgroup_parent
        self.pod_config = pod_config(f"bench-{self.name}", f"uid-{uuid.uuid4()}", self.cgroup_parent,
                                     os.path.join(workdir, f"logs-{self.name}"), network="NODE")
        with CriClient(daemon.sock) as c:
            self.pod = c.call("RunPodSandbox", {"config": self.pod_config}, timeout=CALL_TIMEOUT).pod_sandbox_id
        self.n = 0

    def iteration(self, check=False, keep=False):
        """One container: the seconds of each step.  check (a warm-up, not
        counted): it runs after StartContainer.  keep: stop after start and
        return the container's ID (the floor copies its spec)."""
        self.n += 1
        cfg = ctr_config(f"sleep-{self.n}", self.image)
        req = {"pod_sandbox_id": self.pod, "config": cfg, "sandbox_config": self.pod_config}
        with CriClient(self.daemon.sock) as c:
            c.call("Version")   # the connection is up before the clock starts
            t0 = time.perf_counter()
            cid = c.call("CreateContainer", req, timeout=CALL_TIMEOUT).container_id
            t1 = time.perf_counter()
            c.call("StartContainer", {"container_id": cid}, timeout=CALL_TIMEOUT)
            t2 = time.perf_counter()
            if check or keep:
                state = c.call("ContainerStatus", {"container_id": cid}).status.state
                if state != self.daemon_api().CONTAINER_RUNNING:
                    raise RuntimeError(f"{self.name}: container {cid} is in state {state}, not running")
                if keep:
                    return cid
            c.call("StopContainer", {"container_id": cid, "timeout": 0}, timeout=CALL_TIMEOUT)
            t3 = time.perf_counter()
            c.call("RemoveContainer", {"container_id": cid}, timeout=CALL_TIMEOUT)
            t4 = time.perf_counter()
        return {"create": t1 - t0, "start": t2 - t1, "stop": t3 - t2, "remove": t4 - t3,
                "up": t2 - t0, "down": t4 - t2}

    def daemon_api(self):
        from runtime.v1 import api_pb2
        return api_pb2

    def cpu(self):
        return cpu_ticks(self.daemon.pid) / TICK   # the daemon's own: conmon, shims, runtimes are not


class FloorContainers:
    """ocid's pieces without ocid: overlay + conmon/crun create + crun start."""
    name = "floor"

    def __init__(self, ocid, ocid_ctrs, workdir):
        # A container of the same config, made by ocid: its spec and layers.
        cid = ocid_ctrs.iteration(keep=True)
        with CriClient(ocid.sock) as c:
            info = json.loads(c.call("ContainerStatus", {"container_id": cid, "verbose": True}).info["info"])
            self.spec = info["runtimeSpec"]
            opts = mount_options(self.spec["root"]["path"])
            c.call("StopContainer", {"container_id": cid, "timeout": 0}, timeout=CALL_TIMEOUT)
            c.call("RemoveContainer", {"container_id": cid}, timeout=CALL_TIMEOUT)
        self.lowerdir = next(o for o in opts.split(",") if o.startswith("lowerdir="))
        self.dir = os.path.join(workdir, "floor")
        self.root = f"{self.dir}/root"          # per container: upper, work, rootfs
        self.run = f"{self.dir}/run"            # per container: the bundle
        self.crun_root = f"{self.dir}/crun"
        self.exits = f"{self.dir}/exits"
        self.attach = f"{self.dir}/attach"
        self.logs = f"{self.dir}/logs"
        for d in (self.root, self.run, self.crun_root, self.exits, self.attach, self.logs):
            os.makedirs(d)
        self.cgroup_parent = cgroup_parent("ctr-floor")
        Cleanup.push("floor containers", self.cleanup)
        self.n = 0
        self.ino = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.ino < 0 or libc.inotify_add_watch(self.ino, self.exits.encode(),
                                                  IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def crun(self, *args):
        subprocess.run([CRUN, "--root", self.crun_root, *args], check=True, capture_output=True)

    def create(self, cid, name, parts):
        d = f"{self.root}/{cid}"
        bundle = f"{self.run}/{cid}"
        t0 = time.perf_counter()
        for sub in ("upper", "work", "rootfs"):
            os.makedirs(f"{d}/{sub}", 0o700)
        os.makedirs(bundle, 0o700)
        mount_overlay(f"{d}/rootfs", f"{self.lowerdir},upperdir={d}/upper,workdir={d}/work,volatile")
        parts["mkdir + mount"] = time.perf_counter() - t0
        spec = dict(self.spec, root=dict(self.spec["root"], path=f"{d}/rootfs"),
                    linux=dict(self.spec["linux"], cgroupsPath=f"{self.cgroup_parent}/ocid-{cid}"))
        with open(f"{bundle}/config.json", "w") as f:
            json.dump(spec, f, separators=(",", ":"))
        # conmon as ocid starts it (src/runtime/container.c start_conmon).
        r, w = os.pipe()
        argv = [CONMON, "--api-version", "1", "-c", cid, "-u", cid, "-r", CRUN, "-b", bundle,
                "-p", f"{bundle}/pidfile", "-n", name, "--exit-dir", self.exits,
                "-l", f"k8s-file:{self.logs}/{name}.log", "--log-level", "error",
                "--socket-dir-path", self.attach, "--persist-dir", bundle,
                "--conmon-pidfile", f"{bundle}/conmon.pid",
                "--runtime-arg", "--root", "--runtime-arg", self.crun_root, "--syslog"]
        try:
            p = subprocess.run(argv, env={"_OCI_SYNCPIPE": str(w), "PATH": PATH}, pass_fds=(w,),
                               capture_output=True)
            os.close(w)
            w = -1
            if p.returncode != 0:
                raise RuntimeError(f"floor: conmon failed: {p.stderr!r}")
            buf = b""
            doc = None
            while doc is None:
                chunk = os.read(r, 4096)
                if not chunk:
                    break
                buf += chunk
                try:
                    doc = json.loads(buf)
                except ValueError:
                    pass
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        if not doc or doc.get("data", -1) <= 0:
            raise RuntimeError(f"floor: crun create failed: {buf!r}")
        parts["config.json + conmon/crun create"] = time.perf_counter() - t0 - parts["mkdir + mount"]

    def wait_exit(self, cid, timeout=10):
        path = f"{self.exits}/{cid}"
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):   # checked after the watch exists
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"floor: no exit file for {cid}")
            if select.select([self.ino], [], [], left)[0]:
                try:
                    os.read(self.ino, 65536)
                except BlockingIOError:
                    pass

    def remove(self, cid, parts):
        t0 = time.perf_counter()
        self.crun("delete", "--force", cid)
        t1 = time.perf_counter()
        umount(f"{self.root}/{cid}/rootfs")
        t2 = time.perf_counter()
        shutil.rmtree(f"{self.root}/{cid}")
        shutil.rmtree(f"{self.run}/{cid}")
        os.unlink(f"{self.exits}/{cid}")
        try:
            os.unlink(f"{self.attach}/{cid}")
        except FileNotFoundError:
            pass
        parts.update({"crun delete": t1 - t0, "umount": t2 - t1, "rm": time.perf_counter() - t2})

    def iteration(self, check=False):
        self.n += 1
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        parts = {}
        t0 = time.perf_counter()
        self.create(cid, f"sleep-{self.n}", parts)
        t1 = time.perf_counter()
        self.crun("start", cid)
        t2 = time.perf_counter()
        if check:
            st = json.loads(subprocess.run([CRUN, "--root", self.crun_root, "state", cid], check=True,
                                           capture_output=True, text=True).stdout)
            if st["status"] != "running":
                raise RuntimeError(f"floor: container {cid} is {st['status']}, not running")
        self.crun("kill", cid, "9")
        parts["crun kill"] = time.perf_counter() - t2
        self.wait_exit(cid)
        t3 = time.perf_counter()
        parts["exit file"] = t3 - t2 - parts["crun kill"]
        self.remove(cid, parts)
        t4 = time.perf_counter()
        return {"create": t1 - t0, "start": t2 - t1, "stop": t3 - t2, "remove": t4 - t3,
                "up": t2 - t0, "down": t4 - t2, "parts": parts}

    def cpu(self):
        return None

    def cleanup(self):
        if os.path.isdir(self.crun_root):
            for cid in os.listdir(self.crun_root):
                subprocess.run([CRUN, "--root", self.crun_root, "delete", "--force", cid], capture_output=True)
        for m in mounts_under(self.dir):
            subprocess.run(["umount", "-l", m], check=False)


def ms(x):
    return x * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap)
    ap.add_argument("--pause", required=True, help="ocid's static pause program (for containerd's sandbox image)")
    ap.add_argument("--containers", type=int, default=int(os.environ.get("BENCH_CONTAINERS", 20)),
                    help="containers per repetition and party")
    ap.add_argument("--containerd-runtime", default=os.environ.get("BENCH_CONTAINERD_RUNTIME"),
                    help="runtime binary for containerd's runc shim (default: runc)")
    args = ap.parse_args()
    logdir = setup_common(args)

    meter = LoadMeter()
    samples = {}
    try:
        registry = Registry().start()
        busybox = registry.push("bench-busybox:latest", "--layers", "3")
        pause = registry.push("bench-pause:latest", "--layers", "1", "--add", f"{args.pause}:/pause:0755",
                              "--entrypoint", '["/pause"]', "--cmd", "[]")
        workdir = tempfile.mkdtemp(prefix="ocid-bench-ctr.", dir="/tmp")
        Cleanup.push(f"dir {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))
        ocid = Ocid(args.ocid, logdir, registry=registry.host, pause=args.pause)
        ctrd = Containerd(args.containerd, logdir, registry=registry.host, sandbox_image=pause["reference"],
                          runtime_binary=args.containerd_runtime)
        cgroups = {d.name: cgroup_parent(f"ctr-{d.name}") for d in (ocid, ctrd)}
        ocid.start("containers")
        ctrd.start("containers")
        for d, refs in ((ocid, [busybox]), (ctrd, [busybox, pause])):
            with CriClient(d.sock) as c:
                for img in refs:
                    c.call("PullImage", {"image": {"image": img["reference"]}}, timeout=120)
        ocid_ctrs = DaemonContainers(ocid, cgroups["ocid"], busybox["reference"], workdir)
        ctrd_ctrs = DaemonContainers(ctrd, cgroups["containerd"], busybox["reference"], workdir)
        parties = [ocid_ctrs, ctrd_ctrs, FloorContainers(ocid, ocid_ctrs, workdir)]
        samples = {p.name: [] for p in parties}
        log(f"== containers: create + start, stop + remove of busybox sleep in a host-network pod, "
            f"{args.containers} containers per run; {args.reps} runs")
        for p in parties:   # warm-up, not counted; the first one checks that it runs
            p.iteration(check=True)
            p.iteration()
        for rep in range(args.reps):
            for p in rotation(parties, rep):
                cpu0 = p.cpu()
                its = [p.iteration() for _ in range(args.containers)]
                cpu = (p.cpu() - cpu0) / args.containers if cpu0 is not None else None
                r = {s: sorted(i[s] for i in its)[len(its) // 2] for s in STEPS}
                r["cpu"] = cpu
                r["iterations"] = its
                samples[p.name].append(r)
                log(f"  #{rep + 1} {p.name:10s} median create {ms(r['create']):6.1f}  start {ms(r['start']):6.1f}"
                    f"  stop {ms(r['stop']):6.1f}  remove {ms(r['remove']):6.1f} ms"
                    + (f"  (daemon CPU {ms(cpu):5.1f} ms per container)" if cpu is not None else ""))
    finally:
        Cleanup.run_all()

    meter.finish()
    rows = []
    labels = {"create": "CreateContainer (floor: overlay + conmon/crun create)", "start": "StartContainer (crun start)",
              "stop": "StopContainer, timeout 0 (floor: crun kill + exit file)",
              "remove": "RemoveContainer (floor: crun delete + umount + rm)",
              "up": "create + start", "down": "stop + remove"}
    for s in STEPS:
        row = {"metric": labels[s], "unit": "ms"}
        for name, runs in samples.items():
            row[name] = summary([ms(r[s]) for r in runs])
            row[name]["best"] = min(ms(i[s]) for r in runs for i in r["iterations"])
        rows.append(row)
    row = {"metric": "daemon's own CPU per container (all four calls)", "unit": "ms"}
    for name, runs in samples.items():
        if runs and runs[0]["cpu"] is not None:
            row[name] = summary([ms(r["cpu"]) for r in runs])
    rows.append(row)
    up, down = rows[4], rows[5]
    targets, lines = [], []
    for label, row in (("create + start", up), ("stop + remove", down)):
        for other, limit in (("containerd", 0.5), ("floor", 1.5)):
            value = row["ocid"]["median"] / row[other]["median"]
            ok, line = verdict(f"target: ocid / {other} {label}", value, limit)
            targets.append({"metric": f"ocid/{other} {label}", "limit": limit, "value": value, "pass": ok})
            lines.append(line)

    # Where the floor's time goes: medians of its pieces over all iterations.
    its = [i for r in samples.get("floor", []) for i in r["iterations"]]
    pieces = "floor pieces (median over all its containers, ms): " + ", ".join(
        f"{k} {ms(sorted(i['parts'][k] for i in its)[len(its) // 2]):.1f}" for k in its[0]["parts"]) if its else ""

    info = versions(args, machine_info())
    info.update(meter.as_dict())
    info["containerd_runtime"] = args.containerd_runtime or "runc"
    head = (meter.header("containers: ocid vs containerd CRI vs floor", info) +
            f"\n{args.containers} containers per run, {args.reps} runs each, order rotating; median of the runs' "
            f"medians [fastest single container]; ocid and the floor: crun under conmon; containerd: "
            f"{args.containerd_runtime or 'runc'} under containerd-shim-runc-v2")
    text = f"{head}\n\n{floor_table(rows)}\n\n{pieces}\n\n" + "\n".join(lines) + "\n"
    log("\n" + text)
    result = {"date": meter.started, "machine": info,
              "params": {"reps": args.reps, "containers": args.containers,
                         "containerd_runtime": args.containerd_runtime},
              "rows": rows, "raw": samples, "targets": targets}
    write_results(args.out, "containers", text, result)


if __name__ == "__main__":
    main()
