"""berth-runtime as the OCI runtime of podman (conmon), containerd (runc v2 shim) and dockerd."""
import os
import subprocess
import time

import pytest

from conftest import need, run, stop_pid, unmount_under, wait_for_socket

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


# ---------------------------------------------------------------- podman
@pytest.fixture
def podman(runtime, workdir):
    need("podman")
    base = ["podman", "--root", f"{workdir}/storage", "--runroot", f"{workdir}/run", "--runtime", runtime,
            "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    yield base
    run(base + ["rm", "-af", "-t", "0"])


def test_podman_run_exec_stop_rm(podman, rootfs):
    r = run(podman + ["run", "--rm", *ULIMITS, "--rootfs", rootfs, "/bin/echo", "hello-podman"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello-podman"
    r = run(podman + ["run", "--rm", *ULIMITS, "--rootfs", rootfs, "/bin/sh", "-c", "exit 7"])
    assert r.returncode == 7
    r = run(podman + ["run", "-d", "--name", "it1", *ULIMITS, "--rootfs", rootfs, "/bin/sleep", "100"])
    assert r.returncode == 0, r.stderr
    ps = run(podman + ["ps", "--format", "{{.Names}} {{.Status}}"])
    assert "it1 Up" in ps.stdout
    ex = run(podman + ["exec", "it1", "/bin/sh", "-c", "echo exec-ok; hostname"])
    assert ex.returncode == 0, ex.stderr
    assert "exec-ok" in ex.stdout
    tty = run(podman + ["exec", "-t", "it1", "/bin/sh", "-c", "test -t 0 && echo tty-ok"])
    assert "tty-ok" in tty.stdout, tty.stderr
    stop = run(podman + ["stop", "-t", "1", "it1"])
    assert stop.returncode == 0, stop.stderr
    inspect = run(podman + ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "it1"])
    assert inspect.stdout.split()[0] in ("exited", "stopped"), inspect.stdout
    assert run(podman + ["rm", "it1"]).returncode == 0


# ---------------------------------------------------------------- containerd
@pytest.fixture
def ctr(runtime, workdir):
    need("containerd")
    need("ctr")
    sock = f"{workdir}/containerd.sock"
    with open(f"{workdir}/config.toml", "w") as f:
        f.write(f'version = 2\nroot = "{workdir}/root"\nstate = "{workdir}/state"\n'
                f'[grpc]\n  address = "{sock}"\n'
                '[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n')
    log = open(f"{workdir}/containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", f"{workdir}/config.toml"], stdout=log, stderr=log)
    try:
        wait_for_socket(sock, proc)
        yield ["ctr", "--address", sock, "--namespace", "berth-it"]
    finally:
        base = ["ctr", "--address", sock, "--namespace", "berth-it"]
        for t in run(base + ["task", "ls", "-q"]).stdout.split():
            run(base + ["task", "kill", "-s", "SIGKILL", t])
            time.sleep(0.2)
            run(base + ["task", "rm", "-f", t])
        for c in run(base + ["container", "ls", "-q"]).stdout.split():
            run(base + ["container", "rm", c])
        stop_pid(proc.pid)
        proc.wait(timeout=30)
        log.close()
        unmount_under(workdir)


def test_containerd_runc_shim(ctr, runtime, rootfs):
    r = run(ctr + ["run", "--rm", "--runc-binary", runtime, "--rootfs", rootfs, "c1", "/bin/echo", "hello-containerd"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello-containerd"
    r = run(ctr + ["run", "--rm", "--runc-binary", runtime, "--rootfs", rootfs, "c2", "/bin/sh", "-c", "exit 3"])
    assert r.returncode == 3
    r = run(ctr + ["run", "-d", "--runc-binary", runtime, "--rootfs", rootfs, "c3", "/bin/sleep", "100"])
    assert r.returncode == 0, r.stderr
    assert "RUNNING" in run(ctr + ["task", "ls"]).stdout
    ex = run(ctr + ["task", "exec", "--exec-id", "e1", "c3", "/bin/sh", "-c", "echo exec-in-containerd"])
    assert ex.stdout.strip() == "exec-in-containerd", ex.stderr
    assert run(ctr + ["task", "pause", "c3"]).returncode == 0
    assert "PAUSED" in run(ctr + ["task", "ls"]).stdout
    assert run(ctr + ["task", "resume", "c3"]).returncode == 0
    assert run(ctr + ["task", "kill", "-s", "SIGKILL", "c3"]).returncode == 0
    for _ in range(50):
        if "STOPPED" in run(ctr + ["task", "ls"]).stdout:
            break
        time.sleep(0.1)
    assert "STOPPED" in run(ctr + ["task", "ls"]).stdout
    assert run(ctr + ["task", "rm", "c3"]).returncode == 0
    assert run(ctr + ["container", "rm", "c3"]).returncode == 0


# ---------------------------------------------------------------- dockerd
def test_dockerd_add_runtime(dockerd_host):
    docker = dockerd_host
    rt = ["--runtime=berth", "--network", "none"]
    r = run(docker + ["run", "--rm", *rt, "berthbox", "/bin/echo", "hello-docker"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello-docker"
    assert run(docker + ["run", "--rm", *rt, "berthbox", "/bin/sh", "-c", "exit 5"]).returncode == 5
    r = run(docker + ["run", "--rm", *rt, "--memory", "64m", "--pids-limit", "20", "berthbox", "/bin/sh", "-c",
                      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"])
    assert r.returncode == 0, r.stderr
    if os.path.exists("/sys/fs/cgroup/memory/cgroup.procs"):
        assert r.stdout.split() == ["67108864", "20"]
    r = run(docker + ["run", "--rm", "-i", *rt, "berthbox", "/bin/cat"], input="through stdin\n")
    assert r.stdout == "through stdin\n"
    r = run(docker + ["run", "-d", "--name", "dk1", *rt, "berthbox", "/bin/sleep", "100"])
    assert r.returncode == 0, r.stderr
    ex = run(docker + ["exec", "dk1", "/bin/sh", "-c", "echo exec-docker"])
    assert ex.stdout.strip() == "exec-docker", ex.stderr
    assert run(docker + ["stop", "-t", "1", "dk1"]).returncode == 0
    state = run(docker + ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "dk1"]).stdout.split()
    assert state == ["exited", "137"]
    assert run(docker + ["rm", "dk1"]).returncode == 0
