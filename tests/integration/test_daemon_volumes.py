"""Volumes and mounts of berthd through the docker CLI, python3-docker and docker-compose: named and anonymous
volumes, copy-up from the image with ownership, bind mounts, tmpfs, --volumes-from, docker's errors, a volume in
use, prune, a daemon restart; and `network connect/disconnect`, which compose relies on."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import dk


def names(prefix):
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 100000}"


@pytest.fixture
def seed_image(docker):
    """An image with a VOLUME at /seed holding a file, both owned by 1234:5678 (docker's copy-up keeps
    owners and modes)."""
    ref = "berth-test/seeded:latest"
    c = names("seedsrc")
    r = dk(docker, "run", "--name", c, "busybox", "sh", "-c",
           "mkdir -p /seed/sub && echo seeded > /seed/sub/f && chown -R 1234:5678 /seed && chmod 750 /seed")
    assert r.returncode == 0, r.stderr
    exported = subprocess.run(docker + ["export", c], capture_output=True)
    assert exported.returncode == 0, exported.stderr
    r = subprocess.run(docker + ["import", "--change", 'VOLUME ["/seed"]', "--change", 'CMD ["sh"]',
                                 "--change", "ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin", "-", ref],
                       input=exported.stdout, capture_output=True)
    assert r.returncode == 0, r.stderr
    dk(docker, "rm", "-f", c)
    yield ref
    dk(docker, "rmi", "-f", ref)


def volumes(docker):
    return dk(docker, "volume", "ls", "-q").stdout.split()


def test_named_volumes(docker, daemon):
    v, a = names("data"), names("writer")
    r = dk(docker, "volume", "create", "--label", "tier=db", v)
    assert r.returncode == 0 and r.stdout.strip() == v, r.stderr
    try:
        info = json.loads(dk(docker, "volume", "inspect", v).stdout)[0]
        assert info["Driver"] == "local" and info["Labels"] == {"tier": "db"} and info["Scope"] == "local"
        assert info["Mountpoint"] == f"{daemon.data}/volumes/{v}/_data"
        assert dk(docker, "volume", "ls", "-q", "-f", "label=tier=db").stdout.split() == [v]
        assert v in dk(docker, "volume", "ls", "-q", "-f", "dangling=true").stdout.split()
        # Written by one container, read by the next; read-only where asked.
        assert dk(docker, "run", "--name", a, "-v", f"{v}:/data", "busybox", "sh", "-c",
                  "echo kept > /data/f").returncode == 0
        assert dk(docker, "run", "--rm", "-v", f"{v}:/data:ro", "busybox", "cat", "/data/f").stdout == "kept\n"
        r = dk(docker, "run", "--rm", "--mount", f"type=volume,src={v},dst=/data,readonly", "busybox",
               "touch", "/data/g")
        assert r.returncode != 0 and "Read-only file system" in r.stderr
        with open(f"{daemon.data}/volumes/{v}/_data/f") as f:
            assert f.read() == "kept\n"
        mounts = json.loads(dk(docker, "inspect", "-f", "{{json .Mounts}}", a).stdout)
        assert mounts == [{"Type": "volume", "Name": v, "Source": info["Mountpoint"], "Destination": "/data",
                           "Driver": "local", "Mode": "", "RW": True, "Propagation": ""}]
        assert v not in dk(docker, "volume", "ls", "-q", "-f", "dangling=true").stdout.split()
        # In use (by a stopped container too): not removed, with docker's message.
        r = dk(docker, "volume", "rm", v)
        assert r.returncode != 0 and "volume is in use" in r.stderr and a[:5] not in ("",), r.stderr
        # rm -v leaves named volumes alone.
        assert dk(docker, "rm", "-v", a).returncode == 0
        assert v in volumes(docker)
        assert dk(docker, "volume", "rm", v).stdout.strip() == v
        assert not os.path.exists(f"{daemon.data}/volumes/{v}")
        r = dk(docker, "volume", "inspect", v)
        assert r.returncode != 0 and "no such volume" in r.stderr
    finally:
        dk(docker, "rm", "-f", a)
        dk(docker, "volume", "rm", "-f", v)


def test_anonymous_volumes_and_copy_up(docker, daemon, seed_image):
    a, b, v = names("anon"), names("anon2"), names("seeded")
    before = set(volumes(docker))
    try:
        # The image's VOLUME: an anonymous volume seeded with the image's content, owners and mode kept.
        r = dk(docker, "run", "--name", a, seed_image, "sh", "-c",
               "stat -c '%u:%g %a' /seed /seed/sub/f; cat /seed/sub/f; mount | grep -c ' /seed '")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:4] == ["1234:5678 750", "1234:5678 644", "seeded", "1"], r.stdout
        made = set(volumes(docker)) - before
        assert len(made) == 1
        anon = made.pop()
        info = json.loads(dk(docker, "volume", "inspect", anon).stdout)[0]
        assert info["Labels"] == {"com.docker.volume.anonymous": ""}
        # A named volume at the same place is seeded the same way once, and not again when it has content.
        r = dk(docker, "run", "--rm", "-v", f"{v}:/seed", seed_image, "sh", "-c",
               "cat /seed/sub/f; stat -c '%u:%g' /seed; echo mine > /seed/sub/f")
        assert r.stdout.split() == ["seeded", "1234:5678"], r.stdout + r.stderr
        assert dk(docker, "run", "--rm", "-v", f"{v}:/seed", seed_image, "cat", "/seed/sub/f").stdout == "mine\n"
        # nocopy: empty.
        r = dk(docker, "run", "--rm", "-v", f"{v}x:/seed:nocopy", seed_image, "ls", "-A", "/seed")
        assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
        # -v /path and --volumes-from share the anonymous volume; rm -v removes it with its last user.
        assert dk(docker, "run", "--name", b, "--volumes-from", f"{a}:ro", "-v", "/extra", seed_image,
                  "sh", "-c", "cat /seed/sub/f; touch /seed/x 2>/dev/null || echo ro").stdout == "seeded\nro\n"
        extra = set(volumes(docker)) - before - {anon, v, v + "x"}
        assert len(extra) == 1
        assert dk(docker, "rm", "-v", a).returncode == 0
        assert anon in volumes(docker), "still used by the --volumes-from container"
        assert dk(docker, "rm", "-v", b).returncode == 0
        assert anon not in volumes(docker) and not extra & set(volumes(docker))
        # --rm removes the anonymous volumes of its container.
        n = len(volumes(docker))
        assert dk(docker, "run", "--rm", "-v", "/scratch", seed_image, "true").returncode == 0
        assert len(volumes(docker)) == n
    finally:
        dk(docker, "rm", "-f", "-v", a, b)
        dk(docker, "volume", "rm", "-f", v, v + "x")
    assert set(volumes(docker)) == before


def test_binds_and_tmpfs(docker, daemon, tmp_path):
    host = tmp_path / "share"
    host.mkdir()
    (host / "in").write_text("from-host\n")
    fresh = tmp_path / "made" / "by-docker"
    r = dk(docker, "run", "--rm", "-v", f"{host}:/share", "-v", f"{fresh}:/fresh",
           "--mount", f"type=bind,src={host},dst=/ro,readonly",
           "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1770",
           "busybox", "sh", "-c",
           "cat /share/in; echo out > /share/out; touch /ro/x 2>/dev/null || echo ro-ok; ls -A /fresh | wc -l;"
           " grep ' /scratch ' /proc/mounts; stat -c %a /scratch")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["from-host", "ro-ok", "0"], r.stdout
    assert "tmpfs" in lines[3] and "size=1024k" in lines[3] and lines[4] == "1770", r.stdout
    assert (host / "out").read_text() == "out\n"
    assert fresh.is_dir(), "-v makes a missing host directory (docker's legacy behaviour)"


def test_cp_sees_volumes_and_binds(docker, daemon, tmp_path):
    c, v = names("cpv"), names("cpvol")
    (tmp_path / "f").write_text("hello\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "in").write_text("bound\n")
    assert dk(docker, "run", "-d", "--name", c, "-v", f"{v}:/data", "-v", f"{ro}:/ro:ro", "busybox",
              "sleep", "1000").returncode == 0
    try:
        for state in ("running", "stopped"):
            if state == "stopped":
                assert dk(docker, "stop", "-t", "0", c).returncode == 0
            assert dk(docker, "cp", str(tmp_path / "f"), f"{c}:/data/{state}").returncode == 0, state
            with open(f"{daemon.data}/volumes/{v}/_data/{state}") as f:
                assert f.read() == "hello\n"
            r = subprocess.run(docker + ["cp", f"{c}:/ro/in", "-"], capture_output=True)
            assert r.returncode == 0 and b"bound\n" in r.stdout, (state, r.stderr)
            r = dk(docker, "cp", str(tmp_path / "f"), f"{c}:/ro/")
            assert r.returncode != 0 and "Read-only file system" in r.stderr, (state, r.stderr)
        exported = subprocess.run(docker + ["export", c], capture_output=True).stdout
        assert b"data/running" not in exported and b"ro/in" not in exported, "export leaves volumes out"
        assert not (ro / "f").exists()
    finally:
        dk(docker, "rm", "-f", c)
        dk(docker, "volume", "rm", "-f", v)
    assert f"{daemon.run_root}/tmp" not in open("/proc/self/mountinfo").read()


def test_mount_errors(docker, daemon, tmp_path):
    cases = [
        (["-v", "bad name:/x"], "includes invalid characters for a local volume name"),
        (["-v", "vol:relative"], "invalid volume specification"),
        (["-v", "vol:/x:bogus"], "invalid mode: bogus"),
        (["-v", "vol:/x", "-v", "other:/x"], "Duplicate mount point: /x"),
        (["-v", "vol:/"], "destination can't be '/'"),
        (["--mount", f"type=bind,src={tmp_path}/missing,dst=/x"], "bind source path does not exist"),
        (["--mount", "type=tmpfs,src=x,dst=/x"], "Source must not be specified"),
        (["--mount", "type=floppy,dst=/x"], "mount type unknown"),
        (["--volumes-from", "no-such-container"], "No such container"),
        (["--mount", "type=volume,src=vol,dst=/x,volume-subpath=../.."], "subpath"),
    ]
    before = set(volumes(docker))
    for args, msg in cases:
        r = dk(docker, "run", "--rm", *args, "busybox", "true")
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    for body in ({"Name": "../x"}, {"Name": "a/b"}, {"Name": "x", "DriverOpts": {"bogus": "1"}},
                 {"Name": "x", "Driver": "nosuchdriver"}, {"Name": 7}, {"Labels": []}):
        status, data = daemon.request("POST", "/volumes/create", body=json.dumps(body),
                                      headers={"Content-Type": "application/json"})
        assert status in (400, 404), (body, status, data)
        assert "message" in json.loads(data)
    for hc in ({"Binds": [5]}, {"Binds": "a:/x"}, {"Mounts": [{"Type": "tmpfs", "Target": "/x",
                                                                 "TmpfsOptions": {"SizeBytes": "big"}}]},
               {"Mounts": [{"Type": "volume", "Target": "/x", "VolumeOptions": {"Labels": {"a": 1}}}]},
               {"Mounts": {"Type": "volume"}}, {"VolumesFrom": "x"}, {"NetworkMode": 5}):
        status, data = daemon.request("POST", "/containers/create", body=json.dumps(
            {"Image": "busybox", "HostConfig": hc}), headers={"Content-Type": "application/json"})
        assert status == 400 and "message" in json.loads(data), (hc, status, data)
    status, data = daemon.request("POST", "/containers/create", body=json.dumps(
        {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": 7}}}}}),
        headers={"Content-Type": "application/json"})
    assert status == 400, data
    status, _ = daemon.request("POST", "/volumes/create", body="{not json",
                               headers={"Content-Type": "application/json"})
    assert status == 400
    status, _ = daemon.request("DELETE", "/volumes/..%2Fdata")
    assert status == 404
    assert set(volumes(docker)) == before, "no volume left by a refused request"
    assert os.path.isdir(f"{daemon.data}/volumes") and daemon.ping()


def test_subpath_never_follows_a_symlink(docker, daemon):
    v = names("sub")
    try:
        assert dk(docker, "run", "--rm", "-v", f"{v}:/v", "busybox", "sh", "-c",
                  "mkdir /v/ok && echo inside > /v/ok/f && ln -s / /v/escape").returncode == 0
        r = dk(docker, "run", "--rm", "--mount", f"type=volume,src={v},dst=/x,volume-subpath=ok", "busybox",
               "cat", "/x/f")
        assert r.stdout == "inside\n", r.stderr
        r = dk(docker, "run", "--rm", "--mount", f"type=volume,src={v},dst=/x,volume-subpath=escape", "busybox",
               "ls", "/x")
        assert r.returncode != 0 and "etc" not in r.stdout, r.stdout
    finally:
        dk(docker, "volume", "rm", "-f", v)


def test_prune_and_local_driver_options(docker, daemon):
    named, opt, c = names("keepme"), names("tmpfsvol"), names("optuser")
    assert dk(docker, "volume", "create", named).returncode == 0
    anon = dk(docker, "volume", "create").stdout.strip()  # a random name, not anonymous: pruned with -a only
    assert len(anon) == 64
    assert dk(docker, "run", "--name", c, "-v", "/tmpdata", "busybox", "true").returncode == 0
    used_anon = [m["Name"] for m in json.loads(dk(docker, "inspect", "-f", "{{json .Mounts}}", c).stdout)][0]
    try:
        # The local driver's options: a tmpfs mounted while a container uses it.
        assert dk(docker, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m",
                  opt).returncode == 0
        r = dk(docker, "run", "--rm", "-v", f"{opt}:/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")
        assert r.returncode == 0 and "tmpfs" in r.stdout and "size=2048k" in r.stdout, r.stdout + r.stderr
        assert f"{daemon.data}/volumes/{opt}/_data" not in open("/proc/self/mountinfo").read(), \
            "unmounted when its last user exits"
        r = dk(docker, "volume", "prune", "-f")
        assert r.returncode == 0
        left = volumes(docker)
        assert named in left and anon in left and opt in left and used_anon in left
        dk(docker, "rm", c)
        r = dk(docker, "volume", "prune", "-f")
        assert used_anon in r.stdout and "Total reclaimed space" in r.stdout
        r = dk(docker, "volume", "prune", "-af", "--filter", "label=nosuch")
        assert named in volumes(docker)
        r = dk(docker, "volume", "prune", "-af")
        assert named in r.stdout and anon in r.stdout and opt in r.stdout
        assert not {named, anon, opt} & set(volumes(docker))
    finally:
        dk(docker, "rm", "-f", c)
        dk(docker, "volume", "rm", "-f", named, anon, opt, used_anon)


def test_volumes_survive_a_daemon_restart(docker, daemon):
    v, c = names("durable"), names("durable-user")
    assert dk(docker, "run", "-d", "--name", c, "-v", f"{v}:/d", "busybox", "sh", "-c",
              "echo one > /d/f; sleep 1000").returncode == 0
    try:
        # A directory without a record (a create or remove cut short by a crash) is adopted, never lost.
        orphan = names("orphan")
        os.makedirs(f"{daemon.data}/volumes/{orphan}/_data")
        with open(f"{daemon.data}/volumes/{orphan}/_data/keep", "w") as f:
            f.write("x")
        daemon.stop(signal_kill(), keep_network=True)
        daemon.start()
        assert dk(docker, "exec", c, "cat", "/d/f").stdout == "one\n"
        assert v in volumes(docker) and orphan in volumes(docker)
        r = dk(docker, "volume", "rm", v)
        assert r.returncode != 0 and "in use" in r.stderr
        assert dk(docker, "run", "--rm", "-v", f"{orphan}:/o", "busybox", "cat", "/o/keep").stdout == "x"
    finally:
        dk(docker, "rm", "-f", c)
        dk(docker, "volume", "rm", "-f", v, orphan)


def signal_kill():
    import signal
    return signal.SIGKILL


def test_python_docker_volumes(daemon):
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=f"unix://{daemon.sock}")
    n = names("py")
    vol = client.volumes.create(n, labels={"app": "py"})
    try:
        assert vol.name == n and [x.name for x in client.volumes.list(filters={"label": "app=py"})] == [n]
        out = client.containers.run("busybox", ["sh", "-c", "echo py > /v/f; cat /v/f"],
                                    volumes={n: {"bind": "/v", "mode": "rw"}}, remove=True)
        assert out == b"py\n"
    finally:
        vol.remove()
    assert n not in [x.name for x in client.volumes.list()]


def test_network_connect_and_disconnect(docker, daemon):
    n1, n2, a, b = names("front"), names("back"), names("svc-a"), names("svc-b")
    assert dk(docker, "network", "create", "--subnet", "10.241.1.0/24", n1).returncode == 0
    assert dk(docker, "network", "create", "--subnet", "10.241.2.0/24", n2).returncode == 0
    try:
        # Created: connected to a second network, with an address and an alias asked for.
        assert dk(docker, "create", "--name", a, "--network", n1, "busybox", "sleep", "1000").returncode == 0
        r = dk(docker, "network", "connect", "--ip", "10.241.2.50", "--alias", "api", n2, a)
        assert r.returncode == 0, r.stderr
        r = dk(docker, "network", "connect", n2, a)
        assert r.returncode != 0 and "already exists" in r.stderr
        assert dk(docker, "start", a).returncode == 0
        r = dk(docker, "exec", a, "sh", "-c", "ip -4 -o addr | awk '{print $2, $4}'; ip route | grep default")
        assert "eth0 10.241.1." in r.stdout and "eth1 10.241.2.50/24" in r.stdout, r.stdout
        assert "via 10.241.1.1 dev eth0" in r.stdout
        nets = json.loads(dk(docker, "inspect", "-f", "{{json .NetworkSettings.Networks}}", a).stdout)
        assert set(nets) == {n1, n2} and nets[n2]["IPAddress"] == "10.241.2.50"
        # Running: b joins n2 at once and finds a by its alias there.
        assert dk(docker, "run", "-d", "--name", b, "--network", n1, "busybox", "sleep", "1000").returncode == 0
        assert dk(docker, "network", "connect", n2, b).returncode == 0
        r = dk(docker, "exec", b, "sh", "-c", "ip -4 -o addr show eth1 | wc -l; ping -c1 -W2 api >/dev/null && echo ok")
        assert r.stdout.split() == ["1", "ok"], r.stdout + r.stderr
        assert dk(docker, "network", "disconnect", n2, b).returncode == 0
        r = dk(docker, "exec", b, "sh", "-c", "ip -o link show eth1 2>/dev/null | wc -l")
        assert r.stdout.strip() == "0"
        r = dk(docker, "network", "disconnect", n2, b)
        assert r.returncode != 0 and "is not connected" in r.stderr
        # Stopped: disconnected from its first network, it starts on the other alone.
        assert dk(docker, "stop", "-t", "0", a).returncode == 0
        assert dk(docker, "network", "disconnect", n1, a).returncode == 0
        assert dk(docker, "start", a).returncode == 0
        r = dk(docker, "exec", a, "sh", "-c", "ip -4 -o addr | awk '{print $2, $4}'")
        assert "eth0 10.241.2.50/24" in r.stdout and "10.241.1." not in r.stdout, r.stdout
        r = dk(docker, "network", "connect", "host", a)
        assert r.returncode != 0
    finally:
        dk(docker, "rm", "-f", a, b)
        dk(docker, "network", "rm", n1, n2)


COMPOSE = """\
version: "3.7"
services:
  job:
    image: busybox
    command: sh -c 'echo hello-from-volume > /www/index.html'
    volumes: [site:/www]
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    volumes: ["site:/www:ro"]
    stop_grace_period: 1s  # httpd as PID 1 ignores SIGTERM
  client:
    image: busybox
    command: >-
      sh -c 'for i in $$(seq 100); do
      out=$$(printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc web 80 2>/dev/null);
      case "$$out" in *hello-from-volume*) echo "got: $$(echo "$$out" | tail -1)"; exit 0;; esac;
      sleep 0.1; done; exit 1'
    depends_on: [web, job]
