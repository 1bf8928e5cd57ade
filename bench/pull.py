#!/usr/bin/python3
"""Pull benchmark: a ~100 MB image of several layers from a local registry.

Run through bench/run.  One docker-registry on 127.0.0.1 (plain HTTP) serves
an image made by tests/fixtures/mkimage.py (--layers 3 --big 100: three
small busybox layers and one of 100 MiB random data, stored in gzip).  In
every repetition, in rotating order:

  ocid        CRI PullImage; its registries.conf marks the registry insecure
  containerd  CRI PullImage; its CRI registry config sends the host to
              http://127.0.0.1:PORT (registry.mirrors endpoint)
  floor       no daemon: the manifest and config with urllib, then per layer,
              all at once, `curl BLOB | tar -xz -C DIR` (download, decompress
              and unpack in one pass) into a fresh directory
  floor+file  the same with the blob also written to a file and digested in
              the same pass: `curl BLOB | tee FILE FIFO | tar -xz`, with
              `openssl dgst -sha256 <FIFO`

Both daemons stay up through the benchmark (fresh root directories, made for
this run).  After each pull the image is removed through the CRI and the
benchmark checks that its layers are gone:
ocid's layer directories (and its tmp/), containerd's content blobs and
overlayfs snapshots (the CRI plugin's RemoveImage garbage-collects
synchronously); the floors delete their directory.
Then `sync` and a pause (--settle): ext4 here is slow right after mass
deletes, and every party gets the same treatment before its timed pull.
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import urllib.request

from benchlib import (TICK, Cleanup, Containerd, CriClient, LoadMeter, Ocid, Registry, common_args,
                      cpu_ticks, floor_table, log, machine_info, rotation, setup_common, summary,
                      verdict, versions, write_results)

PULL_TIMEOUT = 600
PARTIES = ("ocid", "containerd", "floor", "floor+file")
ACCEPT = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.oci.image.manifest.v1+json"])


def wait_until(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout} s")
        time.sleep(0.05)


class DaemonPull:
    """PullImage, ImageStatus, RemoveImage through the CRI."""

    def __init__(self, daemon, image):
        self.daemon = daemon
        self.name = daemon.name
        self.image = image

    def pull(self):
        ref = self.image["reference"]
        with CriClient(self.daemon.sock) as c:
            # With the children it waited for: ocid's work runs in ocid-fetch.
            t0_cpu = cpu_ticks(self.daemon.pid, children=True)
            t0 = time.perf_counter()
            resp = c.call("PullImage", {"image": {"image": ref}}, timeout=PULL_TIMEOUT)
            elapsed = time.perf_counter() - t0
            cpu = (cpu_ticks(self.daemon.pid, children=True) - t0_cpu) / TICK
            if resp.image_ref != self.image["image_id"] and not resp.image_ref.endswith(
                    self.image["image_id"].split(":")[1]):
                raise RuntimeError(f"{self.name} pulled {resp.image_ref}, not {self.image['image_id']}")
            st = c.call("ImageStatus", {"image": {"image": ref}})
            if not st.image.id:
                raise RuntimeError(f"{self.name}: ImageStatus does not know {ref} after the pull")
        return {"seconds": elapsed, "cpu_s": cpu, "size": st.image.size}

    def remove(self):
        t0 = time.perf_counter()
        with CriClient(self.daemon.sock) as c:
            c.call("RemoveImage", {"image": {"image": self.image["reference"]}}, timeout=60)
        wait_until(f"{self.name} did not drop the image's layers", self.layers_gone, 30)
        return time.perf_counter() - t0


class OcidPull(DaemonPull):
    def layers_gone(self):
        tmp = os.path.join(self.daemon.root, "tmp")
        return not self.daemon.layer_dirs() and not (os.path.isdir(tmp) and os.listdir(tmp))


class ContainerdPull(DaemonPull):
    def layers_gone(self):
        blobs = set(self.daemon.content_blobs())
        return (not any(l["digest"].split(":")[1] in blobs for l in self.image["layers"])
                and not self.daemon.snapshots())


class FloorPull:
    """No daemon: what any pull must do at least, with standard tools, each
    layer's pipeline started at once.  "floor": `curl BLOB | tar -xz -C DIR`,
    download, decompress and unpack in one pass.  "floor+file": the same
    with the blob also written to a file and its sha256 computed in the same
    pass (OpenSSL, reading a FIFO that tee feeds), the extra work a puller
    that keeps and verifies the blob does."""
    PIPELINES = {
        "floor": 'curl -sf "$1" | tar -xzf - -C "$4"',
        "floor+file": ('mkfifo "$3.fifo"; openssl dgst -sha256 -r <"$3.fifo" >"$3" & '
                       'curl -sf "$1" | tee "$2" "$3.fifo" | tar -xzf - -C "$4"; rc=$?; '
                       'wait $! || exit 1; exit $rc'),
    }

    def __init__(self, name, registry, image, workdir):
        self.name = name
        self.pipeline = "set -o pipefail; " + self.PIPELINES[name]
        self.registry = registry
        self.image = image
        self.workdir = workdir
        self.n = 0

    def pull(self):
        self.n += 1
        self.dir = os.path.join(self.workdir, f"{self.name}-{self.n}")
        base = f"{self.registry.url}/v2/{self.image['repository']}"
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        os.mkdir(self.dir)
        req = urllib.request.Request(f"{base}/manifests/{self.image['tag']}", headers={"Accept": ACCEPT})
        with urllib.request.urlopen(req) as r:
            manifest = json.load(r)
        with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}") as r:
            config = r.read()
        procs = []
        for i, layer in enumerate(manifest["layers"]):
            d = os.path.join(self.dir, f"layer{i}")
            os.mkdir(d)
            procs.append((layer, d, subprocess.Popen(
                ["bash", "-c", self.pipeline, "floor", f"{base}/blobs/{layer['digest']}",
                 f"{d}.blob", f"{d}.sha256", d])))
        for layer, d, p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"floor: the pipeline for {layer['digest']} failed ({p.returncode})")
        elapsed = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Checks, not timed: every digest, and the big file's size.
        if "sha256:" + hashlib.sha256(config).hexdigest() != manifest["config"]["digest"]:
            raise RuntimeError("floor: config digest mismatch")
        for layer, d, _ in procs:
            if self.name == "floor":
                break   # the plain floor verifies nothing
            with open(f"{d}.sha256") as f:
                if "sha256:" + f.read().split()[0] != layer["digest"]:
                    raise RuntimeError(f"floor: digest mismatch for {layer['digest']}")
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(self.dir) for f in fs
                   if not os.path.islink(os.path.join(dp, f)))
        cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        return {"seconds": elapsed, "cpu_s": cpu, "size": size}

    def remove(self):
        t0 = time.perf_counter()
        shutil.rmtree(self.dir)
        return time.perf_counter() - t0


def settle(seconds):
    os.sync()
    time.sleep(seconds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap)
    ap.add_argument("--mb", type=int, default=int(os.environ.get("BENCH_PULL_MB", 100)),
                    help="size of the big layer, MiB")
    ap.add_argument("--layers", type=int, default=3, help="busybox layers below the big one")
    ap.add_argument("--settle", type=float, default=float(os.environ.get("BENCH_SETTLE", 2)),
                    help="seconds of pause after sync, before each timed pull")
    args = ap.parse_args()
    logdir = setup_common(args)

    meter = LoadMeter()
    samples = {}
    try:
        registry = Registry().start()
        t0 = time.monotonic()
        image = registry.push("bench-big:latest", "--layers", str(args.layers), "--big", str(args.mb))
        total = sum(l["size"] for l in image["layers"])
        log(f"== pull: {image['reference']}, {len(image['layers'])} layers, {total / 2**20:.1f} MiB "
            f"compressed (pushed in {time.monotonic() - t0:.1f} s); {args.reps} runs")
        workdir = tempfile.mkdtemp(prefix="ocid-bench-pull.", dir="/tmp")
        Cleanup.push(f"floor dir {workdir}", lambda: shutil.rmtree(workdir, ignore_errors=True))

        ocid = Ocid(args.ocid, logdir, registry=registry.host)
        ctrd = Containerd(args.containerd, logdir, registry=registry.host)
        ocid.start("pull")
        ctrd.start("pull")
        parties = [OcidPull(ocid, image), ContainerdPull(ctrd, image),
                   FloorPull("floor", registry, image, workdir), FloorPull("floor+file", registry, image, workdir)]
        samples = {p.name: [] for p in parties}

        for p in parties:   # warm-up, not counted: registry, page cache, first connections
            p.pull()
            p.remove()
        settle(args.settle)
        for rep in range(args.reps):
            for p in rotation(parties, rep):
                r = p.pull()
                r["remove_s"] = p.remove()
                samples[p.name].append(r)
                log(f"  #{rep + 1} {p.name:10s} pull {r['seconds']:6.2f} s  CPU {r['cpu_s']:5.2f} s"
                    f"  remove {r['remove_s']:5.2f} s")
                settle(args.settle)
    finally:
        Cleanup.run_all()

    meter.finish()
    rows = []
    for metric, unit, key in (("pull", "s", "seconds"), ("CPU per pull", "s", "cpu_s"),
                              ("remove + layers gone", "s", "remove_s")):
        row = {"metric": metric, "unit": unit}
        for name, runs in samples.items():
            row[name] = summary([r[key] for r in runs])
        rows.append(row)
    pull = rows[0]
    r_ctrd = pull["ocid"]["median"] / pull["containerd"]["median"]
    r_floor = pull["ocid"]["median"] / pull["floor"]["median"]
    ok1, t1 = verdict("target: ocid / containerd pull time", r_ctrd, 0.8)
    ok2, t2 = verdict("target: ocid / floor pull time", r_floor, 1.3)

    info = versions(args, machine_info())
    info.update(meter.as_dict())
    head = (meter.header("pull: ocid vs containerd CRI vs floor", info) +
            f"\nimage: {len(image['layers'])} layers, {total / 2**20:.1f} MiB compressed (gzip; the big layer "
            f"is random data, stored); {args.reps} runs each, order rotating; median [min] over runs; "
            f"CPU = the daemon's utime+stime and its waited-for children's (ocid-fetch) (floor: its processes')")
    text = f"{head}\n\n{floor_table(rows, PARTIES)}\n\n{t1}\n{t2}\n"
    log("\n" + text)
    result = {"date": meter.started, "machine": info, "image": image,
              "params": {"reps": args.reps, "mb": args.mb, "layers": args.layers, "settle": args.settle},
              "rows": rows, "raw": samples,
              "targets": [{"metric": "ocid/containerd pull", "limit": 0.8, "value": r_ctrd, "pass": ok1},
                          {"metric": "ocid/floor pull", "limit": 1.3, "value": r_floor, "pass": ok2}]}
    write_results(args.out, "pull", text, result)


if __name__ == "__main__":
    main()
