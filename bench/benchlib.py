"""What the benchmarks share: the two daemons in temporary directories, one
CRI client for both, a local image registry, test bridge networks, the
cleanup stack, statistics and tables.

Everything created here is registered on the cleanup stack (Cleanup.push)
and undone in reverse order when the benchmark ends, however it ends: daemons
are stopped by PID, mounts under their directories unmounted, directories
removed, bridges and iptables rules deleted.
"""

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

TICK = os.sysconf("SC_CLK_TCK")
CALL_TIMEOUT = 5.0
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MKIMAGE = os.path.join(SOURCE_DIR, "tests", "fixtures", "mkimage.py")
CNI_PLUGIN_DIR = "/usr/lib/cni"   # Debian's containernetworking-plugins
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg):
    print(msg, flush=True)


def run(argv, **kw):
    """subprocess.run that raises with the command's output on failure."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    r = subprocess.run(argv, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({r.returncode}): "
                           f"{(r.stderr or '')[-2000:]}{(r.stdout or '')[-500:]}")
    return r


# --------------------------------------------------------------------------
# Cleanup: a stack of undo actions, run on any exit.

class Cleanup:
    stack = []

    @classmethod
    def push(cls, what, fn):
        cls.stack.append((what, fn))
        return fn

    @classmethod
    def run_all(cls):
        while cls.stack:
            what, fn = cls.stack.pop()
            try:
                fn()
            except Exception as e:   # keep cleaning up
                print(f"cleanup of {what} failed: {e}", file=sys.stderr, flush=True)

    @classmethod
    def on_signals(cls):
        """SIGTERM and SIGHUP end the run like Ctrl-C: through finally blocks."""
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: sys.exit(130))


# --------------------------------------------------------------------------
# /proc

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


def cpu_ticks(pid, children=False):
    """utime + stime of a process (+ cutime + cstime of its waited-for
    children), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    t = int(fields[11]) + int(fields[12])   # fields 14 and 15 of stat(5)
    if children:
        t += int(fields[13]) + int(fields[14])
    return t


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


def mount_options(path):
    """The super options of the mount at path (overlay's lowerdir=...)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == path:
                return parts[parts.index("-") + 3]
    return None


def processes_mentioning(text):
    """PIDs of processes whose command line contains text (our temp dir)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def kill_leftovers(text, what):
    """SIGKILL processes started by our daemons (conmon, containerd shims)
    that name our temp dir and outlived their removal."""
    for pid in processes_mentioning(text):
        print(f"  killing leftover {what} process {pid}", flush=True)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_cgroup_tree(rel):
    """rmdir the (empty) cgroup `rel` and everything below it, in every
    hierarchy under /sys/fs/cgroup."""
    for h in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", h, rel.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def cgroup_parent(tag):
    """A cgroup parent for one party's pods, removed (in every hierarchy)
    at cleanup.  Make it before starting the daemon that will use it: the
    cleanup stack then removes it after the daemon stopped."""
    rel = f"/ocid-bench-{tag}-{os.getpid()}"
    Cleanup.push(f"cgroup {rel}", lambda: remove_cgroup_tree(rel))
    return rel


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# Daemons

class Daemon:
    """One daemon in its own temporary directory."""

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
        with open(self.log, "wb") as logf:
            # A session of its own: a Ctrl-C in the terminal reaches us, and
            # we stop the daemon ourselves.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={"PATH": PATH, "HOME": "/root"})
        Cleanup.push(f"{self.name} {self.dir}", self.stop)
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

    def remove_all(self):
        """Remove every container and pod the daemon knows, through the CRI."""
        if not self.proc or self.proc.poll() is not None:
            return
        with CriClient(self.sock) as c:
            for ctr in c.call("ListContainers", {}, timeout=30).containers:
                c.call("StopContainer", {"container_id": ctr.id, "timeout": 0}, timeout=60)
                c.call("RemoveContainer", {"container_id": ctr.id}, timeout=60)
            for pod in c.call("ListPodSandbox", {}, timeout=30).items:
                c.call("StopPodSandbox", {"pod_sandbox_id": pod.id}, timeout=60)
                c.call("RemovePodSandbox", {"pod_sandbox_id": pod.id}, timeout=60)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.remove_all()
            except Exception as e:
                print(f"{self.name}: removing its pods and containers failed: {e}",
                      file=sys.stderr, flush=True)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            self.after_stop()
            for mnt in mounts_under(self.dir):
                subprocess.run(["umount", "-l", mnt], check=False)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def after_stop(self):
        """Processes the daemon started that must not outlive it."""


