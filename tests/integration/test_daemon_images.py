"""Image archives through berthd: docker save / load / import with the docker CLI and python3-docker
(streamed bodies larger than the JSON limit, bad archives refused with the store unchanged)."""
import io
import json
import os
import tarfile

import pytest

from conftest import dk


def image_ids(docker):
    return sorted(dk(docker, "images", "-q", "--no-trunc").stdout.split())


def test_save_load_round_trip(docker, tmp_path):
    out = tmp_path / "bb.tar"
    assert dk(docker, "tag", "busybox", "copy:one").returncode == 0
    r = dk(docker, "save", "-o", str(out), "busybox", "copy:one")
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    assert sorted(manifest[0]["RepoTags"]) == ["busybox:latest", "copy:one"]
    assert dk(docker, "rmi", "copy:one").returncode == 0
    r = dk(docker, "load", "-i", str(out))
    assert r.returncode == 0, r.stderr
    assert "Loaded image: copy:one" in r.stdout and "Loaded image: busybox:latest" in r.stdout
    assert dk(docker, "run", "--rm", "copy:one", "echo", "loaded").stdout == "loaded\n"
    assert dk(docker, "rmi", "copy:one").returncode == 0
    before = image_ids(docker)
    r = dk(docker, "load", input="this is not an image archive" * 1000)
    assert r.returncode != 0
    assert image_ids(docker) == before
    r = dk(docker, "save", "no-such-image")
    assert r.returncode != 0 and "no-such-image" in r.stderr


def test_import_a_filesystem(docker, tmp_path):
    tarball = tmp_path / "fs.tar"
    with tarfile.open(tarball, "w") as t:
        busybox = "/bin/busybox"
        t.add(busybox, arcname="bin/busybox")
        info = tarfile.TarInfo("bin/sh")
        info.type, info.linkname = tarfile.SYMTYPE, "busybox"
        t.addfile(info)
        pad = os.urandom(20 << 20)  # the body is streamed: larger than the 16 MiB JSON limit
        info = tarfile.TarInfo("pad")
        info.size = len(pad)
        t.addfile(info, io.BytesIO(pad))
    r = dk(docker, "import", "-c", "CMD [\"/bin/sh\", \"-c\", \"echo imported\"]", "-m", "from a test",
           str(tarball), "imported:1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("sha256:")
    assert dk(docker, "run", "--rm", "imported:1").stdout == "imported\n"
    assert dk(docker, "rmi", "imported:1").returncode == 0


def test_python_docker_save_and_load(daemon):
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=f"unix://{daemon.sock}")
    data = b"".join(client.images.get("busybox").save())
    loaded = client.images.load(data)
    assert [i.tags for i in loaded] == [["busybox:latest"]]
