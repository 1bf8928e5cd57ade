#!/usr/bin/python3
"""Compare ocid with containerd's CRI plugin on this machine.

Run through bench/run, which installs the packages, builds ocid and generates
the Python protobuf module from proto/runtime/v1/api.proto.

Every daemon started here gets its own temporary root, state and socket
directories and its own config; it is stopped by its PID, anything mounted
under its directory is unmounted and the directory removed.  Nothing else on
the machine is touched.

Benchmarks (each repeated BENCH_REPS times, daemons alternated):
  idle     fresh start, wait for CRI Version, idle 2 s, read VmRSS, Pss, threads
  latency  sequential Version / Status calls, per-call wall time
  tput     Version / Status calls from N threads sharing one channel for S
           seconds; the daemon's utime+stime before/after gives CPU per call
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import grpc

TICK = os.sysconf("SC_CLK_TCK")
CALL_TIMEOUT = 5.0
RSS_LIMIT_KIB = 5_000_000 / 1024   # the target: ocid idle RSS under 5 MB


# --------------------------------------------------------------------------
# Daemons

def read_status(pid):
    """VmRSS, VmHWM (KiB) and Threads from /proc/PID/status, Pss from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
            elif key == "Threads":
                out[key] = int(value)
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # fields 14 and 15 of stat(5)


def machine_ticks():
    """(busy, total) clock ticks of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]   # idle + iowait
    return sum(v) - idle, sum(v)


def busy_pct(t0, t1):
    """Share of the machine's CPUs busy between two machine_ticks() samples."""
    return 100 * (t1[0] - t0[0]) / max(1, t1[1] - t0[1])