class Ocid(Daemon):
    """ocid with default settings except where its state lives, plus
    whatever a benchmark needs: an insecure registry in its registries.conf,
    a CNI network, the pause program."""

    def __init__(self, binary, logdir, registry=None, conflist=None, pause=None, log_level=None):
        super().__init__("ocid", logdir)
        self.binary = binary
        self.registry = registry
        self.conflist = conflist
        self.pause = pause
        self.log_level = log_level

    def prepare(self):
        d = self.dir
        for sub in ("run", "cni", "conf.d", "registries.conf.d", "certs.d"):
            os.mkdir(os.path.join(d, sub))
        self.sock = f"{d}/run/ocid.sock"
        self.root = f"{d}/root"
        self.runroot = f"{d}/run"
        with open(f"{d}/registries.conf", "w") as f:
            if self.registry:
                f.write(f'[[registry]]\nlocation = "{self.registry}"\ninsecure = true\n')
        if self.conflist:
            write_conflist(f"{d}/cni", self.conflist)
        runtime = []
        if self.pause:
            runtime.append(f'pause_binary = "{self.pause}"')
        if self.log_level:
            runtime.append(f'log_level = "{self.log_level}"')
        conf = f"{d}/ocid.conf"
        # Default settings except where state lives: no system path is used.
        with open(conf, "w") as f:
            f.write(f'[ocid]\nroot = "{self.root}"\nrunroot = "{self.runroot}"\n\n'
                    f'[ocid.api]\nlisten = "{self.sock}"\n\n'
                    f'[ocid.runtime]\n' + "".join(x + "\n" for x in runtime) + "\n"
                    f'[ocid.image]\nregistries_conf = "{d}/registries.conf"\n'
                    f'registries_conf_dir = "{d}/registries.conf.d"\ncerts_dir = "{d}/certs.d"\n\n'
                    f'[ocid.network]\nnetwork_dir = "{d}/cni"\nplugin_dirs = ["{CNI_PLUGIN_DIR}"]\n')
        return [self.binary, "--config", conf, "--config-dir", f"{d}/conf.d"]

    def after_stop(self):
        kill_leftovers(self.dir, "conmon")   # containers outlive ocid by design

    def layer_dirs(self):
        """Unpacked layers in ocid's store."""
        p = f"{self.root}/layers"
        return sorted(os.listdir(p)) if os.path.isdir(p) else []


