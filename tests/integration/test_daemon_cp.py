"""A container's files through berthd: docker cp both ways (running and stopped containers, files,
directories, "dir/." contents, symlinks, 40 MB), docker diff, docker export, python3-docker's archive calls,
and hostile paths and tars (nothing read or written outside the container)."""
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import dk


@pytest.fixture
def box(docker):
    name = f"cp-{os.getpid()}-{time.monotonic_ns()}"
    script = "mkdir -p /data/sub; echo hello > /data/f; echo deep > /data/sub/g; ln -s /etc /data/etclink; " \
             "mkdir /evil; ln -s ../../../../../../ /evil/up; rm /bin/vi; sleep 1000"
    r = dk(docker, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    deadline = time.time() + 10
    while time.time() < deadline and dk(docker, "exec", name, "test", "-e", "/evil/up").returncode != 0:
        time.sleep(0.05)
    yield name
    dk(docker, "rm", "-f", name)


def test_cp_out_of_a_container(docker, box, tmp_path):
    r = dk(docker, "cp", f"{box}:/data/f", str(tmp_path / "f"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f").read_text() == "hello\n"
    assert dk(docker, "cp", f"{box}:/data", str(tmp_path / "d")).returncode == 0
    assert (tmp_path / "d" / "sub" / "g").read_text() == "deep\n"
    assert os.readlink(tmp_path / "d" / "etclink") == "/etc"  # a symlink stays a symlink
    os.mkdir(tmp_path / "contents")
    assert dk(docker, "cp", f"{box}:/data/.", str(tmp_path / "contents")).returncode == 0
    assert sorted(os.listdir(tmp_path / "contents")) == ["etclink", "f", "sub"]
    r = dk(docker, "cp", f"{box}:/no/such/file", str(tmp_path / "x"))
    assert r.returncode != 0 and "Could not find the file /no/such/file" in r.stderr


def test_cp_into_a_container_running_and_stopped(docker, box, tmp_path):
    (tmp_path / "up.txt").write_text("uploaded\n")
    assert dk(docker, "cp", str(tmp_path / "up.txt"), f"{box}:/data/").returncode == 0
    assert dk(docker, "exec", box, "cat", "/data/up.txt").stdout == "uploaded\n"
    (tmp_path / "tree" / "a").mkdir(parents=True)
    (tmp_path / "tree" / "a" / "b").write_text("b\n")
    os.chmod(tmp_path / "tree" / "a" / "b", 0o640)
    assert dk(docker, "cp", str(tmp_path / "tree"), f"{box}:/tmp/tree").returncode == 0
    r = dk(docker, "exec", box, "stat", "-c", "%a %s", "/tmp/tree/a/b")
    assert r.stdout.split() == ["640", "2"], r.stdout + r.stderr
    big = os.urandom(40 << 20)  # beyond any request-body limit: the tar is streamed
    (tmp_path / "big").write_bytes(big)
    assert dk(docker, "cp", str(tmp_path / "big"), f"{box}:/tmp/big").returncode == 0
    r = dk(docker, "exec", box, "md5sum", "/tmp/big")
    assert r.stdout.split()[0] == hashlib.md5(big).hexdigest()
    r = dk(docker, "cp", str(tmp_path / "up.txt"), f"{box}:/no/such/dir/")
    assert r.returncode != 0
    # A stopped container's filesystem is mounted for the copy.
    assert dk(docker, "stop", "-t", "0", box).returncode == 0
    assert dk(docker, "cp", str(tmp_path / "up.txt"), f"{box}:/stopped.txt").returncode == 0
    assert dk(docker, "cp", f"{box}:/data/f", str(tmp_path / "f2")).returncode == 0
    assert (tmp_path / "f2").read_text() == "hello\n"
    assert dk(docker, "start", box).returncode == 0
    assert dk(docker, "exec", box, "cat", "/stopped.txt").stdout == "uploaded\n"


def test_diff_and_export(docker, box, tmp_path):
    r = dk(docker, "diff", box)
    assert r.returncode == 0, r.stderr
    lines = set(r.stdout.splitlines())
    assert {"A /data", "A /data/f", "A /data/sub/g", "D /bin/vi"} <= lines, r.stdout
    out = tmp_path / "fs.tar"
    assert dk(docker, "export", "-o", str(out), box).returncode == 0
    with tarfile.open(out) as t:
        names = set(t.getnames())
        assert {"bin/busybox", "data/f", "data/sub/g"} <= names
        assert "bin/vi" not in names
        assert t.extractfile("data/f").read() == b"hello\n"


def test_python_docker_archives(daemon, box):
    docker_mod = pytest.importorskip("docker")
    c = docker_mod.DockerClient(base_url=f"unix://{daemon.sock}").containers.get(box)
    stream, stat = c.get_archive("/data/sub")
    assert stat["name"] == "sub" and stat["mode"] & (1 << 31)  # Go's os.ModeDir
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        assert t.extractfile("sub/g").read() == b"deep\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("put.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"put"))
    assert c.put_archive("/tmp", buf.getvalue())
    assert c.exec_run("cat /tmp/put.txt").output == b"put"


def hostile_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_hostile_paths_stay_inside(daemon, docker, box, tmp_path):
    marker = tmp_path / "host-secret"
    marker.write_text("host only\n")
    rel = str(marker).lstrip("/")
    # Reading: "..", and symlinks to "/" or "../../..", resolve inside the container's root.
    for path in (f"/../../../../{rel}", f"/evil/up/{rel}", f"/evil/up/../../{rel}"):
        status, _ = daemon.request("GET", f"/containers/{box}/archive?path={path}")
        assert status == 404, path
    status, data = daemon.request("GET", f"/containers/{box}/archive?path=/data/etclink/passwd")
    assert status == 200  # the container's /etc/passwd, not the host's
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert b"root:x:0:0" in t.extractfile("passwd").read()
    # Writing: entries with "..", absolute names, or through a symlink (in the tar or on disk) are refused,
    # and nothing lands outside.
    escape = tmp_path / "escaped"
    bad = [
        ("/data", [("../../../../../../" + str(escape).lstrip("/"), "file", b"x")]),
        ("/data", [("/" + str(escape).lstrip("/"), "file", b"x")]),
        ("/data", [("link", "sym", str(tmp_path)), ("link/escaped", "file", b"x")]),
        ("/evil", [("up/" + str(escape).lstrip("/"), "file", b"x")]),  # /evil/up is a symlink to ../../..
    ]
    for dest, entries in bad:
        status, data = daemon.request("PUT", f"/containers/{box}/archive?path={dest}", hostile_tar(entries),
                                      {"Content-Type": "application/x-tar"})
        assert status in (400, 403, 500) and status != 200, (entries, status, data)
        assert not escape.exists(), entries
    # A destination that is a symlink to "/" means the container's "/".
    status, _ = daemon.request("PUT", f"/containers/{box}/archive?path=/evil/up",
                               hostile_tar([("at-root.txt", "file", b"r")]), {"Content-Type": "application/x-tar"})
    assert status == 200
    assert dk(docker, "exec", box, "cat", "/at-root.txt").stdout == "r"
    assert not os.path.exists("/at-root.txt")
    status, data = daemon.request("PUT", f"/containers/{box}/archive?path=/data/f", hostile_tar([("x", "file", b"")]),
                                  {"Content-Type": "application/x-tar"})
    assert status == 400 and b"not a directory" in data
    # noOverwriteDirNonDir (the docker CLI always sends it): a file may not replace a directory, nor back.
    status, data = daemon.request("PUT", f"/containers/{box}/archive?path=/data&noOverwriteDirNonDir=true",
                                  hostile_tar([("sub", "file", b"x")]), {"Content-Type": "application/x-tar"})
    assert status == 400 and b"cannot overwrite directory" in data, data
    assert dk(docker, "exec", box, "cat", "/data/sub/g").stdout == "deep\n"
    status, _ = daemon.request("PUT", f"/containers/{box}/archive?path=/data", b"not a tar at all" * 100,
                               {"Content-Type": "application/x-tar"})
    assert status in (400, 500)
    assert daemon.request("GET", f"/containers/{box}/archive")[0] == 400
    assert daemon.ping()
    assert json.loads(dk(docker, "inspect", box).stdout)[0]["State"]["Running"]


def test_restart_removes_mounts_of_interrupted_copies(daemon):
    # A daemon killed during `docker cp` of a stopped container leaves that container's filesystem mounted
    # under <exec-root>/tmp; the next start unmounts and removes it.
    leftover = f"{daemon.run_root}/tmp/fs-leftover"
    daemon.stop(signal.SIGKILL, keep_network=True)
    os.makedirs(leftover, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", leftover], check=True)
    daemon.start()
    assert not os.path.exists(leftover)
    assert leftover not in open("/proc/self/mountinfo").read()
