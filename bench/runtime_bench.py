"""Times OCI runtimes on one bundle, alternating runtime by runtime in each round (see bench/runtime.sh)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

work, rounds = sys.argv[1], int(sys.argv[2])
bundle = os.path.join(work, "bundle")
cfg_path = os.path.join(bundle, "config.json")
cfg = json.load(open(cfg_path))
runtimes = {"berth": os.path.abspath("build/cmd/berth-runtime/berth-runtime")}
for name in ("crun", "runc"):
    if shutil.which(name):
        runtimes[name] = shutil.which(name)
devnull = os.open(os.devnull, os.O_RDWR)


def timed(argv):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {os.waitstatus_to_exitcode(status)}")
    return (t1 - t0) / 1e6


def set_cgroup(cid):
    # crun on a hybrid host needs an explicit cgroupsPath; every runtime gets the same kind of path.
    cfg["linux"]["cgroupsPath"] = f"/berth-bench/{cid}"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)


# On cgroup v1 the first cgroup.procs write after an idle spell waits for an RCU grace period
# (cgroup_threadgroup_rwsem); whichever runtime follows a slow one would pay it more often. So every
# operation is timed in two kernel states, the same for every runtime:
#   warm: a helper process is moved between two cgroups just before, so the rwsem is in its fast mode;
#   cold: 60 ms of idle just before, so every runtime pays the grace period.
helper = subprocess.Popen(["sleep", "100000"])
warm_dirs = []
for base in ("pids", "unified"):
    d = f"/sys/fs/cgroup/{base}/berth-bench-warm"
    if os.path.isfile(f"/sys/fs/cgroup/{base}/cgroup.procs"):
        os.makedirs(d, exist_ok=True)
        warm_dirs.append((f"/sys/fs/cgroup/{base}/cgroup.procs", f"{d}/cgroup.procs", d))


def prepare(mode):
    if mode == "cold":
        time.sleep(0.06)
        return
    for root_procs, warm_procs, _ in warm_dirs:
        with open(warm_procs, "w") as f:
            f.write(str(helper.pid))
        with open(root_procs, "w") as f:
            f.write(str(helper.pid))


modes = ("warm", "cold")
results = {m: {name: {"run": [], "cycle": []} for name in runtimes} for m in modes}
try:
    names = list(runtimes)
    for n in range(rounds):
        order = names[n % len(names):] + names[:n % len(names)]
        for mode in modes:
            for name in order:
                binary = runtimes[name]
                root = ["--root", os.path.join(work, "state-" + name)]
                cid = f"r{mode}{name}{n}"
                set_cgroup(cid)
                prepare(mode)
                results[mode][name]["run"].append(timed([binary, *root, "run", "--bundle", bundle, cid]))
                cid = f"c{mode}{name}{n}"
                set_cgroup(cid)
                prepare(mode)
                total = timed([binary, *root, "create", "--bundle", bundle, cid])
                total += timed([binary, *root, "start", cid])
                total += timed([binary, *root, "delete", "--force", cid])
                results[mode][name]["cycle"].append(total)
finally:
    helper.kill()
    helper.wait()
    for _, _, d in warm_dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass
for base in os.listdir("/sys/fs/cgroup"):
    d = os.path.join("/sys/fs/cgroup", base, "berth-bench")
    if os.path.isdir(d):
        for sub, dirs, _ in os.walk(d, topdown=False):
            for x in dirs:
                try:
                    os.rmdir(os.path.join(sub, x))
                except OSError:
                    pass
        try:
            os.rmdir(d)
        except OSError:
            pass


def p90(v):
    return sorted(v)[int(len(v) * 0.9) - 1]


print(f"berth-runtime benchmark: {rounds} rounds, runtimes alternating, busybox /bin/true, {os.cpu_count()} cores, "
      f"kernel {os.uname().release}")
for mode in modes:
    res = results[mode]
    print(f"\n[{mode}] {'runtime':8} {'run: median':>12} {'min':>7} {'p90':>7}   "
          f"{'create+start+delete: median':>28} {'min':>7} {'p90':>7}")
    med = {n: (statistics.median(r["run"]), statistics.median(r["cycle"])) for n, r in res.items()}
    for n, r in res.items():
        print(f"[{mode}] {n:8} {med[n][0]:12.2f} {min(r['run']):7.2f} {p90(r['run']):7.2f}   "
              f"{med[n][1]:28.2f} {min(r['cycle']):7.2f} {p90(r['cycle']):7.2f}")
    for other in ("crun", "runc"):
        if other in med:
            print(f"[{mode}] berth/{other}: run {med['berth'][0] / med[other][0]:.2f}x, "
                  f"create+start+delete {med['berth'][1] / med[other][1]:.2f}x")
