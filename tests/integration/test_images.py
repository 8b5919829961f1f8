"""Image round trips with real tools: docker save -> berth load, skopeo OCI archives -> berth load, hostile and
corrupt archives, and a load killed midway."""
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import BERTH, need, need_root, run, stop_autostarted


@pytest.fixture
def berth(workdir):
    need_root()
    if not os.access(BERTH, os.X_OK):
        pytest.fail(f"berth not built at {BERTH}")
    root = f"{workdir}/berth-data"
    base = [BERTH, "--data-root", root]
    yield base
    stop_autostarted(root)


def images(berth):
    r = run(berth + ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split("\n")[:-1])


def mounted(berth, ref):
    r = run(berth + ["image", "mount", ref])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_docker_save_then_berth_load(dockerd_host, berth, workdir):
    docker = dockerd_host
    # Two layers on top of the imported busybox: one adds files, one deletes (a whiteout) and makes a dir opaque.
    ctx = f"{workdir}/ctx"
    os.makedirs(ctx)
    with open(f"{ctx}/Dockerfile", "w") as f:
        f.write("FROM berthbox\n"
                "RUN mkdir -p /data/sub && echo one > /data/sub/a && echo keep > /data/keep\n"
                "RUN rm /bin/vi && rm -rf /data/sub && mkdir /data/sub && echo two > /data/sub/b\n"
                'CMD ["sh", "-c", "echo from-multi"]\n'
                "LABEL test=berth\n")
    b = run(docker + ["build", "-q", "-t", "multi:1", ctx], timeout=300)
    assert b.returncode == 0, b.stderr
    saved = f"{workdir}/multi.tar"
    assert run(docker + ["save", "-o", saved, "multi:1", "berthbox:latest"]).returncode == 0
    docker_id = run(docker + ["image", "inspect", "-f", "{{.Id}}", "multi:1"]).stdout.strip()

    r = run(berth + ["load", "-i", saved])
    assert r.returncode == 0, r.stderr
    assert "Loaded image: multi:1" in r.stdout and "Loaded image: berthbox:latest" in r.stdout, r.stdout
    ins = json.loads(run(berth + ["image", "inspect", "multi:1"]).stdout)[0]
    assert ins["Id"] == docker_id, "the image ID is the config digest, as docker's"
    assert ins["Config"]["Labels"] == {"test": "berth"}
    assert len(ins["RootFS"]["Layers"]) == 3
    root = mounted(berth, "multi:1")
    try:
        assert not os.path.exists(f"{root}/bin/vi"), "a whiteout hides the lower file"
        assert os.path.exists(f"{root}/bin/sh")
        assert open(f"{root}/data/keep").read() == "keep\n"
        assert os.listdir(f"{root}/data/sub") == ["b"], "the replaced directory is opaque"
    finally:
        run(berth + ["image", "unmount", "multi:1"])
    r = run(berth + ["run", "--rm", "multi:1"])
    assert (r.returncode, r.stdout) == (0, "from-multi\n"), r.stderr
    # Layers are shared: loading again changes nothing, and berthbox's one layer is the base of multi's.
    assert run(berth + ["load", "-i", saved]).returncode == 0
    assert len(images(berth)) == 2
    hist = run(berth + ["history", "multi:1"])
    assert hist.returncode == 0 and "IMAGE" in hist.stdout
    # rmi keeps the shared base layer for berthbox.
    rm = run(berth + ["rmi", "multi:1"])
    assert rm.returncode == 0, rm.stderr
    assert "Untagged: multi:1" in rm.stdout
    root = mounted(berth, "berthbox")
    assert os.path.exists(f"{root}/bin/vi")
    run(berth + ["image", "unmount", "berthbox"])


