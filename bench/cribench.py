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
import os
import statistics
import threading
import time

import grpc

from benchlib import (TICK, Cleanup, Containerd, CriClient, LoadMeter, Ocid, busy_pct, common_args,
                      cpu_ticks, fmt, machine_info, machine_ticks, read_status, setup_common, summary,
                      versions, write_results)

RSS_LIMIT_KIB = 5_000_000 / 1024   # the target: ocid idle RSS under 5 MB


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


def table(rows):
    lines = ["| metric | ocid median [best] | containerd median [best] | ocid / containerd |",
             "|---|---|---|---|"]
    for r in rows:
        unit = f" ({r['unit']})" if r["unit"] else ""
        o, c = r["ocid"], r["containerd"]
        lines.append(f"| {r['metric']}{unit} | {fmt(o['median'])} [{fmt(o['best'])}]"
                     f" | {fmt(c['median'])} [{fmt(c['best'])}] | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap)
    ap.add_argument("--calls", type=int, default=int(os.environ.get("BENCH_CALLS", 2000)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 8)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    ap.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading memory")
    args = ap.parse_args()
    logdir = setup_common(args)

    daemons = [Ocid(args.ocid, logdir), Containerd(args.containerd, logdir)]
    meter = LoadMeter()
    try:
        print(f"== idle memory: fresh start, Version answered, {args.idle:g} s idle; {args.reps} runs")
        idle = run_idle(daemons, args.reps, args.idle)
        print(f"== CRI calls: latency over {args.calls} sequential calls; throughput with "
              f"{args.threads} threads for {args.seconds:g} s; {args.reps} runs")
        calls = run_calls(daemons, args.reps, args.calls, args.threads, args.seconds)
    finally:
        Cleanup.run_all()

    meter.finish()
    rows = build_rows(idle, calls)
    rss = rows[0]["ocid"]
    rss_kib = rss["median"] * 1024
    passed = rss_kib < RSS_LIMIT_KIB
    target = (f"target: ocid idle RSS under 5 MB (5,000,000 bytes = {RSS_LIMIT_KIB:.0f} KiB): "
              f"median {rss_kib:.0f} KiB, max {max(rss['values']) * 1024:.0f} KiB -> "
              f"{'PASS' if passed else 'FAIL'}")
    info = versions(args, machine_info())
    info.update(meter.as_dict())
    head = (meter.header("ocid vs containerd CRI: idle memory and CRI calls", info) +
            f"\n{args.reps} runs each; median [best over runs: min, or max "
            f"for throughput]; ratio = ocid median / containerd median")
    text = f"{head}\n\n{table(rows)}\n\n{target}\n"
    print("\n" + text)

    result = {"date": meter.started, "machine": info,
              "params": {k: getattr(args, k) for k in ("reps", "calls", "threads", "seconds", "idle")},
              "rows": rows, "raw": {"idle": idle, "calls": calls},
              "targets": [{"metric": "ocid idle RSS median", "limit_kib": RSS_LIMIT_KIB,
                           "value_kib": rss_kib, "pass": passed}]}
    write_results(args.out, "calls", text, result)
    print(f"results: {args.out}/calls.json, {args.out}/calls.md; daemon logs in {logdir}")


if __name__ == "__main__":
    main()
