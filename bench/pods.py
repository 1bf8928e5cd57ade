#!/usr/bin/python3
"""Pod benchmark: RunPodSandbox + StopPodSandbox + RemovePodSandbox with a
bridge network.

Run through bench/run.  Three test bridge networks as in
tests/integration/cni.bash (the same conflist: bridge with host-local IPAM,
loopback, portmap; ipMasq off; an iptables rule dropping anything forwarded
from the bridge elsewhere), each with its own bridge and a subnet used by
nothing else: one for ocid, one for containerd, one for the floor.  Each
repetition, in rotating order, runs --pods iterations of:

  ocid        RunPodSandbox, StopPodSandbox, RemovePodSandbox (network POD,
              pid CONTAINER: no infra process)
  containerd  the same calls; its sandbox (pause) image is ocid's static pause
              program (build/src/pause/pause as /pause), pushed to a local
              registry and pulled before the runs
  floor       no daemon: `ip netns add` + the conflist's ADD chain run by hand
              (plugins from /usr/lib/cni, CNI_* variables, prevResult passed
              along) for "run"; the DEL chain in reverse for "stop";
              `ip netns del` for "remove"

Both daemons stay up through the benchmark.  The first pod of each party is
checked (it got an address on its bridge's subnet) and, like a second one, not
counted.
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

from benchlib import (CNI_PLUGIN_DIR, PATH, TICK, BridgeNet, Cleanup, Containerd, CriClient, LoadMeter, Ocid,
                      Registry, cgroup_parent, common_args, cpu_ticks, floor_table, log, machine_info, rotation,
                      setup_common, summary, verdict, versions, write_results)

STEPS = ("run", "stop", "remove", "total")
CALL_TIMEOUT = 60


def pod_config(name, uid, cgroup_parent, log_dir, network="POD"):
    """A kubelet-like pod config (protobuf JSON names).  A host-network pod
    keeps the host's name (runc refuses a hostname without a UTS namespace)."""
    return {"metadata": {"name": name, "namespace": "ocid-bench", "uid": uid, "attempt": 0},
            "hostname": name if network == "POD" else "", "log_directory": log_dir,
            "dns_config": {"servers": ["10.0.0.10"], "searches": ["bench.svc.local"], "options": ["ndots:2"]},
            "labels": {"app": "ocid-bench"},
            "linux": {"cgroup_parent": cgroup_parent,
                      "security_context": {"namespace_options": {"network": network, "pid": "CONTAINER",
                                                                 "ipc": "POD"}}}}


class DaemonPods:
    def __init__(self, daemon, cgroup_parent, workdir):
        self.daemon = daemon
        self.name = daemon.name
        self.cgroup_parent = cgroup_parent
        self.log_dir = os.path.join(workdir, f"logs-{self.name}")
        self.n = 0

    def iteration(self, check_subnet=None):
        """One pod: the seconds of each step.  With check_subnet (a warm-up
        pod, not counted) also check that it got an address there."""
        self.n += 1
        name = f"bench-{self.n}"
        cfg = pod_config(name, f"uid-{uuid.uuid4()}", self.cgroup_parent, f"{self.log_dir}/{name}")
        with CriClient(self.daemon.sock) as c:
            c.call("Version")   # the connection is up before the clock starts
            t0 = time.perf_counter()
            pod = c.call("RunPodSandbox", {"config": cfg}, timeout=CALL_TIMEOUT).pod_sandbox_id
            t1 = time.perf_counter()
            if check_subnet:
                st = c.call("PodSandboxStatus", {"pod_sandbox_id": pod})
                ip = st.status.network.ip
                if not ip.startswith(check_subnet + "."):
                    raise RuntimeError(f"{self.name}: pod IP {ip!r} is not on {check_subnet}.0/24")
            c.call("StopPodSandbox", {"pod_sandbox_id": pod}, timeout=CALL_TIMEOUT)
            t2 = time.perf_counter()
            c.call("RemovePodSandbox", {"pod_sandbox_id": pod}, timeout=CALL_TIMEOUT)
            t3 = time.perf_counter()
        return {"run": t1 - t0, "stop": t2 - t1, "remove": t3 - t2, "total": t3 - t0}

    def cpu(self):
        return cpu_ticks(self.daemon.pid, children=True) / TICK


