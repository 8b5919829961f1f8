"""Hostile image archives given to `docker load` (what held in the attack on 9fa7f06, and finding 6 of
issue 16: images of 200 or 1000 layers loaded and only failed at run).

Must hold: every archive below is refused with an error, the image list is as it was, nothing is written
outside the image store, and an image deeper than docker's 125 layers is refused at load with docker's
"max depth exceeded"."""
import os
import tarfile

import pytest

from hosts import private_host
from conftest import need, run
from image_archives import archive, entry, layer_tar

MARK = "berth-escape-" + os.urandom(4).hex()


@pytest.fixture(scope="module")
def host():
    need("docker")
    try:
        with private_host("images") as d:
            yield d
    finally:
        for p in (f"/tmp/{MARK}", f"/{MARK}", f"/etc/{MARK}"):
            if os.path.lexists(p):
                os.remove(p)


HOSTILE = {
    "dotdot": [entry(f"../../../../../../tmp/{MARK}", b"x")],
    "dotdot-inner": [entry("a/"), entry(f"a/../../../../../../tmp/{MARK}", b"x")],
    "symlink-out": [entry("out", kind=tarfile.SYMTYPE, link="/tmp"), entry(f"out/{MARK}", b"x")],
    "symlink-rel-out": [entry("out", kind=tarfile.SYMTYPE, link="../../../../../../../tmp"),
                        entry(f"out/{MARK}", b"x")],
    "hardlink-out": [entry(MARK, kind=tarfile.LNKTYPE, link="../../../../../../../etc/passwd")],
    "hardlink-abs": [entry(MARK, kind=tarfile.LNKTYPE, link="/etc/passwd")],
    "whiteout-out": [entry(f"../../../../../../tmp/.wh.{MARK}")],
    "opaque-out": [entry("../../../../../../tmp/.wh..wh..opq")],
    "truncated": [entry("big", b"y" * 100, size=1 << 30)],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_layer_is_refused(host, name):
    open(f"/tmp/{MARK}.victim", "w").close()
    before = run(["docker", "-H", f"unix://{host.sock}", "images", "-q", "--no-trunc"]).stdout
    path = f"{host.work}/{name}.tar"
    archive(path, [layer_tar(HOSTILE[name])], f"hostile-{name}:1")
    r = run(["docker", "-H", f"unix://{host.sock}", "load", "-i", path])
    assert r.returncode != 0, f"{name} loaded: {r.stdout}"
    for p in (f"/tmp/{MARK}", f"/{MARK}", f"/etc/{MARK}"):
        assert not os.path.lexists(p), f"{name} wrote {p}"
    assert os.path.exists(f"/tmp/{MARK}.victim"), f"{name} removed a host file"
    os.remove(f"/tmp/{MARK}.victim")
    after = run(["docker", "-H", f"unix://{host.sock}", "images", "-q", "--no-trunc"]).stdout
    assert before == after
    assert host.ping()


def test_digest_mismatch_is_refused(host):
    path = f"{host.work}/mismatch.tar"
    archive(path, [layer_tar([entry("f", b"x")])], "hostile-mismatch:1", diff_ids=["sha256:" + "0" * 64])
    r = run(["docker", "-H", f"unix://{host.sock}", "load", "-i", path])
    assert r.returncode != 0
    assert "hostile-mismatch" not in run(["docker", "-H", f"unix://{host.sock}", "images"]).stdout


def test_layer_chains_are_bounded_at_load(host):
    path = f"{host.work}/deep.tar"
    archive(path, [layer_tar([entry(f"f{i}", b"%d" % i)]) for i in range(200)], "hostile-deep:1")
    r = run(["docker", "-H", f"unix://{host.sock}", "load", "-i", path])
    assert r.returncode != 0 and "max depth exceeded" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "hostile-deep" not in run(["docker", "-H", f"unix://{host.sock}", "images"]).stdout
    # 125 layers, docker's bound, load and run.
    path = f"{host.work}/d125.tar"
    archive(path, [layer_tar([entry(f"f{i}", b"%d" % i)]) for i in range(124)] +
            [layer_tar([entry("bin/", kind=tarfile.DIRTYPE, mode=0o755)])], "deep125:1")
    r = run(["docker", "-H", f"unix://{host.sock}", "load", "-i", path])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["docker", "-H", f"unix://{host.sock}", "image", "inspect", "-f", "{{len .RootFS.Layers}}", "deep125:1"])
    assert r.stdout.strip() == "125", r.stdout + r.stderr
    assert run(["docker", "-H", f"unix://{host.sock}", "rmi", "deep125:1"]).returncode == 0
