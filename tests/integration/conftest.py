"""Fixtures for driving berth-runtime through real container hosts (podman, containerd, dockerd), and a
private berthd for the daemon tests.

Every host is started with private roots and sockets under a temp dir, stopped by pid, and its leftovers
(mounts, cgroups, state) are removed, so nothing of the machine's own set-up is touched."""
import http.client
import json
import os
import shutil
import socket
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH = os.environ.get("BERTH_CLI", os.path.join(ROOT, "build", "cmd", "berth", "berth"))
RUNTIME = os.environ.get("BERTH_RUNTIME", os.path.join(ROOT, "build", "cmd", "berth-runtime", "berth-runtime"))


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (real namespaces and cgroups)")


def need(tool):
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed")
    return path


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, **kw)


def unmount_under(path):
    """Lazily unmounts every mount below path (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p == path or p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)


def stop_autostarted(root):
    """Removes the containers of, and stops, the berthd that `berth --data-root root` started (its pid file
    is <root>/run/berthd.pid); then unmounts what is left below root."""
    base = [BERTH, "--data-root", root]
    pidfile = f"{root}/run/berthd.pid"
    if os.path.exists(pidfile):
        ids = run(base + ["ps", "-aq"]).stdout.split()
        if ids:
            run(base + ["rm", "-f", *ids])
        try:
            stop_pid(int(open(pidfile).read()))
        except (OSError, ValueError):
            pass
    remove_bridges_of(root)
    unmount_under(root)


def remove_bridges_of(data_root):
    """The bridge devices a test daemon made (its networks' records) and its nftables table."""
    import sqlite3
    db_path = f"{data_root}/metadata.db"
    if not os.path.exists(db_path):
        return
    try:
        db = sqlite3.connect(db_path)
        rows = db.execute("SELECT data FROM networks").fetchall()
        db.close()
    except sqlite3.Error:
        return
    for (data,) in rows:
        net = json.loads(data)
        if net.get("driver") != "bridge" or not net.get("bridge"):
            continue
        subprocess.run(["ip", "link", "delete", net["bridge"]], capture_output=True)
        if net.get("name") == "bridge":
            b = net["bridge"]
            table = "berth" if b == "berth0" else "berth_" + "".join(c if c.isalnum() or c == "_" else "_" for c in b)
            subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)