volumes:
  site: {}
"""


def test_compose_three_services_twice(docker, daemon, tmp_path):
    compose = shutil.which("docker-compose")
    if not compose:
        pytest.skip("docker-compose (Debian's 1.29) is not installed")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    project = names("proj").replace("-", "")
    env = dict(os.environ, DOCKER_HOST=f"unix://{daemon.sock}", COMPOSE_PROJECT_NAME=project)
    before_nets = sorted(dk(docker, "network", "ls", "-q").stdout.split())
    before_vols = sorted(volumes(docker))

    def compose_run(*args):
        return subprocess.run([compose, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)

    try:
        for _ in range(2):
            r = compose_run("up", "-d")
            assert r.returncode == 0, r.stdout + r.stderr
            assert dk(docker, "wait", f"{project}_client_1").stdout.strip() == "0"
            logs = compose_run("logs", "--no-color", "client").stdout
            assert "got: hello-from-volume" in logs, logs
            ps = dk(docker, "ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                    "--format", "{{.Names}} {{.State}}").stdout.split("\n")
            assert sorted(x for x in ps if x) == sorted(
                [f"{project}_client_1 exited", f"{project}_job_1 exited", f"{project}_web_1 running"])
            # A recreated service keeps its volume; a one-off run finds it by name.
            r = compose_run("up", "-d", "--force-recreate", "web")
            assert r.returncode == 0, r.stdout + r.stderr
            r = compose_run("run", "--rm", "-T", "client")
            assert r.returncode == 0 and "got: hello-from-volume" in r.stdout, r.stdout + r.stderr
            r = compose_run("down", "-v")
            assert r.returncode == 0, r.stdout + r.stderr
            assert dk(docker, "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout == ""
            assert sorted(dk(docker, "network", "ls", "-q").stdout.split()) == before_nets
            assert sorted(volumes(docker)) == before_vols
    finally:
        compose_run("down", "-v", "-t", "0")