class FloorPods:
    """The network part of a pod, without a daemon."""
    name = "floor"

    def __init__(self, net):
        self.conflist = net.conflist()
        self.n = 0
        self.prefix = f"ocid-bench-floor-{os.getpid()}-"
        Cleanup.push("floor netns", self.cleanup)

    def plugin(self, conf, command, netns, cid, prev=None):
        body = dict(conf, cniVersion=self.conflist["cniVersion"], name=self.conflist["name"])
        if "portMappings" in conf.get("capabilities", {}):
            body["runtimeConfig"] = {"portMappings": []}
        if prev is not None:
            body["prevResult"] = prev
        env = {"PATH": PATH, "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_PLUGIN_DIR,
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=ocid-bench;K8S_POD_NAME=bench-{self.n};"
                           f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID=uid-{cid}"}
        p = subprocess.run([os.path.join(CNI_PLUGIN_DIR, conf["type"])], input=json.dumps(body).encode(),
                           env=env, capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"floor: CNI {command} {conf['type']} failed: {p.stdout!r} {p.stderr!r}")
        return json.loads(p.stdout) if p.stdout.strip() else None

    def iteration(self, check_subnet=None):
        self.n += 1
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        ns = f"{self.prefix}{self.n}"
        netns = f"/run/netns/{ns}"
        plugins = self.conflist["plugins"]
        parts = {}
        t0 = time.perf_counter()
        subprocess.run(["ip", "netns", "add", ns], check=True)
        parts["netns add"] = time.perf_counter() - t0
        result = None
        for conf in plugins:
            t = time.perf_counter()
            result = self.plugin(conf, "ADD", netns, cid, result)
            parts[f"{conf['type']} ADD"] = time.perf_counter() - t
        t1 = time.perf_counter()
        if check_subnet:
            ip = result["ips"][0]["address"]
            if not ip.startswith(check_subnet + "."):
                raise RuntimeError(f"floor: pod IP {ip!r} is not on {check_subnet}.0/24")
        for conf in reversed(plugins):
            t = time.perf_counter()
            self.plugin(conf, "DEL", netns, cid, result)
            parts[f"{conf['type']} DEL"] = time.perf_counter() - t
        t2 = time.perf_counter()
        subprocess.run(["ip", "netns", "del", ns], check=True)
        t3 = time.perf_counter()
        parts["netns del"] = t3 - t2
        return {"run": t1 - t0, "stop": t2 - t1, "remove": t3 - t2, "total": t3 - t0, "parts": parts}

    def cpu(self):
        ru = os.times()
        return ru.children_user + ru.children_system

    def cleanup(self):
        if os.path.isdir("/run/netns"):
            for ns in os.listdir("/run/netns"):
                if ns.startswith(self.prefix):
                    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def ms(x):
    return x * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap)
    ap.add_argument("--pause", required=True, help="ocid's static pause program (for containerd's sandbox image)")
    ap.add_argument("--pods", type=int, default=int(os.environ.get("BENCH_PODS", 20)),
                    help="pods per repetition and party")
    args = ap.parse_args()
    logdir = setup_common(args)

    meter = LoadMeter()
    samples = {}
    try:
        registry = Registry().start()
        pause = registry.push("bench-pause:latest", "--layers", "1", "--add", f"{args.pause}:/pause:0755",
                              "--entrypoint", '["/pause"]', "--cmd", "[]")
        workdir = tempfile.mkdtemp(prefix="ocid-bench-pods.", dir="/tmp")
        Cleanup.push(f"dir {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))
        nets = {name: BridgeNet(tag, workdir).setup()
                for name, tag in (("ocid", "o"), ("containerd", "c"), ("floor", "f"))}
        ocid = Ocid(args.ocid, logdir, conflist=nets["ocid"].conflist(), pause=args.pause)
        ctrd = Containerd(args.containerd, logdir, registry=registry.host, conflist=nets["containerd"].conflist(),
                          sandbox_image=pause["reference"])
        cgroups = {d.name: cgroup_parent(f"pods-{d.name}") for d in (ocid, ctrd)}
        ocid.start("pods")
        ctrd.start("pods")
        with CriClient(ctrd.sock) as c:
            c.call("PullImage", {"image": {"image": pause["reference"]}}, timeout=120)
        parties = [DaemonPods(ocid, cgroups["ocid"], workdir), DaemonPods(ctrd, cgroups["containerd"], workdir),
                   FloorPods(nets["floor"])]
        samples = {p.name: [] for p in parties}
        log(f"== pods: run + stop + remove with a bridge network, {args.pods} pods per run; {args.reps} runs")
        for p in parties:   # warm-up, not counted; the first one checks the pod's address
            p.iteration(check_subnet=nets[p.name].prefix)
            p.iteration()
        for rep in range(args.reps):
            for p in rotation(parties, rep):
                cpu0 = p.cpu()
                its = [p.iteration() for _ in range(args.pods)]
                cpu = (p.cpu() - cpu0) / args.pods
                r = {s: sorted(i[s] for i in its)[len(its) // 2] for s in STEPS}
                r["min_total"] = min(i["total"] for i in its)
                r["cpu"] = cpu
                r["iterations"] = its
                samples[p.name].append(r)
                log(f"  #{rep + 1} {p.name:10s} median run {ms(r['run']):6.1f}  stop {ms(r['stop']):6.1f}"
                    f"  remove {ms(r['remove']):6.1f}  total {ms(r['total']):6.1f} ms"
                    f"  (min total {ms(r['min_total']):6.1f} ms; CPU {ms(cpu):5.1f} ms per pod)")
    finally:
        Cleanup.run_all()

    meter.finish()
    rows = []
    labels = {"run": "RunPodSandbox (floor: netns add + CNI ADD)", "stop": "StopPodSandbox (floor: CNI DEL)",
              "remove": "RemovePodSandbox (floor: netns del)", "total": "run + stop + remove"}
    for s in STEPS:
        row = {"metric": labels[s], "unit": "ms"}
        for name, runs in samples.items():
            med = summary([ms(r[s]) for r in runs])
            # [min]: the fastest single iteration of all the runs
            med["best"] = min(ms(i[s]) for r in runs for i in r["iterations"])
            row[name] = med
        rows.append(row)
    row = {"metric": "CPU per pod: daemon + its waited-for children", "unit": "ms"}
    for name, runs in samples.items():
        row[name] = summary([ms(r["cpu"]) for r in runs])
    rows.append(row)
    total = rows[3]
    r_ctrd = total["ocid"]["median"] / total["containerd"]["median"]
    r_floor = total["ocid"]["median"] / total["floor"]["median"]
    ok1, t1 = verdict("target: ocid / containerd run + stop + remove", r_ctrd, 0.5)
    ok2, t2 = verdict("target: ocid / floor run + stop + remove", r_floor, 2.0)

    # Where the floor's time goes: medians of its pieces over all iterations.
    its = [i for r in samples.get("floor", []) for i in r["iterations"]]
    pieces = "floor pieces (median over all its pods, ms): " + ", ".join(
        f"{k} {ms(sorted(i['parts'][k] for i in its)[len(its) // 2]):.1f}" for k in its[0]["parts"]) if its else ""

    info = versions(args, machine_info())
    info.update(meter.as_dict())
    head = (meter.header("pods: ocid vs containerd CRI vs floor", info) +
            f"\n{args.pods} pods per run, {args.reps} runs each, order rotating; median of the runs' medians "
            f"[fastest single pod]; CPU from /proc (10 ms ticks; containerd's shims and runc are not its "
            f"waited-for children and are not counted)")
    text = f"{head}\n\n{floor_table(rows)}\n\n{pieces}\n\n{t1}\n{t2}\n"
    log("\n" + text)
    result = {"date": meter.started, "machine": info,
              "params": {"reps": args.reps, "pods": args.pods}, "rows": rows, "raw": samples,
              "targets": [{"metric": "ocid/containerd pod total", "limit": 0.5, "value": r_ctrd, "pass": ok1},
                          {"metric": "ocid/floor pod total", "limit": 2.0, "value": r_floor, "pass": ok2}]}
    write_results(args.out, "pods", text, result)


if __name__ == "__main__":
    main()