def stop_pid(pid, timeout=20):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def wait_for_socket(path, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{path} did not appear")


def cgroup_dirs():
    """Every cgroup directory on the host (all hierarchies)."""
    out = set()
    for base in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", base)
        if not os.path.isfile(os.path.join(top, "cgroup.procs")):
            continue
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                out.add(os.path.join(dirpath, d))
    return out


@pytest.fixture(autouse=True)
def cleanup_cgroups():
    """Removes the cgroups a test's hosts made (podman's libpod_parent, dockerd's /docker, ...), deepest first;
    directories that existed before the test are left alone."""
    if os.geteuid() != 0:
        yield
        return
    before = cgroup_dirs()
    yield
    for d in sorted(cgroup_dirs() - before, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass


@pytest.fixture(scope="session")
def runtime():
    need_root()
    if not os.access(RUNTIME, os.X_OK):
        pytest.fail(f"berth-runtime not built at {RUNTIME}")
    return RUNTIME


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    need_root()
    d = tmp_path_factory.mktemp("bundle")
    run(["bash", os.path.join(ROOT, "scripts", "make-bundle.sh"), str(d / "b")], check=True)
    return str(d / "b" / "rootfs")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="berth-it-")
    os.chmod(d, 0o755)
    yield d
    unmount_under(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def dockerd_host(runtime, workdir, rootfs):
    need("dockerd")
    client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else need("docker")
    sock = f"{workdir}/docker.sock"
    log = open(f"{workdir}/dockerd.log", "w")
    # A private daemon: its own roots, socket and pidfile, no bridge and no iptables changes.
    proc = subprocess.Popen(["dockerd", "--data-root", f"{workdir}/data", "--exec-root", f"{workdir}/exec",
                             "--pidfile", f"{workdir}/docker.pid", "-H", f"unix://{sock}", "--bridge=none",
                             "--iptables=false", "--ip-masq=false", "--add-runtime", f"berth={runtime}"],
                            stdout=log, stderr=log)
    base = [client, "-H", f"unix://{sock}"]
    try:
        wait_for_socket(sock, proc)
        for _ in range(100):
            if run(base + ["version"]).returncode == 0:
                break
            time.sleep(0.2)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(base + ["import", "-", "berthbox:latest"], stdin=tar.stdout, capture_output=True)
        tar.wait()
        assert imp.returncode == 0, imp.stderr
        yield base
    finally:
        run(base + ["rm", "-f"] + run(base + ["ps", "-aq"]).stdout.split())
        stop_pid(proc.pid)
        proc.wait(timeout=30)
        log.close()
        unmount_under(workdir)


# berthd: a private daemon per test module (its own data root, exec root and socket), driven by real clients.
BERTHD = os.environ.get("BERTHD", os.path.join(ROOT, "build", "cmd", "berthd", "berthd"))


class Daemon:
    def __init__(self, work, extra=(), env=None, relative=False):
        self.work = work
        self.relative = relative  # data and exec roots given relative to the daemon's working directory
        # A default bridge of its own (two daemons never share one), removed with its nftables table at stop.
        self.bridge = "bt" + os.urandom(4).hex()
        self.extra = list(extra)
        if "--bridge" not in self.extra:
            self.extra += ["--bridge", self.bridge]
        self.env = env
        self.sock = f"{work}/berth.sock"
        self.data = f"{work}/data"
        self.run_root = f"{work}/run"
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(f"{self.work}/berthd.log", "a")
        roots = ["data", "run"] if self.relative else [self.data, self.run_root]
        self.proc = subprocess.Popen([BERTHD, "--data-root", roots[0], "--exec-root", roots[1],
                                      "-H", f"unix://{self.sock}", *self.extra], stdout=self.log, stderr=self.log,
                                     start_new_session=True, env=self.env, cwd=self.work)
        wait_for_socket(self.sock, self.proc)
        for _ in range(100):
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("berthd does not answer /_ping")

    def ping(self):
        try:
            return self.request("GET", "/_ping")[0] == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, keep_network=False):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        if self.log:
            self.log.close()
        if not keep_network:  # (a restart test keeps them for the next daemon on the same roots)
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
            subprocess.run(["nft", "delete", "table", "ip", f"berth_{self.bridge}"], capture_output=True)

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("localhost", timeout=30)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(30)
        conn.sock.connect(self.sock)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    need_root()
    if not os.access(BERTHD, os.X_OK):
        pytest.fail(f"berthd not built at {BERTHD}")
    work = str(tmp_path_factory.mktemp("berthd"))
    os.chmod(work, 0o755)
    d = Daemon(work)
    d.start()
    try:
        env = dict(os.environ, BERTH_HOST=f"unix://{d.sock}")
        r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH], env=env)
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        if d.proc.poll() is not None:
            d.start()
        ids = d.request("GET", "/containers/json?all=1")[1]
        for c in json.loads(ids):
            d.request("DELETE", f"/containers/{c['Id']}?force=1")
        d.stop()
        # Shims of containers a failed test left running.
        subprocess.run(["pkill", "-9", "-f", f"berth-shim --id .* --runtime-root {d.run_root}/runtime"],
                       capture_output=True)
        unmount_under(work)
        log = open(f"{work}/berthd.log").read()
        shutil.rmtree(work, ignore_errors=True)
        # With a sanitizer build (BERTHD=build-asan/…) every report fails the module.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in log, log[-4000:]


@pytest.fixture
def docker(daemon):
    cli = need("docker")
    return [cli, "-H", f"unix://{daemon.sock}"]


def dk(docker, *args, **kw):
    return run(docker + list(args), **kw)


def tmux_shell(cmd, cols, rows, line, exit_line, out):
    """Runs `cmd` (an interactive shell) in a detached tmux terminal of cols x rows, waits for its prompt,
    types `line` and waits for "42" on the screen, types `exit_line`; returns (screen, "EXIT=<code>")."""
    need("tmux")
    session = f"berth-tty-{os.getpid()}-{time.monotonic_ns()}"
    run(["tmux", "new-session", "-d", "-s", session, "-x", str(cols), "-y", str(rows),
         f"{cmd}; echo EXIT=$? > {out}"], check=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            if "#" in run(["tmux", "capture-pane", "-p", "-t", session]).stdout:
                break
            time.sleep(0.1)
        run(["tmux", "send-keys", "-t", session, line, "Enter"], check=True)
        deadline = time.time() + 20
        screen = ""
        while time.time() < deadline:
            screen = run(["tmux", "capture-pane", "-p", "-t", session]).stdout
            if "42" in screen.split():
                break
            time.sleep(0.1)
        run(["tmux", "send-keys", "-t", session, exit_line, "Enter"], check=True)
        deadline = time.time() + 20
        while time.time() < deadline and not os.path.exists(out):
            time.sleep(0.1)
        return screen, open(out).read().strip() if os.path.exists(out) else ""
    finally:
        run(["tmux", "kill-session", "-t", session])
