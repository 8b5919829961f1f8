"""docker's defaults that bound or allow what a container does (finding 6 of issue 16):

- `--memory` without `--memory-swap` allows as much swap again (MemorySwap = 2 x Memory); berth left swap
  unlimited, so a memory limit did not bound what the container could take;
- the default seccomp profile allows ptrace (and process_vm_readv/writev) on kernels from 4.8, as docker's
  does (strace and gdb work in a default docker container); berth denied it."""
import json
import os

import pytest

from hosts import private_host
from conftest import BERTH, ROOT, run

PROBE = os.path.join(ROOT, "build", "tests", "probe", "probe")


@pytest.fixture(scope="module")
def host():
    with private_host("defaults") as d:
        yield d, [BERTH, "-H", f"unix://{d.sock}"]


def test_memory_limit_bounds_swap(host):
    d, cli = host
    r = run(cli + ["run", "-d", "--memory", "64m", "busybox", "sleep", "60"])
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        hc = json.loads(d.request("GET", f"/containers/{cid}/json")[1])["HostConfig"]
        assert hc["Memory"] == 64 << 20 and hc["MemorySwap"] == 128 << 20, (hc["Memory"], hc["MemorySwap"])
        v1 = f"/sys/fs/cgroup/memory/berth/{cid}/memory.memsw.limit_in_bytes"
        v2 = f"/sys/fs/cgroup/unified/berth/{cid}/memory.swap.max"
        if os.path.exists(v1):
            assert int(open(v1).read()) == 128 << 20
        elif os.path.exists(v2):
            assert int(open(v2).read()) == 64 << 20
        # An explicit -1 stays unlimited.
        r = run(cli + ["create", "--memory", "64m", "--memory-swap", "-1", "busybox"])
        assert r.returncode == 0, r.stderr
        hc = json.loads(d.request("GET", f"/containers/{r.stdout.strip()}/json")[1])["HostConfig"]
        assert hc["MemorySwap"] == -1
    finally:
        run(cli + ["rm", "-f", cid])


def test_default_profile_allows_ptrace(host):
    d, cli = host
    r = run(cli + ["create", "busybox", "/probe", "syscall", "ptrace"])
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert run(cli + ["cp", PROBE, f"{cid}:/probe"]).returncode == 0
    r = run(cli + ["start", "-a", cid])
    # ESRCH (3): the call got through seccomp to a pid that does not exist; EPERM (1) is the profile.
    assert r.stdout.strip() == "ptrace=3", r.stdout + r.stderr
    run(cli + ["rm", "-f", cid])
    r = run(cli + ["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "true"])
    assert r.returncode == 0, r.stderr
