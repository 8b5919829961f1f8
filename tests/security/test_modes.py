"""Attacks by an unprivileged local user on a default berthd (no access to its socket):

- run a setuid-root binary that a container planted in its root filesystem, through the rootfs mount
  listed in /proc/mounts (the mount is in the host's mount namespace, so setuid works there);
- read another container's secrets (`-e DB_PASSWORD=…`) from the metadata database, the runtime's
  config.json or the log;
- read, list or enter anything under the data and exec roots.

Must hold: the data root is 0710 and every directory under the data and exec roots is root's alone
(the exec root itself is 0711 because the API socket may live in it), so none of these gets through."""
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import BERTH, ROOT, Daemon, need_root, run, unmount_under

PROBE = os.path.join(ROOT, "build", "tests", "probe", "probe")
NOBODY = 65534
SECRET = "hunter2-" + os.urandom(4).hex()


@pytest.fixture(scope="module")
def host():
    """A daemon whose roots an unprivileged user can reach up to the roots themselves (the usual
    /var/lib/berth and /run/berth: every directory above them is world-traversable)."""
    need_root()
    work = tempfile.mkdtemp(prefix="berth-sec-modes-", dir="/tmp")
    os.chmod(work, 0o755)
    d = Daemon(work)
    d.start()
    env = dict(os.environ, BERTH_HOST=f"unix://{d.sock}")
    cli = [BERTH, "-H", f"unix://{d.sock}"]
    try:
        r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH], env=env)
        assert r.returncode == 0, r.stderr
        assert run(cli + ["volume", "create", "data"]).returncode == 0
        r = run(cli + ["create", "--name", "victim", "-e", f"DB_PASSWORD={SECRET}", "-v", "data:/data",
                       "-v", "/anon", "busybox", "sh", "-c", f"echo {SECRET}; echo {SECRET} > /data/s; sleep 600"])
        assert r.returncode == 0, r.stderr
        assert run(cli + ["cp", PROBE, "victim:/suid-probe"]).returncode == 0
        assert run(cli + ["start", "victim"]).returncode == 0
        r = run(cli + ["exec", "victim", "sh", "-c", "chmod 4755 /suid-probe && ls -l /suid-probe"])
        assert r.returncode == 0 and "rws" in r.stdout, r.stdout + r.stderr
        yield d, cli
    finally:
        ids = json.loads(d.request("GET", "/containers/json?all=1")[1])
        for c in ids:
            d.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")
        d.request("DELETE", "/volumes/data")
        d.stop()
        subprocess.run(["pkill", "-9", "-f", f"berth-shim --id .* --runtime-root {d.run_root}/runtime"],
                       capture_output=True)
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def as_nobody(args, **kw):
    return subprocess.run(args, user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True,
                          timeout=60, **kw)


def rootfs_of(d):
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(d.run_root + "/")]
    assert points, "the running container's rootfs is not mounted under the exec root"
    return [p for p in points if p.endswith("/rootfs")]


def test_setuid_binary_planted_by_a_container_does_not_run_for_a_local_user(host):
    d, _ = host
    for rootfs in rootfs_of(d):
        assert os.stat(rootfs + "/suid-probe").st_mode & stat.S_ISUID
        try:
            r = as_nobody([rootfs + "/suid-probe", "id"])
        except PermissionError:
            continue  # (the exec itself was refused: the path cannot be traversed)
        assert r.returncode != 0 and "euid=0" not in r.stdout, \
            f"an unprivileged user ran a container's setuid binary: {r.stdout}"


def test_secrets_are_not_readable_by_a_local_user(host):
    d, _ = host
    # The secret is on disk (database record, runtime config, log, volume): root finds it.
    found = run(["grep", "-rl", "--binary-files=text", SECRET, d.data, d.run_root]).stdout.split()
    assert any(p.endswith("metadata.db") or "-wal" in p for p in found), found
    r = as_nobody(["grep", "-rl", "--binary-files=text", SECRET, d.data, d.run_root])
    assert r.stdout.strip() == "", f"an unprivileged user read the secret in {r.stdout.split()}"
    for f in ["metadata.db", "metadata.db-wal"]:
        assert stat.S_IMODE(os.stat(f"{d.data}/{f}").st_mode) == 0o600


CHECK = r"""
import os, sys, json
bad = []
for p in json.load(sys.stdin):
    try:
        st = os.lstat(p)
    except OSError:
        continue  # cannot even see it: the parent is not traversable
    import stat as S
    if S.S_ISLNK(st.st_mode) or S.S_ISSOCK(st.st_mode):
        continue
    try:
        if S.S_ISDIR(st.st_mode):
            os.listdir(p)
            bad.append("listed " + p)
        else:
            os.close(os.open(p, os.O_RDONLY))
            bad.append("read " + p)
    except OSError:
        pass
print(json.dumps(bad))
"""


def test_nothing_under_the_roots_is_readable_by_a_local_user(host):
    d, _ = host
    paths = []
    for top in (d.data, d.run_root):
        for dirpath, dirnames, filenames in os.walk(top):
            # (inside a mounted rootfs or a volume's data the container's own modes apply)
            dirnames[:] = [n for n in dirnames if n not in ("rootfs", "_data", "fs")]
            paths += [os.path.join(dirpath, n) for n in dirnames + filenames]
    assert len(paths) > 30
    r = as_nobody(["/usr/bin/python3", "-c", CHECK], input=json.dumps(paths))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    assert stat.S_IMODE(os.stat(d.data).st_mode) == 0o710
    assert stat.S_IMODE(os.stat(d.run_root).st_mode) == 0o711
    for p in os.listdir(d.run_root):
        full = os.path.join(d.run_root, p)
        if os.path.isdir(full) and not os.path.islink(full):
            assert stat.S_IMODE(os.stat(full).st_mode) == 0o700, full
    # The socket is root's and the berth group's (docker's docker group): nobody cannot connect.
    r = as_nobody(["/usr/bin/python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX);"
                   f"s.connect({d.sock!r})"])
    assert r.returncode != 0 and "Permission denied" in r.stderr