class Containerd(Daemon):
    # Snapshotters this machine cannot load anyway (no aufs/btrfs/zfs/dm
    # pool); disabling them only skips their failed probes at start.
    DISABLED = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

    def __init__(self, binary, logdir, registry=None, conflist=None, sandbox_image=None,
                 runtime_binary=None):
        super().__init__("containerd", logdir)
        self.binary = binary
        self.registry = registry
        self.conflist = conflist
        self.sandbox_image = sandbox_image
        self.runtime_binary = runtime_binary

    def prepare(self):
        d = self.dir
        os.mkdir(f"{d}/cni")
        self.run_containerd_existed = os.path.exists("/run/containerd")
        self.sock = f"{d}/containerd.sock"
        self.root = f"{d}/root"
        if self.conflist:
            write_conflist(f"{d}/cni", self.conflist)
        conf = f"{d}/config.toml"
        disabled = ", ".join(f'"{p}"' for p in self.DISABLED)
        cri_extra = ""
        if self.sandbox_image:
            cri_extra += f'  sandbox_image = "{self.sandbox_image}"\n'
        # The runc shim keeps runc's state in /run/containerd/runc unless told.
        runc_options = (f'  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
                        f'    runtime_type = "io.containerd.runc.v2"\n'
                        f'  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
                        f'    Root = "{d}/runc"\n')
        if self.runtime_binary:
            runc_options += f'    BinaryName = "{self.runtime_binary}"\n'
        mirrors = ""
        if self.registry:
            # containerd 1.6's way to reach a plain-HTTP registry.
            mirrors = (f'  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{self.registry}"]\n'
                       f'    endpoint = ["http://{self.registry}"]\n')
        # Keys as in `containerd config default` of Debian's 1.6.  No TCP,
        # debug or metrics listener; the CRI plugin's streaming server binds
        # 127.0.0.1 (ocid's does too).  netns_mounts_under_state_dir keeps
        # the pods' network namespaces in the temp dir (else /var/run/netns);
        # restrict_oom_score_adj clamps the pause container's -998 to what
        # this machine allows (no CAP_SYS_RESOURCE).
        with open(conf, "w") as f:
            f.write(f'''version = 2
root = "{self.root}"
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
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
{cri_extra}  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
{runc_options}  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_PLUGIN_DIR}"
    conf_dir = "{d}/cni"
{mirrors}''')
        return [self.binary, "--config", conf]

    def after_stop(self):
        # A shim (containerd-shim-runc-v2) outlives containerd by design.
        kill_leftovers(self.sock, "containerd shim")
        # containerd 1.6 puts its shims' sockets in /run/containerd/s whatever
        # its state dir: remove the directories if this run made them (and
        # they are empty: rmdir).
        if not self.run_containerd_existed:
            for p in ("/run/containerd/s", "/run/containerd"):
                try:
                    os.rmdir(p)
                except OSError:
                    pass

    def content_blobs(self):
        p = f"{self.root}/io.containerd.content.v1.content/blobs/sha256"
        return sorted(os.listdir(p)) if os.path.isdir(p) else []

    def snapshots(self):
        p = f"{self.root}/io.containerd.snapshotter.v1.overlayfs/snapshots"
        return sorted(os.listdir(p)) if os.path.isdir(p) else []


# --------------------------------------------------------------------------
# The CRI client: one implementation used against both daemons.