def test_skopeo_oci_archive_loads(dockerd_host, berth, workdir):
    docker = dockerd_host
    skopeo = need("skopeo")
    saved = f"{workdir}/box.tar"
    assert run(docker + ["save", "-o", saved, "berthbox:latest"]).returncode == 0
    oci = f"{workdir}/box-oci.tar"
    r = run([skopeo, "copy", f"docker-archive:{saved}", f"oci-archive:{oci}:berthbox:oci"])
    assert r.returncode == 0, r.stderr
    r = run(berth + ["load", "-i", oci])
    assert r.returncode == 0, r.stderr
    assert "Loaded image: berthbox:oci" in r.stdout, r.stdout
    root = mounted(berth, "berthbox:oci")
    assert os.path.exists(f"{root}/bin/busybox")
    run(berth + ["image", "unmount", "berthbox:oci"])


def docker_archive(path, files, diff_id=None, tags=("evil:1",)):
    """A docker-archive with one layer holding `files` ({name: bytes or tarfile.TarInfo})."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for name, data in files.items():
            if isinstance(data, tarfile.TarInfo):
                t.addfile(data)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    raw = layer.getvalue()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id or digest]}}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": list(tags), "Layers": ["l/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in (("l/layer.tar", raw), (cfg_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_hostile_and_corrupt_archives_leave_the_store_unchanged(berth, workdir):
    good = f"{workdir}/good.tar"
    docker_archive(good, {"etc/hello": b"hi\n"}, tags=("good:1",))
    assert run(berth + ["load", "-i", good]).returncode == 0
    before = images(berth)
    link = tarfile.TarInfo("escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc"
    through = tarfile.TarInfo("escape/pwned")
    cases = {
        "dotdot": ({"../../pwned": b"x"}, None, '".."'),
        "absolute": ({"/tmp/berth-pwned": b"x"}, None, "absolute"),
        "symlink parent": ({"escape": link, "escape/pwned": through}, None, "symlink"),
        "wrong diffid": ({"etc/x": b"x"}, "sha256:" + "0" * 64, "DiffID"),
    }
    for name, (files, diff_id, expect) in cases.items():
        path = f"{workdir}/{name.replace(' ', '-')}.tar"
        docker_archive(path, files, diff_id)
        r = run(berth + ["load", "-i", path])
        assert r.returncode == 1, f"{name}: {r.stdout}"
        assert expect in r.stderr, f"{name}: {r.stderr}"
        assert images(berth) == before, name
    assert not os.path.exists("/tmp/berth-pwned") and not os.path.exists("/etc/pwned")
    # An OCI layout whose index names a 5 MB "manifest": refused, not read into memory.
    huge = os.urandom(5 << 20)
    hd = hashlib.sha256(huge).hexdigest()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hd,
         "size": len(huge)}]}).encode()
    path = f"{workdir}/huge-manifest.tar"
    with tarfile.open(path, "w") as t:
        for name, data in ((f"blobs/sha256/{hd}", huge), ("index.json", index),
                           ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    r = run(berth + ["load", "-i", path])
    assert r.returncode == 1 and "too large" in r.stderr, r.stderr
    assert images(berth) == before
    # A truncated archive and garbage.
    data = open(good, "rb").read()
    for name, blob in (("truncated", data[: len(data) // 2]), ("garbage", os.urandom(4096))):
        path = f"{workdir}/{name}.tar"
        open(path, "wb").write(blob)
        r = run(berth + ["load", "-i", path])
        assert r.returncode == 1, name
        assert images(berth) == before, name


def test_load_killed_midway_leaves_a_consistent_store(berth, workdir):
    big = f"{workdir}/big.tar"
    docker_archive(big, {f"data/f{i}": os.urandom(1 << 20) for i in range(200)}, tags=("big:1",))
    good = f"{workdir}/good.tar"
    docker_archive(good, {"etc/hello": b"hi\n"}, tags=("good:1",))
    assert run(berth + ["load", "-i", good]).returncode == 0
    before = images(berth)
    for delay in (0.05, 0.3, 0.8):
        p = subprocess.Popen(berth + ["load", "-i", big], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = images(berth)
        assert now == before or (len(now) == len(before) + 1 and any(i.startswith("big:1") for i in now)), now
        if len(now) > len(before):
            assert run(berth + ["rmi", "big:1"]).returncode == 0
    r = run(berth + ["load", "-i", big])
    assert r.returncode == 0, r.stderr
    root = mounted(berth, "big:1")
    assert os.path.getsize(f"{root}/data/f199") == 1 << 20
    run(berth + ["image", "unmount", "big:1"])
    # Nothing left half-made: no ingest files, no extract snapshots.
    assert os.listdir(f"{berth[2]}/content/ingest") == []


def test_import_changes_and_default_image(berth, workdir):
    env = dict(os.environ, BERTH_DATA_ROOT=berth[2])
    script = os.path.join(os.path.dirname(BERTH), "..", "..", "..", "scripts", "make-busybox-image.sh")
    r = run(["bash", script, BERTH], env=env)
    assert r.returncode == 0, r.stderr
    ins = json.loads(run(berth + ["image", "inspect", "busybox"]).stdout)[0]
    assert ins["RepoTags"] == ["busybox:latest"]
    assert ins["Config"]["Cmd"] == ["sh"]
    root = mounted(berth, "busybox")
    assert "nobody:x:65534" in open(f"{root}/etc/passwd").read()
    assert os.readlink(f"{root}/bin/wget") == "busybox"
    # --change takes one value each: the file and the reference after it stay positional (as in docker).
    tar = os.path.join(workdir, "root.tar")
    run(["tar", "-C", root, "-cf", tar, "bin/busybox"], check=True)
    r = run(berth + ["import", "--change", "CMD [\"true\"]", "--change", "ENV A=1", tar, "changed:1"])
    assert r.returncode == 0, r.stderr
    ins = json.loads(run(berth + ["image", "inspect", "changed:1"]).stdout)[0]
    assert ins["Config"]["Cmd"] == ["true"] and "A=1" in ins["Config"]["Env"]
    run(berth + ["image", "unmount", "busybox"])
    bad = run(berth + ["import", "--change", "RUN echo no", "/dev/null"])
    assert bad.returncode == 1 and "RUN is not supported" in bad.stderr
    assert run(berth + ["tag", "busybox", "localhost:5000/box:v1"]).returncode == 0
    assert "localhost:5000/box:v1" in " ".join(images(berth))
    assert run(berth + ["rmi", "nope"]).returncode == 1
    df = run(berth + ["system", "df"])
    assert df.returncode == 0 and "Images" in df.stdout


def test_berth_save_then_docker_load_and_run(dockerd_host, berth, workdir):
    docker = dockerd_host
    env = dict(os.environ, BERTH_DATA_ROOT=berth[2])
    script = os.path.join(os.path.dirname(BERTH), "..", "..", "..", "scripts", "make-busybox-image.sh")
    assert run(["bash", script, BERTH, "berthsaved:1"], env=env).returncode == 0
    my_id = run(berth + ["image", "inspect", "-f", "{{.Id}}", "berthsaved:1"]).stdout.strip()
    for fmt in ("docker", "oci"):
        out = f"{workdir}/saved-{fmt}.tar"
        r = run(berth + ["save", "--format", fmt, "-o", out, "berthsaved:1"])
        assert r.returncode == 0, r.stderr
        run(docker + ["rmi", "-f", "berthsaved:1"])
        r = run(docker + ["load", "-i", out])
        assert r.returncode == 0, f"{fmt}: {r.stderr}"
        assert run(docker + ["image", "inspect", "-f", "{{.Id}}", "berthsaved:1"]).stdout.strip() == my_id
        r = run(docker + ["run", "--rm", "--runtime=berth", "--network", "none", "berthsaved:1",
                          "sh", "-c", "echo saved-by-berth; grep -c nobody /etc/passwd"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["saved-by-berth", "1"]
    if os.path.exists("/usr/bin/skopeo"):
        r = run(["skopeo", "inspect", f"oci-archive:{workdir}/saved-oci.tar"])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["Architecture"] == "amd64"
    # berth save -> berth load into another store gives the same image.
    other = [BERTH, "--data-root", f"{workdir}/other-store"]
    try:
        assert run(other + ["load", "-i", f"{workdir}/saved-docker.tar"]).returncode == 0
        assert run(other + ["image", "inspect", "-f", "{{.Id}}", "berthsaved:1"]).stdout.strip() == my_id
    finally:
        stop_autostarted(f"{workdir}/other-store")
