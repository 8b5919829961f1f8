"""berthd killed with SIGKILL at many moments of `run -d` (eight in parallel), `load` and `rm -f`, then
restarted on the same roots (finding 6 of issue 16: a container's process ran on while the daemon showed it
"Created", and a start then said "already exists").

Must hold after every restart: a container shown running has its process, one not shown running has no
process, shim or cgroup left, and can be started (and removed); an image is either listed and runnable or
not listed; a removal is either done or can be done again; no mount is left under the roots."""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from hosts import private_host
from conftest import need, run

ROUNDS = 16
PARALLEL = 8


@pytest.fixture(scope="module")
def host():
    need("docker")
    with private_host("restart") as d:
        r = run(["docker", "-H", f"unix://{d.sock}", "save", "-o", f"{d.work}/busybox.tar", "busybox"])
        assert r.returncode == 0, r.stderr
        yield d


def dk(d, *args, **kw):
    return run(["docker", "-H", f"unix://{d.sock}", *args], **kw)


def crash_and_restart(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(timeout=30)
    d.log.close()
    d.start()


def shim_of(d, cid):
    r = subprocess.run(["pgrep", "-f", f"berth-shim --id {cid} .*--runtime-root {d.run_root}/runtime"],
                       capture_output=True, text=True)
    return r.stdout.split()


def no_shim(d, cid, secs=5):
    """True once the container's shim is gone (a shim exits a moment after its last answer)."""
    deadline = time.time() + secs
    while shim_of(d, cid):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def cgroup_procs(cid):
    """The processes in the container's cgroups (every hierarchy that has one for it)."""
    procs = []
    for base in os.listdir("/sys/fs/cgroup"):
        for root, dirs, files in os.walk(os.path.join("/sys/fs/cgroup", base)):
            if os.path.basename(root) == cid and "cgroup.procs" in files:
                procs += open(os.path.join(root, "cgroup.procs")).read().split()
            if root.count("/") > 6:
                dirs[:] = []
    return procs


def check_consistent(d):
    for c in json.loads(d.request("GET", "/containers/json?all=1")[1]):
        cid = c["Id"]
        info = json.loads(d.request("GET", f"/containers/{cid}/json")[1])
        st = info["State"]
        if st["Running"]:
            assert st["Pid"] > 0 and os.path.exists(f"/proc/{st['Pid']}"), info["State"]
            assert shim_of(d, cid), f"{cid[:12]} shown running without a shim"
        else:
            assert no_shim(d, cid), f"{cid[:12]} is {st['Status']} but its shim runs"
            assert not cgroup_procs(cid), f"{cid[:12]} is {st['Status']} but its cgroup has processes"
            r = dk(d, "start", cid)
            assert r.returncode == 0, f"{cid[:12]} ({st['Status']}) does not start: {r.stderr}"
        r = dk(d, "rm", "-f", cid)
        assert r.returncode == 0, r.stderr
        assert no_shim(d, cid), f"{cid[:12]}: a shim runs after rm -f"


def test_kill_during_parallel_run(host):
    for i in range(ROUNDS):
        procs = [subprocess.Popen(["docker", "-H", f"unix://{host.sock}", "run", "-d", "busybox", "sleep", "600"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(PARALLEL)]
        time.sleep(0.05 + 0.3 * i / ROUNDS)  # the kill lands at a later moment of the starts each round
        crash_and_restart(host)
        for p in procs:
            p.wait(timeout=60)
        check_consistent(host)


def test_kill_during_load_and_rm(host):
    rng = random.Random(61)
    tar = f"{host.work}/busybox.tar"
    for i in range(ROUNDS // 2):
        # load: the image is there (and runs) or it is not; the list is never half of one.
        assert dk(host, "tag", "busybox", f"copy{i}").returncode == 0
        assert dk(host, "rmi", f"copy{i}").returncode == 0
        p = subprocess.Popen(["docker", "-H", f"unix://{host.sock}", "load", "-i", tar],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.3))
        crash_and_restart(host)
        p.wait(timeout=60)
        r = dk(host, "run", "--rm", "busybox", "true")
        assert r.returncode == 0, r.stderr
        # rm -f of running containers.
        ids = []
        for _ in range(3):
            r = dk(host, "run", "-d", "busybox", "sleep", "600")
            assert r.returncode == 0, r.stderr
            ids.append(r.stdout.strip())
        p = subprocess.Popen(["docker", "-H", f"unix://{host.sock}", "rm", "-f", *ids],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.2))
        crash_and_restart(host)
        p.wait(timeout=60)
        check_consistent(host)
    mounts = [line for line in open("/proc/self/mountinfo") if host.work in line]
    assert not mounts, mounts
