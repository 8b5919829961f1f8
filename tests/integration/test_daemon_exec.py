"""docker exec against berthd: the docker CLI (plain, -i, -it through tmux, -d, -u/-w/-e), python3-docker's
exec_run, and the exec endpoints' errors."""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import dk, tmux_shell


@pytest.fixture
def sleeper(docker):
    name = f"exec-{os.getpid()}-{time.monotonic_ns()}"
    r = dk(docker, "run", "-d", "--name", name, "busybox", "sleep", "1000")
    assert r.returncode == 0, r.stderr
    yield name
    dk(docker, "rm", "-f", name)


def test_exec_streams_exit_codes_and_options(docker, sleeper):
    r = dk(docker, "exec", sleeper, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    data = "x" * (1 << 20)
    r = dk(docker, "exec", "-i", sleeper, "wc", "-c", input=data)
    assert r.returncode == 0 and r.stdout.strip() == str(len(data)), r.stderr
    r = dk(docker, "exec", "-u", "nobody", "-w", "/tmp", "-e", "FOO=bar", sleeper, "sh", "-c",
           'id -u; pwd; echo "$FOO"')
    assert r.returncode == 0 and r.stdout.split() == ["65534", "/tmp", "bar"], r.stderr
    # The container's own environment is the base.
    r = dk(docker, "exec", sleeper, "sh", "-c", 'echo "$PATH"')
    assert r.stdout.strip().startswith("/usr/local/sbin"), r.stdout
    r = dk(docker, "exec", sleeper, "no-such-command")
    assert r.returncode == 127 and "no-such-command" in r.stdout + r.stderr
    r = dk(docker, "exec", "-u", "nosuchuser", sleeper, "true")
    assert r.returncode != 0 and "nosuchuser" in r.stdout + r.stderr


def test_exec_detached_and_inspect(daemon, docker, sleeper):
    r = dk(docker, "exec", "-d", sleeper, "sh", "-c", "sleep 0.5; touch /done; exit 4")
    assert r.returncode == 0, r.stderr
    ids = json.loads(dk(docker, "inspect", sleeper).stdout)[0]["ExecIDs"]
    assert ids and len(ids) == 1
    status, body = daemon.request("GET", f"/exec/{ids[0]}/json")
    info = json.loads(body)
    assert status == 200 and info["Running"] is True and info["Pid"] > 0
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    deadline = time.time() + 10
    while time.time() < deadline and json.loads(daemon.request("GET", f"/exec/{ids[0]}/json")[1])["Running"]:
        time.sleep(0.1)
    info = json.loads(daemon.request("GET", f"/exec/{ids[0]}/json")[1])
    assert info["Running"] is False and info["ExitCode"] == 4
    assert dk(docker, "exec", sleeper, "test", "-e", "/done").returncode == 0
    assert json.loads(dk(docker, "inspect", sleeper).stdout)[0]["ExecIDs"] is None


def test_exec_needs_a_running_container(docker, sleeper):
    assert dk(docker, "pause", sleeper).returncode == 0
    r = dk(docker, "exec", sleeper, "true")
    assert r.returncode != 0 and "is paused" in r.stderr
    assert dk(docker, "unpause", sleeper).returncode == 0
    # An exec running when the container is killed ends with it (SIGKILL: 137).
    start = time.time()
    proc = subprocess.Popen(docker + ["exec", sleeper, "sleep", "100"])
    time.sleep(0.5)
    assert dk(docker, "kill", sleeper).returncode == 0
    assert proc.wait(timeout=20) == 137 and time.time() - start < 20
    r = dk(docker, "exec", sleeper, "true")
    assert r.returncode != 0 and "is not running" in r.stderr


def test_exec_tty_through_tmux(docker, sleeper, tmp_path):
    cmd = " ".join(docker + ["exec", "-it", sleeper, "sh"])
    screen, result = tmux_shell(cmd, 90, 25, "tty; stty size; echo $((6*7))", "exit 6", str(tmp_path / "out"))
    assert "/dev/pts/" in screen and "25 90" in screen and "42" in screen.split(), screen
    assert result == "EXIT=6"


def test_exec_python_docker(daemon, sleeper):
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=f"unix://{daemon.sock}")
    c = client.containers.get(sleeper)
    code, output = c.exec_run(["sh", "-c", "echo one; echo two >&2; exit 3"], demux=True)
    assert code == 3 and output == (b"one\n", b"two\n")
    code, output = c.exec_run("hostname")
    assert code == 0 and output.decode().strip() == c.id[:12]
    code, output = c.exec_run(["id", "-u"], user="nobody", privileged=True)
    assert code == 0 and output.strip() == b"65534"


def test_exec_api_errors(daemon, sleeper):
    headers = {"Content-Type": "application/json"}
    for body, msg in (('{"Cmd": []}', "No exec command specified"), ('{"Cmd": [1]}', "Cmd"),
                      ('{"Cmd": ["x"], "Tty": "yes"}', "Tty"), ('{"Cmd": ["x"], "WorkingDir": "rel"}', "absolute"),
                      ("[1]", "cannot unmarshal array into Go value of type container.ExecOptions"),
                      ("{", "invalid JSON")):
        status, data = daemon.request("POST", f"/containers/{sleeper}/exec", body, headers)
        assert status == 400 and msg in json.loads(data)["message"], (body, data)
    status, data = daemon.request("POST", "/containers/nosuch/exec", '{"Cmd": ["true"]}', headers)
    assert status == 404
    assert daemon.request("GET", "/exec/nosuch/json")[0] == 404
    assert daemon.request("POST", "/exec/nosuch/start", "{}", headers)[0] == 404
    status, data = daemon.request("POST", f"/containers/{sleeper}/exec", '{"Cmd": ["true"]}', headers)
    exec_id = json.loads(data)["Id"]
    assert daemon.request("POST", f"/exec/{exec_id}/start", '{"Detach": true}', headers)[0] == 200
    status, data = daemon.request("POST", f"/exec/{exec_id}/start", '{"Detach": true}', headers)
    assert status == 409, data
    assert daemon.ping()


def test_privileged_gets_the_capabilities_the_daemon_holds(docker):
    # Not "every capability the kernel knows": a host (or an outer container) may hold fewer.
    mine = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapBnd:")][0]
    r = dk(docker, "run", "--rm", "--privileged", "busybox", "grep", "CapEff", "/proc/self/status")
    assert r.returncode == 0 and r.stdout.split()[1] == mine, r.stderr


def test_exec_start_console_size(daemon, sleeper):
    """The start body's ConsoleSize (the docker CLI sends it with -t) sizes the exec's terminal."""
    headers = {"Content-Type": "application/json"}
    status, data = daemon.request("POST", f"/containers/{sleeper}/exec",
                                  '{"Cmd": ["stty", "size"], "Tty": true, "AttachStdout": true}', headers)
    assert status == 201, data
    exec_id = json.loads(data)["Id"]
    body = '{"Detach": false, "Tty": true, "ConsoleSize": [31, 101]}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(daemon.sock)
    s.sendall((f"POST /v1.45/exec/{exec_id}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
               f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    out = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    s.close()
    assert b"31 101" in out, out
