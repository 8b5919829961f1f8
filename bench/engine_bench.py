"""berth CLI → berthd, docker CLI → berthd and docker CLI → dockerd, in one run (bench/engine.sh)."""
import statistics
import subprocess
import sys
import time

from benchlib import Daemons, sh

rounds = int(sys.argv[1])
daemons = Daemons("berth-enginebench-")
runfs, procs, cli = daemons.runfs, daemons.procs, daemons.cli


def rss_kib(pid, field="Rss"):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_busy():
    """The machine's busy share over the last 50 ms (all CPUs, from /proc/stat)."""
    def sample():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(f), f[3] + f[4]  # total, idle + iowait
    t0, i0 = sample()
    time.sleep(0.05)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def settle(limit=3.0):
    """Waits until the previous command's after-work is done (dockerd, containerd and its shims go on working
    for a while after `docker run --rm` returns; berth's trash thread deletes a writable layer): each
    measurement starts on a quiet machine, whoever ran before it. At most `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end and cpu_busy() > 0.10:
        pass


def timed(argv):
    settle()
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


try:
    daemons.start()
    berth, bcli, docker = daemons.berth, daemons.bcli, daemons.docker
    time.sleep(2)
    idle = {"berthd": rss_kib(procs["berthd"].pid), "dockerd": rss_kib(procs["dockerd"].pid)}
    containerd = subprocess.run(["pgrep", "-f", f"containerd --config {runfs}/docker"], capture_output=True, text=True)
    clients = {"berth": bcli, "docker>berthd": berth, "docker": docker}
    res = {k: [] for k in clients}
    for n in range(rounds):
        order = list(clients)
        order = order[n % 3:] + order[:n % 3]
        for who in order:
            # Both without a network (issue 4's comparison); the default bridge has its own row (issue 5).
            args = ["run", "--rm", "--network", "none", "busybox", "true"]
            res[who].append(timed(clients[who] + args))
    # The default network: berth's bridge vs docker's (no NAT rules for either: dockerd runs without
    # iptables here, and berth's masquerade rule is one per network, not per container).
    bridged = {"berth": [], "docker": []}
    for n in range(rounds):
        for who in (("berth", "docker") if n % 2 == 0 else ("docker", "berth")):
            bridged[who].append(timed(clients[who] + ["run", "--rm", "busybox", "true"]))
    sleepers = {}
    shim = {}
    for who, base in clients.items():
        settle()
        t0 = time.perf_counter()
        for i in range(50):
            sh(base + ["run", "-d", "--network", "none", "--name", f"s{i}", "busybox", "sleep", "600"])
        sleepers[who] = time.perf_counter() - t0
        if who == "berth":  # the docker CLI's round reuses the names
            # (a shim started ahead shows its arguments once it has its container; the waiting ones do not)
            pids = sh(["pgrep", "-f", f"berth-shim --id .* --runtime-root {runfs}/berth/runtime"]).stdout.split()
            rss = [rss_kib(int(p)) for p in pids]
            pss = [rss_kib(int(p), "Pss") for p in pids]
            shim["berth-shim"] = (statistics.median(rss), statistics.median(pss), len(pids))
            execs = {k: [] for k in clients}
            for n in range(rounds):
                for w in ("berth", "docker>berthd"):
                    execs[w].append(timed(clients[w] + ["exec", "s0", "true"]))
            ids = sh(bcli + ["ps", "-aq"]).stdout.split()
            sh(bcli + ["rm", "-f"] + ids)
    dpids = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
    if dpids:
        shim["containerd-shim"] = (statistics.median([rss_kib(int(p)) for p in dpids]),
                                   statistics.median([rss_kib(int(p), "Pss") for p in dpids]), len(dpids))
    for n in range(rounds):
        execs["docker"].append(timed(docker + ["exec", "s0", "true"]))
    daemons.remove_containers()
    med = {k: statistics.median(v) for k, v in res.items()}
    d = med["docker"]
    print(f"engine benchmark: {rounds} rotating rounds, docker CLI {sh([cli, '--version']).stdout.strip()}, "
          + ("daemons' roots on /tmp's filesystem" if daemons.loop is None else "daemons' roots on a fresh ext4 (loop, direct I/O)")
          + ", exec roots on a tmpfs; each timing starts once the machine is quiet (<= 10% CPU busy)")
    print(f"run --rm busybox true (medians): berth CLI -> berthd {med['berth'] * 1000:.1f} ms, docker CLI -> berthd "
          f"{med['docker>berthd'] * 1000:.1f} ms, docker CLI -> dockerd {d * 1000:.1f} ms")
    print(f"  berth ÷ docker {med['berth'] / d:.3f}x ({d / med['berth']:.1f}x faster; target ≤ 0.04x); "
          f"docker CLI → berthd ÷ docker {med['docker>berthd'] / d:.2f}x (target ≤ 0.2x)")
    br = {k: statistics.median(v) for k, v in bridged.items()}
    print(f"run --rm busybox true on the default bridge (medians): berth {br['berth'] * 1000:.1f} ms, docker "
          f"{br['docker'] * 1000:.1f} ms -> berth ÷ docker {br['berth'] / br['docker']:.3f}x (target ≤ 0.04x); "
          f"berth's network setup {(br['berth'] - med['berth']) * 1000:.1f} ms (bridge - none; target ≤ 2 ms)")
    print(f"50 detached sleepers in sequence: berth CLI {sleepers['berth']:.2f} s, docker CLI -> berthd "
          f"{sleepers['docker>berthd']:.2f} s, docker {sleepers['docker']:.2f} s -> berth ÷ docker "
          f"{sleepers['berth'] / sleepers['docker']:.3f}x (target ≤ 0.05x)")
    ex = {k: statistics.median(v) for k, v in execs.items()}
    print(f"exec s0 true (medians): berth CLI {ex['berth'] * 1000:.1f} ms, docker CLI -> berthd "
          f"{ex['docker>berthd'] * 1000:.1f} ms, docker {ex['docker'] * 1000:.1f} ms")
    print(f"idle RSS: berthd {idle['berthd'] / 1024:.1f} MiB, dockerd {idle['dockerd'] / 1024:.1f} MiB")
    for k, (r, p, n) in shim.items():
        print(f"{k}: median RSS {r / 1024:.2f} MiB, PSS {p / 1024:.2f} MiB per container ({n} processes)")
finally:
    daemons.stop()
