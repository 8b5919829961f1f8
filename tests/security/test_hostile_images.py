"""Hostile image archives given to `docker load` (what held in the attack on 9fa7f06, and finding 6 of
issue 16: images of 200 or 1000 layers loaded and only failed at run).

Must hold: every archive below is refused with an error, the image list is as it was, nothing is written
outside the image store, and an image deeper than docker's 125 layers is refused at load with docker's
"max depth exceeded"."""
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile

import pytest

from conftest import BERTH, ROOT, Daemon, need, need_root, run, unmount_under

MARK = "berth-escape-" + os.urandom(4).hex()


@pytest.fixture(scope="module")
def host():
    need_root()
    need("docker")
    work = tempfile.mkdtemp(prefix="berth-sec-images-", dir="/tmp")
    d = Daemon(work)
    d.start()
    try:
        r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH],
                env=dict(os.environ, BERTH_HOST=f"unix://{d.sock}"))
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        d.stop()
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
        for p in (f"/tmp/{MARK}", f"/{MARK}", f"/etc/{MARK}"):
            if os.path.lexists(p):
                os.remove(p)


def entry(name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644, size=None):
    return dict(name=name, data=data, kind=kind, link=link, mode=mode, size=size)


def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e["kind"]
            ti.mode = e["mode"]
            ti.linkname = e["link"]
            ti.size = len(e["data"]) if e["kind"] == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(e["data"]) if e["kind"] == tarfile.REGTYPE else None)
    data = buf.getvalue()
    for e in entries:  # a header that claims more than the archive holds
        if e["size"] is not None:
            hdr = data.find(e["name"].encode())
            field = b"%011o\0" % e["size"]
            data = data[:hdr + 124] + field + data[hdr + 136:]
            chk = sum(data[hdr:hdr + 148]) + 8 * 32 + sum(data[hdr + 156:hdr + 512])
            data = data[:hdr + 148] + b"%06o\0 " % chk + data[hdr + 156:]
            data = data[:hdr + 512 + 512]  # cut off
    return data


def archive(path, layers, tag, diff_ids=None):
    """A docker-save archive (manifest.json, config, layers as <n>/layer.tar)."""
    ids = diff_ids or ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ids}, "history": []}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag],
                            "Layers": [f"{i}/layer.tar" for i in range(len(layers))]}]).encode()
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        add(cfg_name, config)
        for i, layer in enumerate(layers):
            add(f"{i}/layer.tar", layer)
        add("manifest.json", manifest)


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
