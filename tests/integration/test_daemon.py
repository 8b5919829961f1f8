"""berthd driven by real clients: the docker CLI (DOCKER_HOST=unix://…), python3-docker, and raw HTTP for
malformed input. A private daemon per module: its own data root, exec root and socket; the busybox image made
from Debian's busybox-static, as the README's set-up does."""
import http.client
import json
import os
import signal
import sqlite3
import socket
import subprocess
import time

import pytest

from conftest import BERTH, BERTHD, ROOT, Daemon, dk, run, tmux_shell

def test_ping_version_info(daemon, docker):
    status, body = daemon.request("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    v = dk(docker, "version", "-f", "{{.Server.APIVersion}}")
    assert v.returncode == 0, v.stderr
    assert float(v.stdout.strip()) >= 1.44
    info = dk(docker, "info", "-f", "{{.Driver}} {{.OSType}}")
    assert info.returncode == 0 and info.stdout.split() == ["overlay", "linux"], info.stderr


def test_run_output_streams_and_exit_code(docker):
    r = dk(docker, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"
    assert dk(docker, "ps", "-aq").stdout.strip() == ""  # --rm removed it


def test_run_stdin(docker):
    r = dk(docker, "run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got $x", input="hello\n")
    assert (r.returncode, r.stdout) == (0, "got hello\n"), r.stderr
    data = "x" * 1000000
    r = dk(docker, "run", "-i", "--rm", "busybox", "wc", "-c", input=data)
    assert r.stdout.strip() == "1000000", r.stderr


def test_detached_lifecycle(docker):
    script = 'trap "echo bye; exit 7" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done'
    r = dk(docker, "run", "-d", "--name", "life", "--label", "k=v", "busybox", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    try:
        ps = dk(docker, "ps", "--format", "{{.ID}} {{.Names}} {{.Status}}")
        assert f"{cid[:12]} life Up" in ps.stdout
        assert dk(docker, "ps", "-q", "--filter", "label=k=v").stdout.split() == [cid[:12]]
        assert dk(docker, "ps", "-q", "--filter", "label=k=other").stdout.strip() == ""
        insp = json.loads(dk(docker, "inspect", "life").stdout)[0]
        assert insp["Id"] == cid and insp["Name"] == "/life" and insp["State"]["Running"]
        assert insp["State"]["Pid"] > 0 and insp["Config"]["Labels"]["k"] == "v"
        time.sleep(0.5)
        logs = dk(docker, "logs", "--tail", "2", "life").stdout.splitlines()
        assert len(logs) == 2 and all(l.startswith("tick ") for l in logs)
        follow = subprocess.Popen(docker + ["logs", "-f", "--tail", "0", "life"], stdout=subprocess.PIPE, text=True)
        first = follow.stdout.readline()
        assert first.startswith("tick ")
        assert dk(docker, "stop", "life").returncode == 0
        rest = follow.communicate(timeout=30)[0]
        assert rest.endswith("bye\n")  # logs -f ends when the container does
        insp = json.loads(dk(docker, "inspect", "life").stdout)[0]
        assert insp["State"]["Status"] == "exited" and insp["State"]["ExitCode"] == 7
        assert dk(docker, "wait", "life").stdout.strip() == "7"
        # start again: same container, new process
        assert dk(docker, "start", "life").returncode == 0
        assert json.loads(dk(docker, "inspect", "life").stdout)[0]["State"]["Running"]
        assert dk(docker, "kill", "life").returncode == 0
        assert dk(docker, "wait", "life").stdout.strip() == "137"
    finally:
        dk(docker, "rm", "-f", "life")
    assert dk(docker, "inspect", "life").returncode != 0


def test_rm_and_name_rules(docker):
    assert dk(docker, "run", "-d", "--name", "busy", "busybox", "sleep", "60").returncode == 0
    try:
        r = dk(docker, "rm", "busy")
        assert r.returncode == 1 and "cannot remove a running container" in r.stderr
        r = dk(docker, "run", "-d", "--name", "busy", "busybox", "true")
        assert r.returncode != 0 and "is already in use" in r.stderr
        r = dk(docker, "run", "--name", "bad name!", "busybox", "true")
        assert r.returncode != 0 and "Invalid container name" in r.stderr
        assert dk(docker, "rename", "busy", "busier").returncode == 0
        assert dk(docker, "inspect", "-f", "{{.Name}}", "busier").stdout.strip() == "/busier"
    finally:
        assert dk(docker, "rm", "-f", "busier").returncode == 0
    r = dk(docker, "logs", "nosuch")
    assert r.returncode == 1 and "No such container: nosuch" in r.stderr


def test_tty_through_tmux(docker, tmp_path):
    cmd = " ".join(docker + ["run", "-it", "--rm", "--name", "ttytest", "busybox", "sh"])
    try:
        screen, result = tmux_shell(cmd, 100, 30, "tty; stty size; echo $((6*7))", "exit 4", str(tmp_path / "out"))
        assert "/dev/pts/0" in screen and "30 100" in screen and "42" in screen.split(), screen
        assert result == "EXIT=4"
    finally:
        dk(docker, "rm", "-f", "ttytest")


def test_daemon_restart_keeps_containers(daemon, docker):
    """20 running containers survive kill -9 and SIGTERM of berthd; logs continue; exits are recorded."""
    names = [f"keep{i}" for i in range(20)]
    script = 'i=0; while [ ! -e /stop ]; do echo line $i; i=$((i+1)); sleep 0.1; done; exit $CODE'
    try:
        for i, n in enumerate(names):
            r = dk(docker, "run", "-d", "--name", n, "-e", f"CODE={i % 5}", "busybox", "sh", "-c", script)
            assert r.returncode == 0, r.stderr
        for sig in (signal.SIGKILL, signal.SIGTERM):
            before = {n: len(dk(docker, "logs", n).stdout.splitlines()) for n in names[:3]}
            daemon.stop(sig, keep_network=True)
            time.sleep(0.5)  # containers keep logging while no daemon runs
            daemon.start()
            running = dk(docker, "ps", "--format", "{{.Names}}").stdout.split()
            assert sorted(running) == sorted(names)
            time.sleep(0.3)
            for n in names[:3]:
                assert len(dk(docker, "logs", n).stdout.splitlines()) > before[n] + 3
        # End half of them while the daemon is down: their exit codes are read back at its start.
        ids = {n: json.loads(dk(docker, "inspect", n).stdout)[0]["Id"] for n in names}
        daemon.stop(signal.SIGKILL, keep_network=True)
        for n in names[:10]:
            open(f"{daemon.run_root}/containers/{ids[n]}/rootfs/stop", "w").close()
        time.sleep(1)
        daemon.start()
        running = dk(docker, "ps", "--format", "{{.Names}}").stdout.split()
        assert sorted(running) == sorted(names[10:])
        for i, n in enumerate(names[:10]):
            st = json.loads(dk(docker, "inspect", n).stdout)[0]["State"]
            assert (st["Status"], st["ExitCode"]) == ("exited", i % 5), st
        for n in names[10:]:
            open(f"{daemon.run_root}/containers/{ids[n]}/rootfs/stop", "w").close()
        for i, n in enumerate(names[10:], start=10):
            assert dk(docker, "wait", n).stdout.strip() == str(i % 5)
    finally:
        dk(docker, "rm", "-f", *names)


def test_layer_without_container_is_removed_at_start(daemon, docker):
    """A crash between a removal's two commits (record, then writable layer) leaves a layer without its
    container: the next daemon removes it. Removed containers' directories leave at once."""
    cid = dk(docker, "create", "--name", "half-gone", "busybox", "true").stdout.strip()
    assert cid
    snaps = f"{daemon.data}/overlay/snapshots"
    before = set(os.listdir(snaps))
    daemon.stop(signal.SIGKILL, keep_network=True)
    db = sqlite3.connect(f"{daemon.data}/metadata.db")
    db.execute("DELETE FROM containers WHERE id = ?", (cid,))  # the record's commit only
    db.commit()
    db.close()
    daemon.start()
    assert "half-gone" not in dk(docker, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert len(set(os.listdir(snaps))) == len(before) - 1, "the orphaned layer is gone"
    cid = dk(docker, "run", "--name", "gone", "busybox", "true").stdout.strip() or \
        json.loads(dk(docker, "inspect", "gone").stdout)[0]["Id"]
    assert dk(docker, "rm", "gone").returncode == 0
    assert not os.path.exists(f"{daemon.data}/containers/{cid}")


def test_stale_run_directories_are_swept_at_start(daemon, docker):
    """An exit's rootfs mount and run directory go after the waiters had their answer: a daemon killed in
    between leaves them, and the next one removes them (for containers that are gone or not running)."""
    cid = dk(docker, "create", "--name", "stale-run", "busybox", "true").stdout.strip()
    assert cid
    gone = "f" * 64
    try:
        daemon.stop(signal.SIGKILL, keep_network=True)
        for c in (cid, gone):
            rootfs = f"{daemon.run_root}/containers/{c}/rootfs"
            os.makedirs(rootfs)
            subprocess.run(["mount", "-t", "tmpfs", "stale", rootfs], check=True)
            open(f"{daemon.run_root}/containers/{c}/config.json", "w").close()
        daemon.start()
        for c in (cid, gone):
            assert not os.path.exists(f"{daemon.run_root}/containers/{c}"), c
        mounts = open("/proc/self/mountinfo").read()
        assert cid not in mounts and gone not in mounts
        r = dk(docker, "start", "-a", "stale-run")
        assert r.returncode == 0, r.stderr
    finally:
        for c in (cid, gone):
            subprocess.run(["umount", "-l", f"{daemon.run_root}/containers/{c}/rootfs"], capture_output=True)
        dk(docker, "rm", "-f", "stale-run")


def test_start_right_after_exit(docker):
    """The shim reports an exit before its clean-up; a start that follows at once waits for that clean-up
    instead of racing it (same cgroup, same runtime state directory)."""
    assert dk(docker, "create", "--name", "again", "busybox", "sh", "-c", "echo run").returncode == 0
    try:
        for i in range(15):
            r = dk(docker, "start", "-a", "again")
            assert (r.returncode, r.stdout) == (0, "run\n"), (i, r.stderr)
        r = dk(docker, "run", "-d", "--name", "flapper", "--restart", "on-failure:3", "busybox", "false")
        assert r.returncode == 0, r.stderr
        for _ in range(100):
            st = json.loads(dk(docker, "inspect", "flapper").stdout)[0]
            if st["State"]["Status"] == "exited" and st["RestartCount"] == 3:
                break
            time.sleep(0.1)
        assert (st["State"]["Status"], st["RestartCount"], st["State"]["ExitCode"]) == ("exited", 3, 1), st
    finally:
        dk(docker, "rm", "-f", "again", "flapper")


def raw_conn(daemon):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(daemon.sock)
    return s


def read_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, head
        head += b
    return head.decode()


def test_attach_answered_then_start_loses_no_output(daemon):
    """A client that starts the container as soon as its attach is answered (docker run, berth run) gets the
    container's first output: the daemon counts the attach before it answers, so the start waits for it."""
    for i in range(20):
        status, body = daemon.request("POST", "/containers/create", json.dumps(
            {"Image": "busybox", "Cmd": ["echo", "first"], "AttachStdout": True}).encode(),
            {"Content-Type": "application/json"})
        assert status == 201, body
        cid = json.loads(body)["Id"]
        try:
            s, starter = raw_conn(daemon), raw_conn(daemon)
            start = f"POST /containers/{cid}/start HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
            s.sendall(f"POST /containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                      "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
            head = read_head(s)
            starter.sendall(start)  # at once, on a connection made before
            assert head.startswith("HTTP/1.1 101"), head
            assert read_head(starter).startswith("HTTP/1.1 204")
            starter.close()
            out = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
            s.close()
            assert out == b"\x01\0\0\0\0\0\0\x06first\n", (i, out)
        finally:
            daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_connection_kept_after_a_stream(daemon):
    """A streamed answer ends with its last chunk and the connection serves the next request: Go's client
    reuses it for docker run's create after a pull, and does not retry a POST on a connection we closed."""
    s = raw_conn(daemon)
    f = s.makefile("rb")
    s.sendall(b"POST /images/create?fromImage=busybox&tag=latest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += f.read(1)
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower() and b"connection: close" not in head.lower()
    while True:  # chunks up to the last one
        size = int(f.readline().strip(), 16)
        f.read(size + 2)
        if size == 0:
            break
    body = json.dumps({"Image": "busybox", "HostConfig": {"NetworkMode": "nosuchnet"}}).encode()
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert f.readline().startswith(b"HTTP/1.1 404")
    s.close()


def test_pools_and_their_absence(tmp_path):
    """Shims and network namespaces made ahead of need: a daemon without them runs containers the same
    way, and the shims a daemon keeps waiting go away with it (no process left behind)."""
    def standby_of(tag, what="--standby"):  # the waiting shims inherit the daemon's environment
        out = []
        for p in run(["pgrep", "-f", f"berth-shim {what}"]).stdout.split():
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    if f"BERTH_TEST_TAG={tag}".encode() in f.read().split(b"\0"):
                        out.append(p)
            except OSError:
                pass
        return out

    for extra in (["--shim-pool", "0", "--netns-pool", "0"], ["--shim-pool", "2", "--netns-pool", "2"]):
        work = tmp_path / f"pools{extra[1]}"
        work.mkdir()
        tag = str(work)
        d = Daemon(str(work), extra, env=dict(os.environ, BERTH_TEST_TAG=tag))
        d.start()
        try:
            env = dict(os.environ, BERTH_HOST=f"unix://{d.sock}")
            r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH], env=env)
            assert r.returncode == 0, r.stderr
            for _ in range(3):
                r = run([BERTH, "-H", f"unix://{d.sock}", "run", "--rm", "busybox", "sh", "-c",
                         "cat /sys/class/net/lo/flags; echo ok"])
                assert r.returncode == 0 and r.stdout.split() == ["0x9", "ok"], (extra, r.stdout, r.stderr)
            for _ in range(50):
                if len(standby_of(tag)) == int(extra[1]):
                    break
                time.sleep(0.1)
            assert len(standby_of(tag)) == int(extra[1]), "shims wait for the next start"
            # Each with the child that will create its container (cmd/berth-shim/maker.h).
            assert len(standby_of(tag, "--maker")) == int(extra[1])
        finally:
            d.stop()
        for _ in range(50):
            if not standby_of(tag) and not standby_of(tag, "--maker"):
                break
            time.sleep(0.1)
        assert not standby_of(tag), "the waiting shims exit with their daemon"
        assert not standby_of(tag, "--maker"), "and their makers with them"


def test_relative_roots(tmp_path):
    """`--data-root data --exec-root run` are the caller's relative paths (dockerd makes them absolute):
    shims and the runtime, which work elsewhere, still find the container's files."""
    d = Daemon(str(tmp_path), relative=True)
    d.start()
    try:
        env = dict(os.environ, BERTH_HOST=f"unix://{d.sock}")
        r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH], env=env)
        assert r.returncode == 0, r.stderr
        r = run([BERTH, "-H", f"unix://{d.sock}", "run", "--rm", "busybox", "echo", "ok"])
        assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
        status, body = d.request("GET", "/info")
        assert json.loads(body)["DockerRootDir"] == str(tmp_path / "data")
    finally:
        d.stop()


def test_malformed_input_gets_docker_errors(daemon):
    status, body = daemon.request("POST", "/v1.45/containers/create", body=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and "message" in json.loads(body)
    status, body = daemon.request("POST", "/v1.45/containers/create", body=json.dumps({"Image": "nosuchimage"}),
                                  headers={"Content-Type": "application/json"})
    assert status == 404 and json.loads(body)["message"] == "No such image: nosuchimage"
    status, body = daemon.request("POST", "/v1.45/containers/create?name=../../etc",
                                  body=json.dumps({"Image": "busybox"}), headers={"Content-Type": "application/json"})
    assert status == 400 and "Invalid container name" in json.loads(body)["message"]
    status, body = daemon.request("POST", "/v1.45/containers/create", body=json.dumps([1, 2]),
                                  headers={"Content-Type": "application/json"})
    assert status == 400
    # A body over the limit is refused from its Content-Length, before it is read.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(daemon.sock)
        s.sendall(b"POST /v1.45/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000000\r\n\r\n{")
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413") and "too large" in answer
    status, body = daemon.request("GET", "/v1.45/containers/nosuch/json")
    assert status == 404 and json.loads(body)["message"] == "No such container: nosuch"
    status, body = daemon.request("GET", "/v1.45/no/such/endpoint")
    assert status == 404
    status, body = daemon.request("GET", "/v1.99/containers/json")
    assert status == 400 and "too new" in json.loads(body)["message"]
    assert daemon.ping()


def test_second_daemon_on_the_same_root_is_refused(daemon):
    r = run([BERTHD, "--data-root", daemon.data, "--exec-root", daemon.run_root, "-H",
             f"unix://{daemon.work}/other.sock"], timeout=30)
    assert r.returncode != 0 and "already running" in r.stderr
    assert daemon.ping()


def test_python_docker(daemon):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=f"unix://{daemon.sock}", version="auto")
    assert client.ping()
    out = client.containers.run("busybox", ["sh", "-c", "echo from-py"], remove=True)
    assert out == b"from-py\n"
    c = client.containers.run("busybox", ["sh", "-c", "echo a; sleep 0.2; echo b; exit 2"], detach=True, name="py1")
    try:
        assert c.wait(timeout=30)["StatusCode"] == 2
        assert c.logs() == b"a\nb\n"
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 2
        assert "py1" in [x.name for x in client.containers.list(all=True)]
        assert any("busybox:latest" in i.tags for i in client.images.list())
    finally:
        c.remove(force=True)
    with pytest.raises(docker_py.errors.NotFound):
        client.containers.get("py1")
    with pytest.raises(docker_py.errors.ImageNotFound):
        client.containers.run("nosuchimage:1", "true")


def test_top_and_stats(docker):
    r = dk(docker, "run", "-d", "--name", "obs", "--memory", "64m", "busybox", "sh", "-c",
           "sleep 100 & while true; do :; done")
    assert r.returncode == 0, r.stderr
    try:
        top = dk(docker, "top", "obs")
        assert top.returncode == 0, top.stderr
        assert "sleep 100" in top.stdout and top.stdout.startswith("UID")
        st = dk(docker, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}} {{.CPUPerc}}", "obs")
        assert st.returncode == 0, st.stderr
        name, usage, _, limit, pids, cpu = st.stdout.split()
        assert name == "obs" and limit == "64MiB" and pids == "2"
        assert float(cpu.rstrip("%")) > 10  # the busy loop shows
        r = dk(docker, "top", "nosuch")
        assert r.returncode != 0 and "No such container" in r.stderr
    finally:
        dk(docker, "rm", "-f", "obs")
    r = dk(docker, "run", "-d", "--name", "obs2", "busybox", "true")
    dk(docker, "wait", "obs2")
    r = dk(docker, "top", "obs2")
    assert r.returncode != 0 and "is not running" in r.stderr
    dk(docker, "rm", "-f", "obs2")


def test_restart_policies(daemon, docker):
    def state(name):
        return json.loads(dk(docker, "inspect", name).stdout)[0]

    def until(pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            time.sleep(0.1)
        return False

    names = ["rp-fail", "rp-always", "rp-unless"]
    try:
        assert dk(docker, "run", "-d", "--name", "rp-fail", "--restart", "on-failure:2", "busybox",
                  "sh", "-c", "exit 3").returncode == 0
        assert until(lambda: state("rp-fail")["RestartCount"] == 2 and state("rp-fail")["State"]["Status"] == "exited")
        time.sleep(1)  # no third restart
        st = state("rp-fail")
        assert (st["RestartCount"], st["State"]["ExitCode"]) == (2, 3)

        assert dk(docker, "run", "-d", "--name", "rp-always", "--restart", "always", "busybox",
                  "sh", "-c", "echo run; sleep 0.3; exit 0").returncode == 0
        assert until(lambda: state("rp-always")["RestartCount"] >= 2)
        assert dk(docker, "stop", "rp-always").returncode == 0
        count = state("rp-always")["RestartCount"]
        time.sleep(1)
        st = state("rp-always")
        assert st["State"]["Status"] == "exited" and st["RestartCount"] == count  # stop ends the policy
        assert dk(docker, "logs", "rp-always").stdout.count("run\n") >= 3

        assert dk(docker, "run", "-d", "--name", "rp-unless", "--restart", "unless-stopped", "busybox",
                  "sleep", "600").returncode == 0
        assert dk(docker, "stop", "-t", "0", "rp-unless").returncode == 0
        # After a daemon restart: `always` comes back even though it was stopped, `unless-stopped` does not.
        daemon.stop()
        daemon.start()
        assert until(lambda: state("rp-always")["State"]["Status"] == "running" or
                     state("rp-always")["RestartCount"] > count)
        assert state("rp-unless")["State"]["Status"] == "exited"
        status, body = daemon.request(
            "POST", "/v1.45/containers/create",
            body=json.dumps({"Image": "busybox", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}}),
            headers={"Content-Type": "application/json"})
        assert status == 400 and "AutoRemove" in json.loads(body)["message"]
    finally:
        dk(docker, "rm", "-f", *names)


def test_events(docker):
    since = str(time.time() - 0.5)
    follow = subprocess.Popen(docker + ["events", "--filter", "container=ev1", "--format", "{{.Action}}"],
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert dk(docker, "run", "--name", "ev1", "--label", "team=a", "busybox", "sh", "-c", "exit 2").returncode == 2
        assert dk(docker, "rm", "ev1").returncode == 0
        lines = [follow.stdout.readline().strip() for _ in range(4)]
        assert lines == ["create", "start", "die", "destroy"], lines
    finally:
        follow.kill()
        follow.wait()
    # since/until replay past events, with filters and docker's JSON shape
    until = str(time.time())
    r = dk(docker, "events", "--since", since, "--until", until, "--filter", "event=die",
           "--filter", "label=team=a", "--format", "{{json .}}")
    assert r.returncode == 0, r.stderr
    evs = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(evs) == 1
    ev = evs[0]
    assert ev["Type"] == "container" and ev["Action"] == "die" and ev["Actor"]["Attributes"]["exitCode"] == "2"
    assert ev["Actor"]["Attributes"]["name"] == "ev1" and ev["status"] == "die" and ev["timeNano"] > 0
    r = dk(docker, "events", "--since", since, "--until", until, "--filter", "nosuch=1")
    assert r.returncode != 0 and "invalid filter" in r.stderr


def test_system_df(docker):
    assert dk(docker, "run", "--name", "dfc", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big").returncode == 0
    try:
        r = dk(docker, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
        assert r.returncode == 0, r.stderr
        rows = {l.split()[0]: l.split()[1:] for l in r.stdout.splitlines()}
        assert rows["Images"][0] >= "1" and rows["Images"][1] == "1"
        assert rows["Containers"] == ["1", "0"]
        v = dk(docker, "system", "df", "-v", "--format", "{{json .}}")
        assert v.returncode == 0, v.stderr
        data = json.loads(v.stdout)
        c = [x for x in data["Containers"] if x["Names"] == "dfc"][0]
        assert c["Size"].startswith("1") and "kB" in c["Size"]  # ~100 kB written
    finally:
        dk(docker, "rm", "-f", "dfc")


def test_update_running_container(docker):
    name = "updated"
    cg = "/sys/fs/cgroup"
    try:
        assert dk(docker, "run", "-d", "--name", name, "--memory", "64m", "busybox", "sleep", "1000").returncode == 0
        r = dk(docker, "update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50",
               "--cpu-shares", "512", "--restart", "on-failure:3", name)
        assert r.returncode == 0, r.stderr
        hc = json.loads(dk(docker, "inspect", name).stdout)[0]["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["PidsLimit"], hc["CpuShares"]) == (128 << 20, 256 << 20, 50, 512)
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        if os.path.exists(f"{cg}/memory/cgroup.procs"):  # cgroup v1 host: the container sees its limits
            r = dk(docker, "exec", name, "cat", f"{cg}/memory/memory.limit_in_bytes", f"{cg}/pids/pids.max",
                   f"{cg}/cpu/cpu.shares")
            assert r.stdout.split() == [str(128 << 20), "50", "512"], r.stdout + r.stderr
        r = dk(docker, "update", "--memory", "1m", name)
        assert r.returncode != 0 and "Minimum memory limit" in r.stderr
        assert dk(docker, "update", "--cpus", "0.5", "--cpu-quota", "1000", name).returncode != 0
    finally:
        dk(docker, "rm", "-f", name)


def test_init_forwards_signals_and_reaps(docker):
    r = dk(docker, "run", "--rm", "--init", "busybox", "sh", "-c", "ps -o pid,comm | grep ' 1 '; exit 3")
    assert r.returncode == 3 and "docker-init" in r.stdout, r.stdout + r.stderr
    # An orphan ends: the init reaps it (no zombie left).
    r = dk(docker, "run", "--rm", "--init", "busybox", "sh", "-c",
           "(sleep 0.1 &); sleep 0.5; ps -o stat,comm | grep -c '^ *Z' || true")
    assert r.stdout.strip() == "0", r.stdout
    # sh as PID 1 ignores SIGTERM (stop would wait its 10 s); under the init it gets it and ends.
    try:
        assert dk(docker, "run", "-d", "--name", "withinit", "--init", "busybox", "sh", "-c", "sleep 1000").returncode == 0
        start = time.time()
        assert dk(docker, "stop", "withinit").returncode == 0
        assert time.time() - start < 5
        assert json.loads(dk(docker, "inspect", "withinit").stdout)[0]["State"]["ExitCode"] == 143
    finally:
        dk(docker, "rm", "-f", "withinit")


def wait_health(docker, name, status, timeout=15):
    deadline = time.time() + timeout
    health = None
    while time.time() < deadline:
        health = json.loads(dk(docker, "inspect", name).stdout)[0]["State"].get("Health")
        if health and health["Status"] == status:
            return health
        time.sleep(0.1)
    raise AssertionError(f"{name}: health {health}, wanted {status}")


def test_health_checks(docker):
    names = ["hc-flip", "hc-timeout", "hc-restart"]
    try:
        r = dk(docker, "run", "-d", "--name", "hc-flip", "--health-cmd", "test -e /tmp/ok && echo fine",
               "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        assert "(health: starting)" in dk(docker, "ps", "--filter", "name=hc-flip", "--format", "{{.Status}}").stdout
        wait_health(docker, "hc-flip", "unhealthy")
        assert "(unhealthy)" in dk(docker, "ps", "--filter", "name=hc-flip", "--format", "{{.Status}}").stdout
        assert dk(docker, "exec", "hc-flip", "touch", "/tmp/ok").returncode == 0
        h = wait_health(docker, "hc-flip", "healthy")
        assert h["FailingStreak"] == 0 and h["Log"][-1]["Output"] == "fine\n" and len(h["Log"]) <= 5
        time.sleep(1.1)  # --until has whole seconds: let this one end
        ev = dk(docker, "events", "--since", "60s", "--until", "0s", "--filter", "container=hc-flip",
                "--format", "{{.Action}}").stdout.splitlines()
        assert "health_status: unhealthy" in ev and "health_status: healthy" in ev, ev
        # A probe that outlives its timeout is killed and counts as a failure.
        r = dk(docker, "run", "-d", "--name", "hc-timeout", "--health-cmd", "sleep 5", "--health-timeout", "300ms",
               "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        h = wait_health(docker, "hc-timeout", "unhealthy")
        assert h["Log"][-1]["ExitCode"] == -1 and "exceeded timeout" in h["Log"][-1]["Output"]
        # restart-on-unhealthy (a label, so the docker CLI can ask for it): the container is restarted.
        r = dk(docker, "run", "-d", "--name", "hc-restart", "--label", "berth.restart-on-unhealthy=true",
               "--stop-timeout", "1", "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
               "--health-retries", "2", "busybox", "sleep", "1000")
        assert r.returncode == 0, r.stderr
        started = json.loads(dk(docker, "inspect", "hc-restart").stdout)[0]["State"]["StartedAt"]
        deadline = time.time() + 20
        while time.time() < deadline:
            state = json.loads(dk(docker, "inspect", "hc-restart").stdout)[0]["State"]
            if state["StartedAt"] != started and state["Running"]:
                break
            time.sleep(0.2)
        assert state["StartedAt"] != started and state["Running"], state
        # --no-healthcheck turns an image's check off.
        r = dk(docker, "run", "--rm", "--no-healthcheck", "busybox", "true")
        assert r.returncode == 0, r.stderr
    finally:
        for n in names:
            dk(docker, "rm", "-f", n)


def test_seccomp_profile_file(docker, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            # docker's includes/excludes: rules for capabilities the container lacks (or has) drop out.
            {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        ]}))
    r = dk(docker, "run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
           "mkdir /x; echo mk=$?; touch /f; chmod 600 /f; echo ch=$?; rmdir /tmp; echo rm=$?")
    assert r.stdout.split() == ["mk=1", "ch=0", "rm=1"], r.stdout + r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"syscalls": 5}')
    r = dk(docker, "run", "--rm", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode == 125 and "seccomp profile" in r.stderr
    r = dk(docker, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:",
           "/proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "0"], r.stdout + r.stderr


# daemon.json with a value of the wrong type or a bad size is refused at start with the key named (it used
# to end berthd with an uncaught exception), and nothing is started.
@pytest.mark.parametrize("config, message", [
    ('{"hosts": [1]}', '"hosts" must be an array of strings'),
    ('{"log-opts": {"max-size": 5}}', '"log-opts": "max-size" must be a string'),
    ('{"log-opts": {"max-size": "lots"}}', "log-opts: invalid size: 'lots'"),
    ('{"log-opts": {"max-file": "0"}}', "log-opts: max-file cannot be less than 1"),
    ('{"data-root": ["x"]}', '"data-root" must be a string'),
    ('{"log-opts": {"tag": "x"}}', '"log-opts": "tag" is not supported by berthd (max-size and max-file are)'),
    ('[1]', "not a JSON object"),
])
def test_bad_daemon_json_is_refused_with_the_key(tmp_path, config, message):
    path = tmp_path / "daemon.json"
    path.write_text(config)
    p = subprocess.run([BERTHD, "--config-file", str(path), "--data-root", str(tmp_path / "data"),
                        "--exec-root", str(tmp_path / "run")], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p
    assert p.stderr == f"berthd: the config file {path}: {message}\n"
    assert not (tmp_path / "data").exists()


# A daemon with no plugins that is not a swarm node answers as dockerd does then: clients' set-up lists
# plugins and their clean-up leaves a swarm; /networks/ takes the trailing slash; _ping is not cacheable.
def test_plugins_swarm_and_ping_as_a_plain_dockerd(daemon, docker):
    ls = dk(docker, "plugin", "ls", "-q")
    assert (ls.returncode, ls.stdout) == (0, ""), ls.stderr
    leave = dk(docker, "swarm", "leave")
    assert leave.returncode == 1
    assert "Error response from daemon: This node is not part of a swarm" in leave.stderr
    services = dk(docker, "service", "ls")
    assert services.returncode == 1 and "This node is not a swarm manager" in services.stderr, services.stderr
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=f"unix://{daemon.sock}", version="auto")
    assert client.plugins.list() == []
    with pytest.raises(docker_py.errors.APIError) as e:
        client.swarm.leave()
    assert e.value.status_code == 503 and "not part of a swarm" in str(e.value)
    status, body = daemon.request("GET", "/networks/")
    assert status == 200 and {n["Name"] for n in json.loads(body)} >= {"bridge", "host", "none"}
    conn = http.client.HTTPConnection("localhost", timeout=30)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.connect(daemon.sock)
    conn.request("GET", "/_ping")
    r = conn.getresponse()
    assert r.read() == b"OK"
    assert r.getheader("Cache-Control") == "no-cache, no-store, must-revalidate"
    assert r.getheader("Pragma") == "no-cache"
    conn.close()