def mounts_under(path):
    """Mount points at or below path, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == path or mnt.startswith(path + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


class Daemon:
    """One daemon in its own temporary directory."""
    running = []   # every daemon started and not yet stopped, for cleanup

    def __init__(self, name, logdir):
        self.name = name
        self.logdir = logdir
        self.proc = None
        self.dir = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, run_no):
        self.dir = tempfile.mkdtemp(prefix=f"{self.name}-bench.", dir="/tmp")
        self.log = os.path.join(self.logdir, f"{self.name}-{run_no}.log")
        argv = self.prepare()
        with open(self.log, "wb") as log:
            # A session of its own: a Ctrl-C in the terminal reaches us, and
            # we stop the daemon ourselves.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        Daemon.running.append(self)
        self.wait_ready()

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            if os.path.exists(self.sock):
                with CriClient(self.sock) as c:
                    try:
                        c.call("Version", timeout=1.0)
                        return
                    except grpc.RpcError:
                        pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer Version within {timeout} s; see {self.log}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in Daemon.running:
            Daemon.running.remove(self)
        if self.dir:
            for mnt in mounts_under(self.dir):
                subprocess.run(["umount", "-l", mnt], check=False)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @classmethod
    def stop_all(cls):
        for d in list(cls.running):
            d.stop()


class Ocid(Daemon):
    def __init__(self, binary, logdir):
        super().__init__("ocid", logdir)
        self.binary = binary

    def prepare(self):
        d = self.dir
        for sub in ("run", "cni", "conf.d"):
            os.mkdir(os.path.join(d, sub))
        self.sock = f"{d}/run/ocid.sock"
        conf = f"{d}/ocid.conf"
        # Default settings except where state lives: no system path is used.
        with open(conf, "w") as f:
            f.write(f'[ocid]\nroot = "{d}/root"\nrunroot = "{d}/run"\n\n'
                    f'[ocid.api]\nlisten = "{self.sock}"\n\n'
                    f'[ocid.network]\nnetwork_dir = "{d}/cni"\n')
        return [self.binary, "--config", conf, "--config-dir", f"{d}/conf.d"]


class Containerd(Daemon):
    # Snapshotters this machine cannot load anyway (no aufs/btrfs/zfs/dm
    # pool); disabling them only skips their failed probes at start.
    DISABLED = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

    def __init__(self, binary, logdir):
        super().__init__("containerd", logdir)
        self.binary = binary

    def prepare(self):
        d = self.dir
        os.mkdir(f"{d}/cni")
        self.sock = f"{d}/containerd.sock"
        conf = f"{d}/config.toml"
        disabled = ", ".join(f'"{p}"' for p in self.DISABLED)
        # Keys as in `containerd config default` of Debian's 1.6.  No TCP,
        # debug or metrics listener; the CRI plugin's streaming server binds
        # 127.0.0.1 (ocid's does too).
        with open(conf, "w") as f:
            f.write(f'''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]

[grpc]
  address = "{self.sock}"
  tcp_address = ""

[ttrpc]
  address = "{self.sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "{d}/cni"
''')
        return [self.binary, "--config", conf]


# --------------------------------------------------------------------------
# The CRI client: one implementation used against both daemons.

class CriClient:
    def __init__(self, sock):
        from runtime.v1 import api_pb2 as api
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        svc = "/runtime.v1.RuntimeService/"
        self.methods = {
            "Version": (self.channel.unary_unary(svc + "Version",
                            request_serializer=api.VersionRequest.SerializeToString,
                            response_deserializer=api.VersionResponse.FromString),
                        api.VersionRequest(version="v1")),
            "Status": (self.channel.unary_unary(svc + "Status",
                           request_serializer=api.StatusRequest.SerializeToString,
                           response_deserializer=api.StatusResponse.FromString),
                       api.StatusRequest(verbose=False)),
        }

    def call(self, method, timeout=CALL_TIMEOUT):
        stub, req = self.methods[method]
        return stub(req, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.channel.close()


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def bench_latency(sock, method, calls, warmup=200):
    """Sequential calls; per-call wall time in microseconds."""
    with CriClient(sock) as c:
        for _ in range(warmup):
            c.call(method)
        lat = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            c.call(method)
            lat.append((time.perf_counter_ns() - t0) / 1000)
    lat.sort()
    return {"median_us": statistics.median(lat), "p99_us": percentile(lat, 99), "min_us": lat[0]}


def bench_throughput(sock, pid, method, threads, seconds, warmup=200):
    """Calls from `threads` threads sharing one channel for `seconds`."""
    with CriClient(sock) as c:
        for _ in range(warmup):
            c.call(method)
        counts = [0] * threads
        errors = [0] * threads
        start = threading.Barrier(threads + 1)
        stop_at = [0.0]

        def worker(i):
            try:
                start.wait()
            except threading.BrokenBarrierError:   # the run was interrupted
                return
            n = e = 0
            while time.monotonic() < stop_at[0]:
                try:
                    c.call(method)
                    n += 1
                except grpc.RpcError:
                    e += 1
            counts[i], errors[i] = n, e

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        try:
            ticks0, client0, machine0 = cpu_ticks(pid), os.times(), machine_ticks()
            t0 = time.monotonic()
            stop_at[0] = t0 + seconds
            start.wait()
            for t in pool:
                t.join()
            elapsed = time.monotonic() - t0
            ticks1, client1, machine1 = cpu_ticks(pid), os.times(), machine_ticks()
        finally:
            # Interrupted (Ctrl-C, SIGTERM): let the workers finish their
            # calls before the channel closes.
            stop_at[0] = 0
            start.abort()
            for t in pool:
                t.join()
    calls = sum(counts)
    cpu_ms = (ticks1 - ticks0) * 1000 / TICK
    client_cpu = (client1.user + client1.system) - (client0.user + client0.system)
    if sum(errors):
        raise RuntimeError(f"{sum(errors)} calls of {method} failed during the throughput run")
    return {"calls_per_s": calls / elapsed, "calls": calls,
            "cpu_ms_per_1000": cpu_ms / calls * 1000,
            "daemon_cpu_pct": cpu_ms / 10 / elapsed,
            "client_cpu_pct": client_cpu * 100 / elapsed,
            "machine_busy_pct": busy_pct(machine0, machine1)}


# --------------------------------------------------------------------------
# Runs

def run_idle(daemons, reps, idle_s):
    """Fresh start per repetition, the order of the daemons alternated."""
    samples = {d.name: [] for d in daemons}
    for rep in range(reps):
        order = daemons if rep % 2 == 0 else daemons[::-1]
        for d in order:
            d.start(f"idle{rep}")
            time.sleep(idle_s)
            samples[d.name].append(read_status(d.pid))
            d.stop()
            s = samples[d.name][-1]
            print(f"  idle #{rep + 1} {d.name:10s} RSS {s['VmRSS']:6d} KiB  Pss {s['Pss']:6d} KiB"
                  f"  threads {s['Threads']}", flush=True)
    return samples


def run_calls(daemons, reps, calls, threads, seconds):
    """Both daemons up; each benchmark alternates between them, every rep."""
    samples = {d.name: {} for d in daemons}
    for d in daemons:
        d.start("calls")
    for rep in range(reps):
        order = daemons if rep % 2 == 0 else daemons[::-1]
        for method in ("Version", "Status"):
            for d in order:
                r = bench_latency(d.sock, method, calls)
                samples[d.name].setdefault(f"latency_{method}", []).append(r)
                print(f"  #{rep + 1} {d.name:10s} {method:7s} latency median {r['median_us']:7.1f} us"
                      f"  p99 {r['p99_us']:7.1f} us", flush=True)
            for d in order:
                r = bench_throughput(d.sock, d.pid, method, threads, seconds)
                samples[d.name].setdefault(f"tput_{method}", []).append(r)
                print(f"  #{rep + 1} {d.name:10s} {method:7s} {r['calls_per_s']:8.0f} calls/s"
                      f"  {r['cpu_ms_per_1000']:6.1f} CPU ms/1000 calls"
                      f"  (CPU: daemon {r['daemon_cpu_pct']:.0f}%, client {r['client_cpu_pct']:.0f}%,"
                      f" machine {r['machine_busy_pct']:.0f}% of {os.cpu_count()})",
                      flush=True)
    for d in daemons:
        samples[d.name]["after_load"] = [read_status(d.pid)]
        d.stop()
    return samples


# --------------------------------------------------------------------------
# Report

def summary(values, higher_is_better=False):
    return {"median": statistics.median(values),
            "best": max(values) if higher_is_better else min(values),
            "values": values}


def build_rows(idle, calls):
    """(label, unit, key, ocid summary, containerd summary, higher_is_better)"""
    rows = []

    def add(label, unit, key, pick, higher=False, scale=1.0):
        o = summary([pick(x) * scale for x in key("ocid")], higher)
        c = summary([pick(x) * scale for x in key("containerd")], higher)
        rows.append({"metric": label, "unit": unit, "higher_is_better": higher,
                     "ocid": o, "containerd": c, "ratio": o["median"] / c["median"]})

    mib = 1 / 1024
    add("idle RSS", "MiB", lambda n: idle[n], lambda s: s["VmRSS"], scale=mib)
    add("idle Pss", "MiB", lambda n: idle[n], lambda s: s["Pss"], scale=mib)
    add("idle threads", "", lambda n: idle[n], lambda s: s["Threads"])
    for m in ("Version", "Status"):
        add(f"{m} latency median", "us", lambda n: calls[n][f"latency_{m}"], lambda r: r["median_us"])
        add(f"{m} latency p99", "us", lambda n: calls[n][f"latency_{m}"], lambda r: r["p99_us"])
    for m in ("Version", "Status"):
        add(f"{m} throughput", "calls/s", lambda n: calls[n][f"tput_{m}"],
            lambda r: r["calls_per_s"], higher=True)
    for m in ("Version", "Status"):
        add(f"{m} CPU per 1000 calls", "ms", lambda n: calls[n][f"tput_{m}"],
            lambda r: r["cpu_ms_per_1000"])
    add("RSS after the call runs", "MiB", lambda n: calls[n]["after_load"], lambda s: s["VmRSS"], scale=mib)
    add("peak RSS (VmHWM)", "MiB", lambda n: calls[n]["after_load"], lambda s: s["VmHWM"], scale=mib)
    add("threads after the call runs", "", lambda n: calls[n]["after_load"], lambda s: s["Threads"])
    return rows


def fmt(v):
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}" if v != int(v) else f"{v:.0f}"


def table(rows):
    lines = ["| metric | ocid median [best] | containerd median [best] | ocid / containerd |",
             "|---|---|---|---|"]
    for r in rows:
        unit = f" ({r['unit']})" if r["unit"] else ""
        o, c = r["ocid"], r["containerd"]
        lines.append(f"| {r['metric']}{unit} | {fmt(o['median'])} [{fmt(o['best'])}]"
                     f" | {fmt(c['median'])} [{fmt(c['best'])}] | {r['ratio']:.2f} |")
    return "\n".join(lines)


def machine_info():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu_model": model,
            "python": platform.python_version(), "grpcio": grpc.__version__}


def version_of(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ocid", required=True, help="the ocid binary")
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--gen", required=True, help="directory holding runtime/v1/api_pb2.py")
    ap.add_argument("--out", required=True, help="directory for latest.json, latest.md and logs")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 5)))
    ap.add_argument("--calls", type=int, default=int(os.environ.get("BENCH_CALLS", 2000)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 8)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    ap.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading memory")
    args = ap.parse_args()

    sys.path.insert(0, args.gen)
    logdir = os.path.join(args.out, "logs")
    os.makedirs(logdir, exist_ok=True)

    # SIGTERM and SIGHUP end the run like Ctrl-C: through the finally below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))

    daemons = [Ocid(args.ocid, logdir), Containerd(args.containerd, logdir)]
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0, machine0 = os.getloadavg(), machine_ticks()
    try:
        print(f"== idle memory: fresh start, Version answered, {args.idle:g} s idle; {args.reps} runs")
        idle = run_idle(daemons, args.reps, args.idle)
        print(f"== CRI calls: latency over {args.calls} sequential calls; throughput with "
              f"{args.threads} threads for {args.seconds:g} s; {args.reps} runs")
        calls = run_calls(daemons, args.reps, args.calls, args.threads, args.seconds)
    finally:
        Daemon.stop_all()

    load1, machine1 = os.getloadavg(), machine_ticks()
    rows = build_rows(idle, calls)
    rss = rows[0]["ocid"]
    rss_kib = rss["median"] * 1024
    passed = rss_kib < RSS_LIMIT_KIB
    target = (f"target: ocid idle RSS under 5 MB (5,000,000 bytes = {RSS_LIMIT_KIB:.0f} KiB): "
              f"median {rss_kib:.0f} KiB, max {max(rss['values']) * 1024:.0f} KiB -> "
              f"{'PASS' if passed else 'FAIL'}")
    info = machine_info()
    info["ocid"] = version_of([args.ocid, "version"])
    info["containerd"] = version_of([args.containerd, "--version"])
    info["loadavg_1min_start_end"] = [load0[0], load1[0]]
    info["machine_busy_pct"] = busy_pct(machine0, machine1)
    head = (f"ocid vs containerd CRI, {started}, {info['cpus']} CPUs ({info['cpu_model']}), "
            f"kernel {info['kernel']}\nmachine load: 1-min load average {load0[0]:.2f} at start, "
            f"{load1[0]:.2f} at end; CPUs {info['machine_busy_pct']:.0f}% busy over the run "
            f"(all processes, the benchmark's own included)\n{args.reps} runs each; median [best over runs: min, or max "
            f"for throughput]; ratio = ocid median / containerd median")
    text = f"{head}\n\n{table(rows)}\n\n{target}\n"
    print("\n" + text)

    result = {"date": started, "machine": info,
              "params": {k: getattr(args, k) for k in ("reps", "calls", "threads", "seconds", "idle")},
              "rows": rows, "raw": {"idle": idle, "calls": calls},
              "target": {"metric": "ocid idle RSS median", "limit_kib": RSS_LIMIT_KIB,
                         "value_kib": rss_kib, "pass": passed}}
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(text)
    print(f"results: {args.out}/latest.json, {args.out}/latest.md; daemon logs in {logdir}")


if __name__ == "__main__":
    main()