class CriClient:
    """Calls by method name: "Version", "RunPodSandbox", "ImageService/PullImage"...
    Requests are protobuf messages or dicts (protobuf JSON field names);
    answers are the response messages."""

    def __init__(self, sock):
        from runtime.v1 import api_pb2
        self.api = api_pb2
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.stubs = {}
        # Prebuilt requests for the latency runs.
        self.defaults = {"Version": api_pb2.VersionRequest(version="v1"),
                         "Status": api_pb2.StatusRequest(verbose=False)}

    def stub(self, method):
        if method not in self.stubs:
            service, _, name = method.rpartition("/")
            service = service or ("ImageService" if name in ("PullImage", "RemoveImage", "ImageStatus",
                                                             "ListImages", "ImageFsInfo")
                                  else "RuntimeService")
            desc = self.api.DESCRIPTOR.services_by_name[service].methods_by_name[name]
            req = getattr(self.api, desc.input_type.name)
            resp = getattr(self.api, desc.output_type.name)
            stub = self.channel.unary_unary(f"/runtime.v1.{service}/{name}",
                                            request_serializer=req.SerializeToString,
                                            response_deserializer=resp.FromString)
            self.stubs[method] = (stub, req)
        return self.stubs[method]

    def call(self, method, request=None, timeout=CALL_TIMEOUT):
        stub, req_class = self.stub(method)
        if request is None:
            request = self.defaults.get(method) or req_class()
        elif isinstance(request, dict):
            from google.protobuf import json_format
            request = json_format.ParseDict(request, req_class())
        return stub(request, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.channel.close()


def to_dict(msg):
    from google.protobuf import json_format
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


# --------------------------------------------------------------------------
# The local registry: Debian's docker-registry on 127.0.0.1, plain HTTP.

class Registry:
    BINARY = "/usr/bin/docker-registry"

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="ocid-bench-registry.", dir="/tmp")
        Cleanup.push(f"registry {self.dir}", self.stop)
        os.mkdir(f"{self.dir}/storage")
        self.proc = None
        for _ in range(5):   # the port was free a moment ago; retry if taken
            port = free_port()
            with open(f"{self.dir}/config.yml", "w") as f:
                f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                        f"    rootdirectory: {self.dir}/storage\n  delete:\n    enabled: true\n"
                        f"http:\n  addr: 127.0.0.1:{port}\n  secret: ocid-bench\n")
            # docker-registry reads REGISTRY_* variables as config overrides:
            # an empty environment.  It dies with us (pdeathsig).
            with open(f"{self.dir}/registry.log", "ab") as logf:
                self.proc = subprocess.Popen(
                    ["setpriv", "--pdeathsig", "TERM", "--", self.BINARY, "serve", f"{self.dir}/config.yml"],
                    env={"PATH": PATH}, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            self.host = f"127.0.0.1:{port}"
            self.url = f"http://{self.host}"
            for _ in range(200):
                if self.proc.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                raise RuntimeError(f"docker-registry does not answer; see {self.dir}/registry.log")
        raise RuntimeError(f"docker-registry kept exiting; see {self.dir}/registry.log")

    def push(self, name, *options):
        """Build an image with mkimage.py and push it; mkimage.py's JSON."""
        r = run([sys.executable, MKIMAGE, "--registry", self.host, "--scheme", "http", *options, name])
        return json.loads(r.stdout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Test bridge networks (as tests/integration/cni.bash): a subnet used by
# nothing else, ipMasq off, and an iptables rule dropping anything forwarded
# from the bridge to another interface.  Nothing leaves the machine.

def write_conflist(directory, conflist):
    with open(os.path.join(directory, "10-bench.conflist"), "w") as f:
        json.dump(conflist, f, indent=1)


class BridgeNet:
    taken = set()   # subnets picked by this run

    def __init__(self, tag, workdir):
        self.bridge = f"ob{tag}{os.getpid() % 100000}"[:15]
        self.name = f"ocid-bench-{tag}-{os.getpid()}"
        octet = self.pick_octet()
        self.prefix = f"10.{octet}.0"
        self.subnet = f"{self.prefix}.0/24"
        self.data_dir = os.path.join(workdir, f"cni-ipam-{tag}")
        self.comment = f"ocid-bench {self.bridge}: no traffic leaves the test network"

    @classmethod
    def pick_octet(cls):
        """A 10.X.0.0/24 subnet that no route and no iptables rule mentions."""
        routes = run(["ip", "-4", "route", "show"]).stdout
        rules = run(["iptables-save"]).stdout
        for octet in range(250, 200, -1):
            prefix = f"10.{octet}.0."
            if octet not in cls.taken and prefix not in routes and prefix not in rules:
                cls.taken.add(octet)
                return octet
        raise RuntimeError("no free 10.X.0.0/24 subnet for a test network")

    def setup(self):
        os.makedirs(self.data_dir, exist_ok=True)
        run(["iptables", "-I", "FORWARD", "-i", self.bridge, "!", "-o", self.bridge,
             "-m", "comment", "--comment", self.comment, "-j", "DROP"])
        Cleanup.push(f"network {self.bridge}", self.teardown)
        return self

    def conflist(self):
        return {"cniVersion": "1.0.0", "name": self.name, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": self.data_dir,
                      "ranges": [[{"subnet": self.subnet, "gateway": f"{self.prefix}.1"}]],
                      "routes": [{"dst": self.subnet}]}},
            {"type": "loopback"},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}

    def teardown(self):
        purge_rules_mentioning([f'"{self.name}"', self.subnet])
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        while subprocess.run(["iptables", "-D", "FORWARD", "-i", self.bridge, "!", "-o", self.bridge,
                              "-m", "comment", "--comment", self.comment, "-j", "DROP"],
                             capture_output=True).returncode == 0:
            pass


