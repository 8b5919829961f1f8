"""Fixtures for driving berth-runtime through real container hosts (podman, containerd, dockerd).

Every host is started with private roots and sockets under a temp dir, stopped by pid, and its leftovers
(mounts, cgroups, state) are removed, so nothing of the machine's own set-up is touched."""
import os
import shutil
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
def docker(runtime, workdir, rootfs):
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
