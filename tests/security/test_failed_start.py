"""A start that fails after the container's cgroups exist (finding 6 of issue 16): a working directory that
is a file fails in the container's init, after the init was born in its cgroup; berthd left the cgroups
behind in every hierarchy (the shim's maker, which the cgroup was staged for, was still in it).

Must hold: a failed start removes everything it made (cgroups, rootfs mount, run directory), and the
container can be removed."""
import json
import os
import time

import pytest

from hosts import private_host
from conftest import BERTH, cgroup_dirs, run


@pytest.fixture(scope="module")
def host():
    with private_host("failed") as d:
        yield d


def test_failed_starts_leave_nothing(host):
    cli = [BERTH, "-H", f"unix://{host.sock}"]
    assert run(cli + ["run", "--rm", "busybox", "true"]).returncode == 0  # the pool's shims are up
    for args, why in [(["-w", "/etc/passwd"], "Not a directory"),
                      (["--user", "nosuchuser"], "nosuchuser"),
                      (["--memory", "64m", "-w", "/bin/sh"], "Not a directory")]:
        r = run(cli + ["create", *args, "busybox", "true"])
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        r = run(cli + ["start", cid])
        assert r.returncode != 0 and why in r.stderr, r.stderr
        time.sleep(0.3)
        left = [d for d in cgroup_dirs() if cid in d]
        assert not left, f"a failed start ({' '.join(args)}) left cgroups: {left[:4]}"
        mounts = [line for line in open("/proc/self/mountinfo") if cid in line]
        assert not mounts, mounts
        assert not os.path.exists(f"{host.run_root}/containers/{cid}/rootfs/bin"), "rootfs still mounted"
        info = json.loads(host.request("GET", f"/containers/{cid}/json")[1])
        assert info["State"]["Status"] == "created", info["State"]
        assert run(cli + ["rm", cid]).returncode == 0
