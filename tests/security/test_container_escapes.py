"""Escapes from a default container through the host's own operations (these held in the attack on
9fa7f06; the tests keep them held):

- CVE-2019-5736: the container's /bin/sh becomes `#!/proc/self/exe`, so that `exec` runs the host's
  runtime binary inside the container, while a scanner tries to open every /proc/<pid>/exe for writing;
- CVE-2024-21626: `-w` and an image's WORKDIR set to /proc/self/fd/N, a host directory fd leaked into
  the container would be its working directory;
- `docker cp` into and out of a path that is a symlink to /, and while the container swaps a directory and
  such a symlink as fast as it can (a bounded race: 40 copies each way).

Must hold: no host binary opened for writing and none changed, no host file read or written."""
import hashlib
import os
import subprocess
import time

import pytest

from hosts import private_host
from conftest import ROOT, need, run
from image_archives import with_config

PROBE = os.path.join(ROOT, "build", "tests", "probe", "probe")
MARK = "berth-escape-" + os.urandom(4).hex()


@pytest.fixture(scope="module")
def host():
    need("docker")
    try:
        with private_host("escape") as d:
            yield d
    finally:
        for p in (f"/{MARK}", f"/tmp/{MARK}", f"/{MARK}.secret"):
            if os.path.lexists(p):
                os.remove(p)


def dk(d, *args, **kw):
    return run(["docker", "-H", f"unix://{d.sock}", *args], **kw)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_cve_2019_5736_proc_self_exe(host):
    binaries = [os.path.join(ROOT, "build", "cmd", n, n) for n in ("berth-runtime", "berth-shim", "berthd")]
    binaries = [b for b in binaries if os.path.exists(b)]
    before = {b: sha(b) for b in binaries}
    r = dk(host, "run", "-d", "busybox", "sleep", "600")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        assert dk(host, "cp", PROBE, f"{cid}:/probe").returncode == 0
        r = dk(host, "exec", cid, "/bin/busybox", "sh", "-c",
               "rm /bin/sh && printf '#!/proc/self/exe\\n' > /bin/sh && chmod 755 /bin/sh")
        assert r.returncode == 0, r.stderr
        scanner = subprocess.Popen(["docker", "-H", f"unix://{host.sock}", "exec", cid, "/probe", "exe-writable", "12"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        deadline = time.time() + 10
        execs = 0
        while time.time() < deadline:
            dk(host, "exec", cid, "/bin/sh", timeout=30)  # runs /proc/self/exe of whatever execs it
            execs += 1
        out, err = scanner.communicate(timeout=60)
        assert "hits=0" in out, f"after {execs} execs: {out} {err}"
        assert int(out.split("tries=")[1].split()[0]) > 0, out
    finally:
        dk(host, "rm", "-f", cid)
    assert {b: sha(b) for b in binaries} == before, "a host binary changed"


def test_cve_2024_21626_workdir_proc_self_fd(host):
    with open(f"/{MARK}.secret", "w") as f:
        f.write("host secret\n")
    try:
        probe = "cat ../../../../../../../{0}.secret 2>/dev/null; cat ../../../../../../{0}.secret 2>/dev/null; pwd".format(MARK)
        for n in range(3, 10):
            r = dk(host, "run", "--rm", "-w", f"/proc/self/fd/{n}", "busybox", "sh", "-c", probe, timeout=60)
            assert "host secret" not in r.stdout, f"-w /proc/self/fd/{n}: {r.stdout}"
        # The same through an image's WORKDIR.
        saved = f"{host.work}/busybox.tar"
        assert dk(host, "save", "-o", saved, "busybox").returncode == 0
        for n in (5, 7, 8):
            out = f"{host.work}/wd{n}.tar"
            with_config(saved, out, f"workdir{n}:1", lambda c: c.setdefault("config", {}).update(
                {"WorkingDir": f"/proc/self/fd/{n}"}))
            assert dk(host, "load", "-i", out).returncode == 0
            r = dk(host, "run", "--rm", f"workdir{n}:1", "sh", "-c", probe, timeout=60)
            assert "host secret" not in r.stdout, f"WORKDIR /proc/self/fd/{n}: {r.stdout}"
            dk(host, "rmi", f"workdir{n}:1")
    finally:
        os.remove(f"/{MARK}.secret")


def test_cp_through_symlinks_to_root(host):
    r = dk(host, "run", "-d", "busybox", "sh", "-c",
           "ln -s / /rootlink; mkdir -p /w/d; ln -s /etc/hostname /hostlink; sleep 600")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    payload = f"{host.work}/{MARK}"
    with open(payload, "w") as f:
        f.write("payload\n")
    try:
        time.sleep(0.5)
        # Into a symlink to /: lands in the container's /, never the host's.
        assert dk(host, "cp", payload, f"{cid}:/rootlink/").returncode == 0
        assert not os.path.exists(f"/{MARK}")
        r = dk(host, "exec", cid, "cat", f"/{MARK}")
        assert r.stdout == "payload\n", r.stdout + r.stderr
        # Out of one: the container's file.
        out = f"{host.work}/out"
        os.makedirs(out)
        assert dk(host, "cp", f"{cid}:/rootlink/etc/hostname", out).returncode == 0
        assert open(f"{out}/hostname").read().strip() == cid[:12]
        # A race: the container swaps /w/d between a directory and a symlink to / while we copy.
        r = dk(host, "exec", "-d", cid, "sh", "-c",
               "while true; do mv /w/d /w/d.x; ln -s / /w/d; rm /w/d; mv /w/d.x /w/d; done")
        assert r.returncode == 0, r.stderr
        for i in range(40):
            dk(host, "cp", payload, f"{cid}:/w/d/", timeout=30)
            dk(host, "cp", f"{cid}:/w/d/etc/shadow", f"{out}/shadow{i}", timeout=30)
        assert not os.path.exists(f"/{MARK}"), "docker cp wrote to the host's /"
        host_shadow = open("/etc/shadow").read() if os.path.exists("/etc/shadow") else None
        for i in range(40):
            p = f"{out}/shadow{i}"
            if os.path.exists(p) and host_shadow is not None:
                assert open(p).read() != host_shadow or host_shadow == "", "docker cp read the host's /etc/shadow"
    finally:
        dk(host, "rm", "-f", cid)
        os.remove(payload)
