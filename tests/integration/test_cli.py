"""The berth CLI as a client of berthd: docker's commands, flags, columns, --format templates and exit codes,
against the module's private berthd (berth -H unix://…); berth starting berthd itself when none answers;
shell completion."""
import json
import os
import subprocess
import tarfile
import time

import pytest

from conftest import BERTH, run, stop_autostarted, tmux_shell


@pytest.fixture(scope="module")
def b(daemon):
    return [BERTH, "-H", f"unix://{daemon.sock}"]


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_run_exit_codes_and_options(b):
    assert ok(run(b + ["run", "--rm", "busybox", "echo", "hi"])) == "hi\n"
    assert run(b + ["run", "--rm", "busybox", "sh", "-c", "exit 7"]).returncode == 7
    r = run(b + ["run", "--rm", "busybox", "no-such-command"])
    assert r.returncode == 127 and "not found" in r.stderr, r.stderr
    out = ok(run(b + ["run", "--rm", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "-h", "box", "--label", "k=v",
                      "busybox", "sh", "-c", "echo $A $(id -un) $(pwd) $(hostname)"]))
    assert out.split() == ["1", "nobody", "/tmp", "box"]
    assert ok(run(b + ["run", "--rm", "-i", "busybox", "cat"], input="piped\n")) == "piped\n"
    # --rm removed it; create + start -a runs one that stays.
    assert ok(run(b + ["ps", "-aq", "--filter", "label=k=v"])) == ""
    cid = ok(run(b + ["create", "--name", "cli-created", "busybox", "sh", "-c", "echo created; exit 3"])).strip()
    assert len(cid) == 64
    r = run(b + ["start", "-a", "cli-created"])
    assert (r.returncode, r.stdout) == (3, "created\n"), r.stderr
    assert ok(run(b + ["inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "cli-created"])) == "3 exited\n"
    ok(run(b + ["rm", "cli-created"]))


def test_client_side_errors_and_docker_exit_statuses(b):
    r = run(b + ["run", "--rm", "nope-image"])
    assert r.returncode == 125
    assert "Unable to find image 'nope-image:latest' locally" in r.stderr
    r = run(b + ["run", "--ulimit", "nofile=9:1", "busybox", "true"])
    assert r.returncode == 125 and "soft limit must be less than or equal to hard limit" in r.stderr
    r = run(b + ["run", "--rm", "--restart", "always", "busybox", "true"])
    assert r.returncode == 125 and "Conflicting options: --restart and --rm" in r.stderr
    r = run(b + ["run", "--no-such-flag", "busybox"])
    assert r.returncode == 125 and "unknown flag: --no-such-flag" in r.stderr, r.stderr
    r = run(b + ["create", "-x", "busybox"])
    assert r.returncode == 125 and "unknown flag: -x" in r.stderr, r.stderr
    # Long flags are registered only when named (a start-up cost): each must still parse, = or not.
    r = run(b + ["run", "--rm", "--name=cli-flags", "--hostname", "hh", "--stop-timeout=3", "--sig-proxy=false",
                 "--label-file", "/dev/null", "busybox", "sh", "-c", "hostname"])
    assert (r.returncode, r.stdout) == (0, "hh\n"), r.stderr
    r = run(b + ["run", "--help"])
    assert r.returncode == 0 and "--stop-timeout" in r.stdout and "--health-cmd" in r.stdout
    r = run(b + ["stop", "no-such-container"])
    assert r.returncode == 1
    assert r.stderr == "Error response from daemon: No such container: no-such-container\n"
    r = run(b + ["inspect", "no-such-thing"])
    assert r.returncode == 1 and "Error: No such object: no-such-thing" in r.stderr and r.stdout == "[]\n"
    r = run(b + ["ps", "--format", "{{.Nope"])
    assert r.returncode == 1 and "unclosed action" in r.stderr
    r = run([BERTH, "-H", "tcp://1.2.3.4:2375", "ps"])
    assert r.returncode == 1 and "unix sockets only" in r.stderr


def test_ps_columns_and_formats(b):
    ok(run(b + ["run", "-d", "--name", "cli-ps", "--label", "tier=web", "busybox", "sh", "-c",
                "while true; do sleep 1; done"]))
    try:
        lines = ok(run(b + ["ps", "--filter", "name=cli-ps"])).splitlines()
        assert lines[0].split("   ") == ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] \
            or lines[0].startswith("CONTAINER ID   IMAGE     COMMAND ")
        assert lines[1].endswith("cli-ps") and '"sh -c \'while true; …"' in lines[1] and " Up " in lines[1]
        out = ok(run(b + ["ps", "--filter", "name=cli-ps", "--format",
                          '{{.Names}}|{{.Image}}|{{.State}}|{{.Label "tier"}}|{{.Labels}}|{{len .ID}}']))
        assert out == "cli-ps|busybox|running|web|tier=web|12\n"
        out = ok(run(b + ["ps", "--filter", "name=cli-ps", "--no-trunc", "--format", "table {{.ID}}\\t{{.Names}}"]))
        head, row = out.splitlines()
        assert head.startswith("CONTAINER ID") and head.endswith("NAMES") and len(row.split()[0]) == 64
        j = json.loads(ok(run(b + ["ps", "--filter", "name=cli-ps", "--format", "json"])))
        assert j["Names"] == "cli-ps" and j["State"] == "running"
        assert ok(run(b + ["ps", "-q", "--filter", "label=tier=web"])).strip() == j["ID"]
        assert ok(run(b + ["container", "ls", "-q", "--filter", "name=cli-ps"])).strip() == j["ID"]
        assert ok(run(b + ["inspect", "--format", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}",
                           "cli-ps"])) == "tier=web\n"
        ins = json.loads(ok(run(b + ["container", "inspect", "cli-ps"])))
        assert ins[0]["Name"] == "/cli-ps" and ins[0]["State"]["Running"] is True
    finally:
        ok(run(b + ["rm", "-f", "cli-ps"]))
    assert ok(run(b + ["ps", "-a", "--filter", "name=cli-ps", "-q"])) == ""


def test_lifecycle_commands(b):
    ok(run(b + ["run", "-d", "--name", "cli-life", "--init", "busybox", "sleep", "1000"]))
    try:
        ok(run(b + ["pause", "cli-life"]))
        assert "(Paused)" in ok(run(b + ["ps", "--filter", "name=cli-life", "--format", "{{.Status}}"]))
        ok(run(b + ["unpause", "cli-life"]))
        assert ok(run(b + ["rename", "cli-life", "cli-life2"])) == ""
        ok(run(b + ["update", "--memory", "64m", "--pids-limit", "50", "cli-life2"]))
        assert ok(run(b + ["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "cli-life2"])) == \
            f"{64 << 20} 50\n"
        top = ok(run(b + ["top", "cli-life2"])).splitlines()
        assert top[0].split()[:3] == ["UID", "PID", "PPID"] and any("sleep 1000" in line for line in top[1:])
        stats = ok(run(b + ["stats", "--no-stream", "cli-life2"])).splitlines()
        assert stats[0].split("   ")[:2] == ["CONTAINER ID", "NAME"] and "cli-life2" in stats[1]
        out = ok(run(b + ["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "cli-life2"]))
        assert out.split()[0] == "cli-life2" and int(out.split()[1]) >= 2
        t0 = time.time()
        assert ok(run(b + ["restart", "-t", "1", "cli-life2"])) == "cli-life2\n"
        assert time.time() - t0 < 5
        assert ok(run(b + ["kill", "-s", "KILL", "cli-life2"])) == "cli-life2\n"
        assert ok(run(b + ["wait", "cli-life2"])) == "137\n"
        assert ok(run(b + ["start", "cli-life2"])) == "cli-life2\n"
        assert ok(run(b + ["stop", "-t", "1", "cli-life2"])) == "cli-life2\n"
    finally:
        run(b + ["rm", "-f", "cli-life2"])


def test_logs_follow_and_exec(b):
    ok(run(b + ["run", "-d", "--name", "cli-logs", "busybox", "sh", "-c",
                "echo one; echo two >&2; sleep 0.5; echo three; sleep 1000"]))
    try:
        f = subprocess.Popen(b + ["logs", "-f", "-t", "cli-logs"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1.5)
        f.terminate()
        out, err = f.communicate(timeout=10)
        assert [line.split(" ", 1)[1] for line in out.splitlines()] == ["one", "three"], out
        assert err.split(" ", 1)[1] == "two\n"
        r = run(b + ["logs", "--tail", "1", "cli-logs"])
        assert (r.stdout, r.stderr) == ("three\n", "")
        assert ok(run(b + ["exec", "-i", "cli-logs", "sh", "-c", "cat; echo done"], input="in\n")) == "in\ndone\n"
        assert run(b + ["exec", "cli-logs", "sh", "-c", "exit 4"]).returncode == 4
        assert ok(run(b + ["exec", "-u", "nobody", "-w", "/tmp", "-e", "X=y", "cli-logs", "sh", "-c",
                           "echo $(id -un) $(pwd) $X"])) == "nobody /tmp y\n"
        assert run(b + ["exec", "cli-logs", "no-such-cmd"]).returncode == 127
        assert ok(run(b + ["exec", "-d", "cli-logs", "touch", "/tmp/detached"])) == ""
        time.sleep(0.3)
        assert run(b + ["exec", "cli-logs", "test", "-f", "/tmp/detached"]).returncode == 0
    finally:
        ok(run(b + ["rm", "-f", "cli-logs"]))


def test_tty_run_and_exec_through_tmux(b, tmp_path):
    cmd = " ".join(b)
    screen, status = tmux_shell(f"{cmd} run -it --rm busybox sh", 90, 25, "stty size; echo $((40+2))",
                                "exit 6", f"{tmp_path}/run.out")
    assert "25 90" in screen and status == "EXIT=6", screen
    ok(run(b + ["run", "-d", "--name", "cli-tty", "busybox", "sleep", "1000"]))
    try:
        screen, status = tmux_shell(f"{cmd} exec -it cli-tty sh", 70, 20, "stty size; tty; echo $((40+2))",
                                    "exit 5", f"{tmp_path}/exec.out")
        assert "20 70" in screen and "/dev/pts/" in screen and status == "EXIT=5", screen
    finally:
        run(b + ["rm", "-f", "cli-tty"])


def test_cp_both_ways_diff_export(b, tmp_path):
    ok(run(b + ["run", "-d", "--name", "cli-cp", "busybox", "sh", "-c",
                "mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && ln -s / /data/root && "
                "ln -s /etc/passwd /data/pw && sleep 1000"]))
    try:
        time.sleep(0.3)
        out = tmp_path / "out"
        out.mkdir()
        # a directory into an existing directory, then under a new name, then its contents
        ok(run(b + ["cp", "cli-cp:/data", str(out)]))
        assert (out / "data" / "sub" / "b").read_text() == "b\n"
        assert os.readlink(out / "data" / "root") == "/" and os.readlink(out / "data" / "pw") == "/etc/passwd"
        ok(run(b + ["cp", "cli-cp:/data", str(out / "renamed")]))
        assert (out / "renamed" / "a").read_text() == "a\n"
        ok(run(b + ["cp", "cli-cp:/data/.", str(out / "contents")]))
        assert sorted(os.listdir(out / "contents")) == ["a", "pw", "root", "sub"]
        # -L copies what a link points to, under the link's name
        ok(run(b + ["cp", "-L", "cli-cp:/data/pw", str(out)]))
        assert not os.path.islink(out / "pw") and "nobody" in (out / "pw").read_text()
        ok(run(b + ["cp", "cli-cp:/data/a", str(out / "file-a")]))
        assert (out / "file-a").read_text() == "a\n"
        # paths resolve inside the container: its /data/root/etc/passwd is the container's
        ok(run(b + ["cp", "cli-cp:/data/root/etc/passwd", str(out / "passwd")]))
        assert "nobody" in (out / "passwd").read_text() and (out / "passwd").read_text() != open("/etc/passwd").read()
        r = run(b + ["cp", "cli-cp:/nope", str(out)])
        assert r.returncode == 1 and "Could not find the file /nope" in r.stderr
        r = run(b + ["cp", "cli-cp:/data", str(out / "file-a")])
        assert r.returncode == 1 and "cannot copy a directory to a file" in r.stderr
        # into the container
        src = tmp_path / "src"
        (src / "d").mkdir(parents=True)
        (src / "d" / "x").write_text("x\n")
        os.chmod(src / "d" / "x", 0o751)
        (src / "f").write_text("f\n")
        ok(run(b + ["cp", str(src / "f"), "cli-cp:/tmp/"]))
        ok(run(b + ["cp", str(src / "f"), "cli-cp:/tmp/g"]))
        ok(run(b + ["cp", str(src / "d"), "cli-cp:/tmp"]))
        ok(run(b + ["cp", str(src / "d") + "/.", "cli-cp:/tmp/e"]))
        out2 = ok(run(b + ["exec", "cli-cp", "sh", "-c",
                           "cat /tmp/f /tmp/g /tmp/d/x /tmp/e/x; stat -c '%a %u' /tmp/d/x"]))
        assert out2 == "f\nf\nx\nx\n751 0\n"
        r = run(b + ["cp", str(src / "f"), "cli-cp:/no/such/dir/"])
        assert r.returncode == 1
        # a tar on stdin, a tar on stdout
        with tarfile.open(tmp_path / "in.tar", "w") as t:
            t.add(src / "f", arcname="from-tar")
        with open(tmp_path / "in.tar", "rb") as fh:
            assert subprocess.run(b + ["cp", "-", "cli-cp:/tmp"], stdin=fh, capture_output=True).returncode == 0
        raw = subprocess.run(b + ["cp", "cli-cp:/tmp/from-tar", "-"], capture_output=True).stdout
        with open(tmp_path / "out.tar", "wb") as fh:
            fh.write(raw)
        with tarfile.open(tmp_path / "out.tar") as t:
            assert t.getnames() == ["from-tar"]
        diff = ok(run(b + ["diff", "cli-cp"])).splitlines()
        assert "A /data" in diff and "C /tmp" in diff and "A /tmp/from-tar" in diff
        ok(run(b + ["export", "-o", str(tmp_path / "exp.tar"), "cli-cp"]))
        with tarfile.open(tmp_path / "exp.tar") as t:
            assert "data/sub/b" in [n.lstrip("./") for n in t.getnames()]
        r = run(b + ["cp", "no-such:/x", str(out)])
        assert r.returncode == 1 and "No such container: no-such" in r.stderr
    finally:
        run(b + ["rm", "-f", "cli-cp"])
    # nothing was written outside the destinations
    assert not os.path.exists("/from-tar") and not os.path.exists("/tmp/g")


def test_events_health_and_restart_on_unhealthy(b):
    since = str(int(time.time()) - 1)
    ok(run(b + ["run", "-d", "--name", "cli-health", "--health-cmd", "test -f /tmp/ok", "--health-interval", "100ms",
                "--health-retries", "1", "--restart-on-unhealthy", "--stop-timeout", "1", "busybox", "sh", "-c",
                "touch /tmp/ok; sleep 1000"]))
    try:
        assert ok(run(b + ["inspect", "-f", "{{.HostConfig.RestartOnUnhealthy}} {{.Config.Healthcheck.Retries}}",
                           "cli-health"])) == "true 1\n"
        deadline = time.time() + 10
        while time.time() < deadline and "(healthy)" not in run(b + ["ps", "--format", "{{.Status}}",
                                                                     "--filter", "name=cli-health"]).stdout:
            time.sleep(0.1)
        assert "(healthy)" in ok(run(b + ["ps", "--format", "{{.Status}}", "--filter", "name=cli-health"]))
        # unhealthy → restarted (the restart recreates /tmp/ok)
        started = ok(run(b + ["inspect", "-f", "{{.State.StartedAt}}", "cli-health"]))
        ok(run(b + ["exec", "cli-health", "rm", "/tmp/ok"]))
        deadline = time.time() + 10
        while time.time() < deadline and \
                ok(run(b + ["inspect", "-f", "{{.State.StartedAt}}", "cli-health"])) == started:
            time.sleep(0.1)
        assert ok(run(b + ["inspect", "-f", "{{.State.StartedAt}}", "cli-health"])) != started
        time.sleep(1.1)
        ev = ok(run(b + ["events", "--since", since, "--until", str(int(time.time())),
                         "--filter", "container=cli-health", "--format", "{{.Action}}"])).split("\n")
        assert "start" in ev and "health_status: healthy" in ev and "health_status: unhealthy" in ev, ev
        line = ok(run(b + ["events", "--since", since, "--until", str(int(time.time())),
                           "--filter", "event=create", "--filter", "container=cli-health"])).strip()
        assert " container create " in line and "name=cli-health" in line
    finally:
        run(b + ["rm", "-f", "cli-health"])


def test_image_commands(b, tmp_path):
    lines = ok(run(b + ["images"])).splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("busybox ") for line in lines[1:])
    img_id = ok(run(b + ["image", "inspect", "-f", "{{.Id}}", "busybox"])).strip()
    assert ok(run(b + ["images", "-q", "busybox"])).strip() == img_id[7:19]
    ok(run(b + ["tag", "busybox", "cli/box:2"]))
    assert ok(run(b + ["images", "--format", "{{.Repository}}:{{.Tag}}", "cli/box"])) == "cli/box:2\n"
    assert ok(run(b + ["images", "--format", "{{.Repository}}", "--filter", "reference=cli/b?x"])) == "cli/box\n"
    # a pattern of many stars is answered at once (matched without backtracking)
    t0 = time.time()
    assert ok(run(b + ["images", "-q", "--filter", "reference=" + "*a" * 60 + "*z"])) == ""
    assert time.time() - t0 < 5
    assert ok(run(b + ["inspect", "-f", "{{.Id}}", "cli/box:2"])).strip() == img_id  # docker inspect finds images
    hist = ok(run(b + ["history", "busybox"])).splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"] and hist[1].startswith(img_id[7:19])
    ok(run(b + ["save", "-o", str(tmp_path / "box.tar"), "cli/box:2"]))
    assert ok(run(b + ["rmi", "cli/box:2"])) == "Untagged: cli/box:2\n"
    assert "Loaded image: cli/box:2" in ok(run(b + ["load", "-i", str(tmp_path / "box.tar")]))
    with tarfile.open(tmp_path / "root.tar", "w") as t:
        p = tmp_path / "hello"
        p.write_text("hi\n")
        t.add(p, arcname="hello")
    new_id = ok(run(b + ["import", "-c", 'CMD ["/hello"]', "-m", "msg", str(tmp_path / "root.tar"), "cli/imp:1"])).strip()
    assert new_id.startswith("sha256:")
    assert ok(run(b + ["image", "inspect", "-f", "{{json .Config.Cmd}} {{.Comment}}", "cli/imp:1"])) == \
        '["/hello"] msg\n'
    out = ok(run(b + ["rmi", "cli/imp:1", "cli/box:2"]))
    assert "Untagged: cli/imp:1" in out and "Deleted: " + new_id in out
    r = run(b + ["rmi", "no-such-image"])
    assert r.returncode == 1 and "No such image" in r.stderr
    mp = ok(run(b + ["image", "mount", "busybox"])).strip()
    try:
        assert os.path.exists(f"{mp}/bin/busybox")
    finally:
        ok(run(b + ["image", "unmount", "busybox"]))
    ok(run(b + ["image", "prune", "-f"]))


def test_system_commands(b, daemon):
    assert ok(run(b + ["version", "-f", "{{.Server.Version}} {{.Client.Version}}"])).split()[0] != ""
    assert "Server: berth" in ok(run(b + ["version"]))
    assert ok(run(b + ["info", "-f", "{{.DockerRootDir}}"])).strip() == daemon.data
    assert " Storage Driver: " in ok(run(b + ["info"]))
    df = ok(run(b + ["system", "df"])).splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] and df[1].startswith("Images ")
    ok(run(b + ["create", "--name", "cli-prune", "busybox", "true"]))
    out = ok(run(b + ["system", "prune", "-f"]))
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    assert ok(run(b + ["ps", "-aq", "--filter", "name=cli-prune"])) == ""
    ok(run(b + ["create", "--name", "cli-prune2", "busybox", "true"]))
    assert "Deleted Containers:" in ok(run(b + ["container", "prune", "-f"]))
    # --volumes: the anonymous volumes of the pruned containers go too; named ones stay.
    named = f"cli-keep-{os.getpid()}"
    ok(run(b + ["create", "--name", "cli-prune3", "-v", "/anon", "-v", f"{named}:/n", "busybox", "true"]))
    anon = [m["Name"] for m in json.loads(ok(run(b + ["inspect", "-f", "{{json .Mounts}}", "cli-prune3"])))
            if m["Destination"] == "/anon"][0]
    out = ok(run(b + ["system", "prune", "-f", "--volumes"]))
    assert "Deleted Volumes:" in out and anon in out and named not in out
    assert named in ok(run(b + ["volume", "ls", "-q"])).split()
    ok(run(b + ["volume", "rm", named]))
    df = ok(run(b + ["system", "df", "-v"]))
    assert "Local Volumes space usage:" in df and "VOLUME NAME" in df


def test_network_commands(b):
    name = f"cli-net-{os.getpid()}"
    net_id = ok(run(b + ["network", "create", "--subnet", "10.241.3.0/24", "--label", "team=x", name])).strip()
    try:
        assert len(net_id) == 64
        ls = ok(run(b + ["network", "ls"])).splitlines()
        assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert any(line.split()[1:] == [name, "bridge", "local"] for line in ls[1:])
        assert ok(run(b + ["network", "ls", "-q", "--filter", "label=team=x"])).split() == [net_id[:12]]
        assert ok(run(b + ["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", name])) == "10.241.3.1\n"
        out = ok(run(b + ["run", "--rm", "--network", name, "busybox", "sh", "-c", "ip -4 -o addr show eth0"]))
        assert "inet 10.241.3.2/24" in out
        cid = ok(run(b + ["run", "-d", "--network", name, "-p", "127.0.0.1:19180-19181:80-81", "-p", "19190-19199:82",
                          "busybox", "sleep", "100"])).strip()
        try:
            assert ok(run(b + ["port", cid])).splitlines() == [
                "80/tcp -> 127.0.0.1:19180", "81/tcp -> 127.0.0.1:19181", "82/tcp -> 0.0.0.0:19190"]
            assert ok(run(b + ["port", cid, "81"])) == "127.0.0.1:19181\n"
            assert "127.0.0.1:19180->80/tcp" in ok(run(b + ["ps", "--format", "{{.Ports}}", "-f", f"id={cid}"]))
        finally:
            run(b + ["rm", "-f", cid])
        r = run(b + ["run", "--rm", "-p", "80:90-91", "busybox", "true"])
        assert r.returncode == 125 and "invalid ranges" in r.stderr
        r = run(b + ["network", "rm", "bridge"])
        assert r.returncode == 1 and "pre-defined network" in r.stderr
    finally:
        assert ok(run(b + ["network", "rm", name])) == name + "\n"
    assert ok(run(b + ["network", "rm", "-f", name])) == ""
    ok(run(b + ["network", "create", name + "-unused"]))
    assert name + "-unused" in ok(run(b + ["network", "prune", "-f"]))


def test_volume_commands_and_mounts(b, tmp_path):
    name, net = f"cli-vol-{os.getpid()}", f"cli-net2-{os.getpid()}"
    assert ok(run(b + ["volume", "create", "--label", "team=y", name])) == name + "\n"
    try:
        ls = ok(run(b + ["volume", "ls"])).splitlines()
        assert ls[0].split() == ["DRIVER", "VOLUME", "NAME"] and ["local", name] in [x.split() for x in ls[1:]]
        assert ok(run(b + ["volume", "ls", "-q", "--filter", "label=team=y"])).split() == [name]
        assert ok(run(b + ["volume", "inspect", "-f", "{{.Labels.team}} {{.Driver}}", name])) == "y local\n"
        assert ok(run(b + ["inspect", "--type", "volume", "-f", "{{.Name}}", name])) == name + "\n"
        (tmp_path / "h").write_text("host\n")
        out = ok(run(b + ["run", "--rm", "-v", f"{name}:/v", "-v", f"{tmp_path}:/h:ro",
                          "--mount", "type=tmpfs,target=/t,tmpfs-size=64k", "busybox", "sh", "-c",
                          "echo vol > /v/f; cat /h/h; grep -c ' /t ' /proc/mounts"]))
        assert out == "host\n1\n"
        r = run(b + ["run", "--rm", "--mount", "type=volume,target=/x,bogus=1", "busybox", "true"])
        assert r.returncode == 125 and "unexpected key 'bogus'" in r.stderr, r.stderr
        cid = ok(run(b + ["create", "-v", f"{name}:/v", "busybox", "cat", "/v/f"])).strip()
        try:
            r = run(b + ["volume", "rm", name])
            assert r.returncode == 1 and "volume is in use" in r.stderr
            assert ok(run(b + ["start", "-a", cid])) == "vol\n"
            # network connect/disconnect
            ok(run(b + ["network", "create", net]))
            ok(run(b + ["network", "connect", "--alias", "x1", net, cid]))
            nets = json.loads(ok(run(b + ["inspect", "-f", "{{json .NetworkSettings.Networks}}", cid])))
            assert set(nets) == {"bridge", net} and nets[net]["Aliases"] == ["x1"]
            ok(run(b + ["network", "disconnect", net, cid]))
            r = run(b + ["network", "disconnect", net, cid])
            assert r.returncode == 1 and "is not connected" in r.stderr
        finally:
            run(b + ["rm", "-f", cid])
            run(b + ["network", "rm", net])
    finally:
        assert ok(run(b + ["volume", "rm", name])) == name + "\n"
    r = run(b + ["volume", "rm", name])
    assert r.returncode == 1 and "no such volume" in r.stderr
    assert ok(run(b + ["volume", "rm", "-f", name])) == name + "\n"
    anon = ok(run(b + ["volume", "create"])).strip()
    assert anon in ok(run(b + ["volume", "prune", "-af"]))


def test_completion_scripts(b, tmp_path):
    script = tmp_path / "berth.bash"
    script.write_text(ok(run([BERTH, "completion", "bash"])))
    ok(run(b + ["run", "-d", "--name", "cli-complete", "busybox", "sleep", "1000"]))
    try:
        def complete(*words):
            line = " ".join(f"'{w}'" for w in words)
            r = run(["bash", "-c", f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _berth; "
                     "printf '%s\\n' \"${COMPREPLY[@]}\""])
            return r.stdout.split()
        assert "ps" in complete(BERTH, "p") and "pause" in complete(BERTH, "p")
        assert sorted(complete(BERTH, "container", "l")) == ["logs", "ls"]
        assert "--no-trunc" in complete(BERTH, "ps", "--no")
        assert "--restart-on-unhealthy" in complete(BERTH, "run", "--restart")
        assert complete(BERTH, "-H", b[2], "stop", "cli-comp") == ["cli-complete"]
        assert "busybox:latest" in complete(BERTH, "-H", b[2], "run", "busy")
        # completing never starts a daemon
        assert complete(BERTH, "--data-root", str(tmp_path / "none"), "stop", "") == []
        assert not os.path.exists(tmp_path / "none")
    finally:
        run(b + ["rm", "-f", "cli-complete"])
    assert "complete -c berth" in ok(run([BERTH, "completion", "fish"]))
    assert "bashcompinit" in ok(run([BERTH, "completion", "zsh"]))


def test_berth_starts_berthd_once(tmp_path):
    root = str(tmp_path / "auto")
    try:
        r = run([BERTH, "--data-root", root, "ps"])
        assert r.returncode == 0, r.stderr
        assert "started berthd" in r.stderr and f"unix://{root}/run/berth.sock" in r.stderr
        assert r.stdout.startswith("CONTAINER ID")
        r = run([BERTH, "--data-root", root, "images", "-q"])
        assert (r.returncode, r.stderr) == (0, "")
        assert os.path.exists(f"{root}/run/berthd.pid") and os.path.exists(f"{root}/berthd.log")
        # -H alone names someone else's daemon: nothing is started for it.
        r = run([BERTH, "-H", f"unix://{tmp_path}/nobody.sock", "ps"])
        assert r.returncode == 1 and "Is berthd running?" in r.stderr, r.stderr
        assert not os.path.exists(f"{tmp_path}/nobody.sock")
        # A second daemon on the same data root is refused, and berth says why.
        r = run([BERTH, "--data-root", root, "-H", f"unix://{tmp_path}/other.sock", "ps"])
        assert r.returncode == 1 and "exited" in r.stderr, r.stderr
    finally:
        stop_autostarted(root)
