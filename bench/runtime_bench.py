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


results = {name: {"run": [], "cycle": []} for name in runtimes}
try:
    names = list(runtimes)
    for n in range(rounds):
        # Rotate who goes first: the first cgroup migration after a pause pays an RCU grace period
        # (cgroup_threadgroup_rwsem), which would otherwise always fall on the same runtime.
        order = names[n % len(names):] + names[:n % len(names)]
        for name in order:
            binary = runtimes[name]
            root = ["--root", os.path.join(work, "state-" + name)]
            cid = f"r{name}{n}"
            set_cgroup(cid)
            results[name]["run"].append(timed([binary, *root, "run", "--bundle", bundle, cid]))
            cid = f"c{name}{n}"
            set_cgroup(cid)
            total = timed([binary, *root, "create", "--bundle", bundle, cid])
            total += timed([binary, *root, "start", cid])
            total += timed([binary, *root, "delete", "--force", cid])
            results[name]["cycle"].append(total)
finally:
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

print(f"berth-runtime benchmark: {rounds} alternating rounds, busybox /bin/true, {os.cpu_count()} cores, "
      f"kernel {os.uname().release}")
print(f"{'runtime':8} {'run: median':>12} {'min':>7} {'p90':>7}   {'create+start+delete: median':>28} {'min':>7} {'p90':>7}")


def p90(v):
    return sorted(v)[int(len(v) * 0.9) - 1]


med = {n: (statistics.median(r["run"]), statistics.median(r["cycle"])) for n, r in results.items()}
low = {n: (min(r["run"]), min(r["cycle"])) for n, r in results.items()}
for n, r in results.items():
    print(f"{n:8} {med[n][0]:12.2f} {low[n][0]:7.2f} {p90(r['run']):7.2f}   {med[n][1]:28.2f} {low[n][1]:7.2f} "
          f"{p90(r['cycle']):7.2f}")
for other in ("crun", "runc"):
    if other in med:
        print(f"berth/{other}: run {med['berth'][0] / med[other][0]:.2f}x (min {low['berth'][0] / low[other][0]:.2f}x), "
              f"create+start+delete {med['berth'][1] / med[other][1]:.2f}x (min {low['berth'][1] / low[other][1]:.2f}x)")