def purge_rules_mentioning(texts):
    """Delete the iptables rules (nat and filter) whose text contains one of
    texts (our networks' names and subnets), and the CNI-* chains they jump
    to: what a plugin would leave for our pods if a DEL went wrong.  Rules of
    anything else on the machine are never touched."""
    for table in ("nat", "filter"):
        dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        rules = [line for line in dump.splitlines()
                 if line.startswith("-A ") and any(t in line for t in texts)]
        if not rules:
            continue
        chains = sorted({line.split(" -j ")[1].split()[0] for line in rules
                         if " -j CNI-" in line and "HOSTPORT" not in line.split(" -j ")[1]})
        script = [f"*{table}"] + ["-D " + r[3:] for r in rules]
        script += [f"-F {c}" for c in chains] + [f"-X {c}" for c in chains] + ["COMMIT", ""]
        subprocess.run(["iptables-restore", "--noflush"], input="\n".join(script), text=True,
                       capture_output=True)
        print(f"  removed {len(rules)} leftover iptables rules of ours from {table}", flush=True)


# --------------------------------------------------------------------------
# Statistics and reports

def summary(values, higher_is_better=False):
    return {"median": statistics.median(values),
            "best": max(values) if higher_is_better else min(values),
            "values": values}


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.2f}" if v != int(v) else f"{v:.0f}"


def rotation(parties, rep):
    """The order of the parties in repetition rep: each goes first in turn."""
    k = rep % len(parties)
    return parties[k:] + parties[:k]


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


class LoadMeter:
    """Load average and CPU busy share over a benchmark, for its header."""

    def __init__(self):
        self.started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        self.load0, self.machine0 = os.getloadavg(), machine_ticks()

    def finish(self):
        self.load1, self.machine1 = os.getloadavg(), machine_ticks()
        self.busy = busy_pct(self.machine0, self.machine1)

    def header(self, title, info):
        return (f"{title}, {self.started}, {info['cpus']} CPUs ({info['cpu_model']}), "
                f"kernel {info['kernel']}\nmachine load: 1-min load average {self.load0[0]:.2f} at start, "
                f"{self.load1[0]:.2f} at end; CPUs {self.busy:.0f}% busy over the run "
                f"(all processes, the benchmark's own included)")

    def as_dict(self):
        return {"loadavg_1min_start_end": [self.load0[0], self.load1[0]], "machine_busy_pct": self.busy}


def floor_table(rows, parties=("ocid", "containerd", "floor")):
    """rows: {metric, unit, PARTY: summary or None...}. One column per party
    (median [min]), then the ratios of medians ocid / containerd and
    ocid / floor."""
    lines = ["| metric | " + " | ".join(f"{p} median [min]" for p in parties)
             + " | ocid / containerd | ocid / floor |",
             "|---" * (len(parties) + 3) + "|"]
    for r in rows:
        unit = f" ({r['unit']})" if r["unit"] else ""
        cells = []
        for k in parties:
            s = r.get(k)
            cells.append(f"{fmt(s['median'])} [{fmt(s['best'])}]" if s else "-")
        o, c, f = r.get("ocid"), r.get("containerd"), r.get("floor")
        rc = f"{o['median'] / c['median']:.2f}" if o and c else "-"
        rf = f"{o['median'] / f['median']:.2f}" if o and f else "-"
        lines.append(f"| {r['metric']}{unit} | {' | '.join(cells)} | {rc} | {rf} |")
    return "\n".join(lines)


def verdict(name, value, limit):
    ok = value <= limit
    return ok, f"{name}: {value:.2f} (target <= {limit:g}) -> {'PASS' if ok else 'FAIL'}"


def write_results(out, name, text, result):
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out, f"{name}.md"), "w") as f:
        f.write(text)


def common_args(ap):
    ap.add_argument("--ocid", required=True, help="the ocid binary")
    ap.add_argument("--containerd", default="/usr/bin/containerd")
    ap.add_argument("--gen", required=True, help="directory holding runtime/v1/api_pb2.py")
    ap.add_argument("--out", required=True, help="directory for results and logs")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 5)))


def setup_common(args):
    sys.path.insert(0, args.gen)
    logdir = os.path.join(args.out, "logs")
    os.makedirs(logdir, exist_ok=True)
    Cleanup.on_signals()
    return logdir


def versions(args, info):
    info["ocid"] = version_of([args.ocid, "version"])
    info["containerd"] = version_of([args.containerd, "--version"])
    return info
