"""Times berth's image commands against docker's on one image, alternating who goes first (bench/images.sh)."""
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

rounds = int(sys.argv[1])
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
berth_bin = os.path.join(root, "build", "cmd", "berth", "berth")
work = tempfile.mkdtemp(prefix="berth-imgbench-", dir="/var/tmp")
TARGET_FILES, TARGET_BYTES = 16000, 200 * 1000 * 1000


def make_rootfs_tar(path):
    """Real files of this machine (/usr/share, /usr/lib): ~16,000 files, ~200 MB, as an image layer would be."""
    small, large = [], []
    for top in ("/usr/share", "/usr/lib"):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not os.path.isfile(p) or os.path.islink(p):
                    continue
                (small if st.st_size <= 256 * 1024 else large).append((p, st.st_size))
    chosen = small[:TARGET_FILES - 100]
    total = sum(s for _, s in chosen)
    for p, s in large:
        if total >= TARGET_BYTES:
            break
        chosen.append((p, s))
        total += s
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for p, _ in chosen:
            d = os.path.dirname(p)
            parts = d.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in dirs:
                    dirs.add(sub)
                    info = tarfile.TarInfo(sub)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1700000000
                    t.addfile(info)
            info = t.gettarinfo(p, arcname=p.strip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with open(p, "rb") as f:
                t.addfile(info, f)
    return len(chosen), total


def timed(argv, **kw):
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr}")
    return dt


LOOP_DIRECT = os.environ.get("BENCH_LOOP", "direct") == "direct"
ON_HOST = os.environ.get("BENCH_LOOP") == "none"  # fresh directories on the host's own filesystem instead
kept = []  # host-mode directories, removed only at the end (a deletion would slow every later unpack)


