"""Attack: escape through a starting exec. A container with CAP_SYS_PTRACE watches /proc for a process
whose root is still the host's (a runtime child that is visible in the container's pid namespace before it
joined the mount namespace) and writes a file on the host through /proc/<pid>/root.

Must hold: an exec's child joins the container's mount namespace (and is non-dumpable) before anything in
the container can see it, so no process the container can see ever has the host's root."""
import os
import shutil
import tempfile
import time

import pytest

from conftest import dk, need  # noqa: F401  (the integration fixtures, see conftest.py)

PROBE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "build", "tests", "probe", "probe")


def test_exec_child_never_has_the_host_root(docker, daemon):
    docker_py = pytest.importorskip("docker")
    marker_dir = tempfile.mkdtemp(prefix="berth-sec-exec-", dir="/tmp")
    marker = os.path.join(marker_dir, "marker")
    open(marker, "w").close()
    name = f"sec-exec-{os.getpid()}"
    try:
        assert dk(docker, "create", "--name", name, "--cap-add", "SYS_PTRACE", "busybox",
                  "sleep", "600").returncode == 0
        assert dk(docker, "cp", PROBE, f"{name}:/probe").returncode == 0
        assert dk(docker, "start", name).returncode == 0
        seconds = 20
        r = dk(docker, "exec", "-d", name, "sh", "-c", f"/probe scan-root {marker} {seconds} > /scan.txt")
        assert r.returncode == 0, r.stderr
        client = docker_py.DockerClient(base_url=f"unix://{daemon.sock}", version="1.41")
        ctr = client.containers.get(name)
        deadline = time.time() + seconds - 2
        execs = 0
        while time.time() < deadline and not os.path.exists(marker + ".escaped"):
            assert ctr.exec_run(["true"]).exit_code == 0
            execs += 1
        client.close()
        assert not os.path.exists(marker + ".escaped"), \
            f"a process seen from the container had the host's root (after {execs} execs)"
        assert execs > 50
        time.sleep(3)
        out = dk(docker, "exec", name, "cat", "/scan.txt").stdout
        assert out.strip() == "found=0", out
    finally:
        dk(docker, "rm", "-f", name)
        shutil.rmtree(marker_dir, ignore_errors=True)
