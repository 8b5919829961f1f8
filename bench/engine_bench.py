"""docker CLI → berthd vs docker CLI → dockerd (bench/engine.sh)."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

rounds = int(sys.argv[1])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = tempfile.mkdtemp(prefix="berth-enginebench-", dir="/tmp")
cli = shutil.which("docker")
procs = {}


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def wait_ready(base):
    for _ in range(300):
        if subprocess.run(base + ["version"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"{base} did not come up")


def rss_kib(pid, field="Rss"):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def timed(argv):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


try:
    rootfs = f"{work}/rootfs.tar"
    sh(["bash", "-c", f"bash {root}/scripts/busybox-rootfs.sh {work}/rootfs >/dev/null && tar -C {work}/rootfs -cf {rootfs} ."])
    # berthd
    bsock = f"{work}/berth.sock"
    sh([f"{root}/build/cmd/berth/berth", "--data-root", f"{work}/berth", "import", "--change", 'CMD ["sh"]', rootfs,
        "busybox:latest"])
    procs["berthd"] = subprocess.Popen([f"{root}/build/cmd/berthd/berthd", "--data-root", f"{work}/berth",
                                        "--exec-root", f"{work}/berth-run", "-H", f"unix://{bsock}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    berth = [cli, "-H", f"unix://{bsock}"]
    wait_ready(berth)
    # dockerd
    dsock = f"{work}/docker.sock"
    procs["dockerd"] = subprocess.Popen(["dockerd", "--data-root", f"{work}/docker", "--exec-root", f"{work}/dexec",
                                         "--pidfile", f"{work}/docker.pid", "-H", f"unix://{dsock}", "--bridge=none",
                                         "--iptables=false", "--ip-masq=false"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    docker = [cli, "-H", f"unix://{dsock}"]
    wait_ready(docker)
    sh(docker + ["import", "--change", 'CMD ["sh"]', rootfs, "busybox:latest"])
    time.sleep(2)
    idle = {"berthd": rss_kib(procs["berthd"].pid), "dockerd": rss_kib(procs["dockerd"].pid)}
    containerd = subprocess.run(["pgrep", "-f", f"containerd --config {work}/dexec"], capture_output=True, text=True)
    res = {"berth run": [], "docker run": []}
    for n in range(rounds):
        for who in (["berth", "docker"] if n % 2 == 0 else ["docker", "berth"]):
            base = berth if who == "berth" else docker
            res[f"{who} run"].append(timed(base + ["run", "--rm", "--network", "none", "busybox", "true"]))
    sleepers = {}
    shim = {}
    for who, base in (("berth", berth), ("docker", docker)):
        t0 = time.perf_counter()
        for i in range(50):
            sh(base + ["run", "-d", "--network", "none", "--name", f"s{i}", "busybox", "sleep", "600"])
        sleepers[who] = time.perf_counter() - t0
    pids = sh(["pgrep", "-f", f"berth-shim --id .* --runtime-root {work}/berth-run/runtime"]).stdout.split()
    rss = [rss_kib(int(p)) for p in pids]
    pss = [rss_kib(int(p), "Pss") for p in pids]
    shim["berth-shim"] = (statistics.median(rss), statistics.median(pss), len(pids))
    dpids = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
    if dpids:
        shim["containerd-shim"] = (statistics.median([rss_kib(int(p)) for p in dpids]),
                                   statistics.median([rss_kib(int(p), "Pss") for p in dpids]), len(dpids))
    # docker exec into a running container (s0 of the sleepers), alternating.
    execs = {"berth": [], "docker": []}
    for n in range(rounds):
        for who in (["berth", "docker"] if n % 2 == 0 else ["docker", "berth"]):
            execs[who].append(timed((berth if who == "berth" else docker) + ["exec", "s0", "true"]))
    for base in (berth, docker):
        ids = subprocess.run(base + ["ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(base + ["rm", "-f"] + ids, capture_output=True)
    b, d = statistics.median(res["berth run"]), statistics.median(res["docker run"])
    print(f"engine benchmark: {rounds} alternating rounds, docker CLI {sh([cli, '--version']).stdout.strip()}")
    print(f"docker run --rm --network none busybox true: berthd {b * 1000:.0f} ms, dockerd {d * 1000:.0f} ms "
          f"(medians) -> berthd takes {b / d:.2f}x docker's time ({d / b:.1f}x faster)")
    print(f"50 detached sleepers in sequence: berthd {sleepers['berth']:.2f} s, dockerd {sleepers['docker']:.2f} s "
          f"-> {sleepers['berth'] / sleepers['docker']:.2f}x")
    be, de = statistics.median(execs["berth"]), statistics.median(execs["docker"])
    print(f"docker exec s0 true: berthd {be * 1000:.0f} ms, dockerd {de * 1000:.0f} ms (medians) -> {be / de:.2f}x")
    print(f"idle RSS: berthd {idle['berthd'] / 1024:.1f} MiB, dockerd {idle['dockerd'] / 1024:.1f} MiB")
    for k, (r, p, n) in shim.items():
        print(f"{k}: median RSS {r / 1024:.2f} MiB, PSS {p / 1024:.2f} MiB per container ({n} processes)")
finally:
    for name, p in procs.items():
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    subprocess.run(["pkill", "-9", "-f", f"berth-shim --id .* --runtime-root {work}/berth-run/runtime"],
                   capture_output=True)
    subprocess.run(["bash", "-c", f"grep -o ' {work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"],
                   capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