def fresh_fs(mountpoint):
    """A new ext4 filesystem on a loop file: ext4 avoids reusing recently deleted inodes for minutes, so a
    filesystem that just lost 16,000 files makes the next unpack several times slower for whoever is next.
    Every timed operation gets a fresh filesystem, as a first load on a new host would.
    The loop device does direct I/O to its backing file (BENCH_LOOP=buffered to change): a real disk takes the
    written pages by DMA, while a buffered loop device copies every written byte a second time into the backing
    file's page cache on a kernel worker (a third of all CPU time in a profile of a load on 2 cores)."""
    if ON_HOST:
        os.makedirs(mountpoint + ".host", exist_ok=True)
        d = tempfile.mkdtemp(dir=mountpoint + ".host")
        kept.append(d)
        os.makedirs(mountpoint, exist_ok=True)
        subprocess.run(["mount", "--bind", d, mountpoint], check=True)
        return
    img = mountpoint + ".img"
    subprocess.run(["truncate", "-s", "4G", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True)
    os.makedirs(mountpoint, exist_ok=True)
    dev = subprocess.run(["losetup", f"--direct-io={'on' if LOOP_DIRECT else 'off'}", "-f", "--show", img],
                         check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run(["mount", dev, mountpoint], check=True)
    loops[mountpoint] = dev


loops = {}


def drop_fs(mountpoint):
    subprocess.run(["umount", "-R", "-l", mountpoint], capture_output=True)
    dev = loops.pop(mountpoint, None)
    if dev:
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    try:
        os.unlink(mountpoint + ".img")
    except FileNotFoundError:
        pass
    shutil.rmtree(mountpoint, ignore_errors=True)


rootfs = os.path.join(work, "rootfs.tar")
nfiles, nbytes = make_rootfs_tar(rootfs)
sock = os.path.join(work, "docker.sock")
log = open(os.path.join(work, "dockerd.log"), "w")
docker = ["docker", "-H", f"unix://{sock}"]
dockerd = None


def start_dockerd():
    global dockerd
    fresh_fs(f"{work}/docker")
    dockerd = subprocess.Popen(["dockerd", "--data-root", f"{work}/docker", "--exec-root", f"{work}/exec",
                                "--pidfile", f"{work}/docker.pid", "-H", f"unix://{sock}", "--bridge=none",
                                "--iptables=false", "--ip-masq=false"], stdout=log, stderr=log)
    for _ in range(300):
        if os.path.exists(sock) and subprocess.run(docker + ["version"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit("dockerd did not start")


def stop_dockerd():
    dockerd.terminate()
    try:
        dockerd.wait(timeout=30)
    except subprocess.TimeoutExpired:
        dockerd.kill()
    subprocess.run(["bash", "-c", f"grep -o ' {work}/exec[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"],
                   capture_output=True)
    drop_fs(f"{work}/docker")


def start_berthd(b):
    subprocess.run(b + ["version"], check=True, capture_output=True)

def stop_berthd(d):
    try:
        pid = int(open(f"{d}/run/berthd.pid").read())
    except (OSError, ValueError):
        return
    os.kill(pid, 15)
    for _ in range(300):
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.05)


try:
    start_dockerd()
    subprocess.run(docker + ["import", rootfs, "bench:src"], check=True, capture_output=True)
    saved = os.path.join(work, "saved.tar")
    subprocess.run(docker + ["save", "-o", saved, "bench:src"], check=True)
    version = subprocess.run(docker + ["version", "-f", "{{.Server.Version}}"], capture_output=True, text=True).stdout.strip()
    stop_dockerd()
    size_mb = os.path.getsize(saved) / 1e6
    res = {k: [] for k in ("berth load", "docker load", "berth import", "docker import", "berth save", "docker save")}
    for n in range(rounds):
        order = ["berth", "docker"] if n % 2 == 0 else ["docker", "berth"]
        for who in order:
            subprocess.run(["sync"])
            if who == "berth":
                d = f"{work}/berth"
                fresh_fs(d)
                b = [berth_bin, "--data-root", d]
                start_berthd(b)  # started outside the timing, as dockerd is
                res["berth load"].append(timed(b + ["load", "-i", saved]))
                res["berth save"].append(timed(b + ["save", "-o", f"{work}/out.tar", "bench:src"]))
                os.unlink(f"{work}/out.tar")
                stop_berthd(d)
                drop_fs(d)
                fresh_fs(d)
                start_berthd(b)
                subprocess.run(["sync"])
                res["berth import"].append(timed(b + ["import", rootfs, "bench:imported"]))
                stop_berthd(d)
                drop_fs(d)
            else:
                start_dockerd()
                res["docker load"].append(timed(docker + ["load", "-i", saved]))
                res["docker save"].append(timed(docker + ["save", "-o", f"{work}/out.tar", "bench:src"]))
                os.unlink(f"{work}/out.tar")
                stop_dockerd()
                start_dockerd()
                subprocess.run(["sync"])
                res["docker import"].append(timed(docker + ["import", rootfs, "bench:imported"]))
                stop_dockerd()
    print(f"image benchmark: {rounds} rounds, {nfiles} files, {nbytes / 1e6:.0f} MB of file data, "
          f"docker-archive {size_mb:.0f} MB; berth vs docker {version}; every timed operation on "
          + ("a fresh directory of the host's filesystem" if ON_HOST else
             f"a fresh ext4 (loop device, {'direct' if LOOP_DIRECT else 'buffered'} I/O)"))
    print(f"{'operation':16s} {'median s':>9s} {'min':>7s} {'max':>7s}")
    for k, v in res.items():
        print(f"{k:16s} {statistics.median(v):9.2f} {min(v):7.2f} {max(v):7.2f}")
    for op in ("load", "import", "save"):
        b, d = statistics.median(res[f"berth {op}"]), statistics.median(res[f"docker {op}"])
        print(f"{op}: berth is {d / b:.1f}x faster than docker ({b:.2f} s vs {d:.2f} s)")
finally:
    if dockerd and dockerd.poll() is None:
        stop_dockerd()
    log.close()
    stop_berthd(f"{work}/berth")
    for m in ("berth", "docker"):
        drop_fs(f"{work}/{m}")
    for d in kept:
        subprocess.run(["umount", "-R", "-l", d], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
