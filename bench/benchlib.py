"""What the engine benchmarks share: private berthd and dockerd with their own roots (on a fresh ext4, exec
roots on a tmpfs), their own bridges and sockets, a busybox image in both, and the clean-up of all of it."""
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def wait_ready(base):
    for _ in range(300):
        if subprocess.run(base + ["version"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit(f"{base} did not come up")


class UnixHTTP(http.client.HTTPConnection):
    """An HTTP connection to a daemon's unix socket (one per thread)."""

    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)

    def call(self, method, url, body=None, headers=None):
        self.request(method, url, body=body, headers=headers or {})
        r = self.getresponse()
        return r.status, r.read()


class Daemons:
    """berthd and dockerd side by side. BENCH_FS=host keeps their roots on /tmp's filesystem instead of a fresh
    ext4 (ext4 avoids reusing recently deleted inodes for minutes, and on a filesystem that has just lost many
    files every mkdir scans for a free inode)."""

    def __init__(self, prefix):
        os.environ["BERTH_NO_START"] = "1"  # a berth command that finds no daemon must not start one elsewhere
        self.work = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.cli = shutil.which("docker")
        self.procs = {}
        self.fs = f"{self.work}/fs"
        self.loop = None
        os.makedirs(self.fs)
        if os.environ.get("BENCH_FS") != "host":
            img = f"{self.work}/fs.img"
            sh(["truncate", "-s", "8G", img])
            sh(["mkfs.ext4", "-q", "-F", img])
            self.loop = sh(["losetup", "--direct-io=on", "-f", "--show", img]).stdout.strip()
            sh(["mount", self.loop, self.fs])
        self.runfs = f"{self.work}/run"
        os.makedirs(self.runfs)
        sh(["mount", "-t", "tmpfs", "-o", "mode=0755", "bench-run", self.runfs])

    def start(self):
        w = self.work
        self.rootfs = f"{w}/rootfs.tar"
        sh(["bash", "-c", f"bash {ROOT}/scripts/busybox-rootfs.sh {w}/rootfs >/dev/null && tar -C {w}/rootfs -cf {self.rootfs} ."])
        self.bsock = f"{w}/berth.sock"
        sh(["ip", "link", "add", "bdbench0", "type", "bridge"])
        sh(["ip", "addr", "add", "10.198.0.1/24", "dev", "bdbench0"])
        sh(["ip", "link", "set", "bdbench0", "up"])
        self.procs["berthd"] = subprocess.Popen(
            [f"{ROOT}/build/cmd/berthd/berthd", "--data-root", f"{self.fs}/berth", "--exec-root",
             f"{self.runfs}/berth", "-H", f"unix://{self.bsock}", "--bridge", "bbbench0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.berth = [self.cli, "-H", f"unix://{self.bsock}"]  # the docker CLI against berthd
        wait_ready(self.berth)
        self.bcli = [f"{ROOT}/build/cmd/berth/berth", "-H", f"unix://{self.bsock}"]  # berth's own CLI
        sh(self.bcli + ["import", "--change", 'CMD ["sh"]', self.rootfs, "busybox:latest"])
        self.dsock = f"{w}/docker.sock"
        self.procs["dockerd"] = subprocess.Popen(
            ["dockerd", "--data-root", f"{self.fs}/docker", "--exec-root", f"{self.runfs}/docker", "--pidfile",
             f"{w}/docker.pid", "-H", f"unix://{self.dsock}", "--bridge=bdbench0", "--iptables=false",
             "--ip-masq=false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.docker = [self.cli, "-H", f"unix://{self.dsock}"]
        wait_ready(self.docker)
        sh(self.docker + ["import", "--change", 'CMD ["sh"]', self.rootfs, "busybox:latest"])

    def remove_containers(self):
        for base in (self.berth, self.docker):
            ids = subprocess.run(base + ["ps", "-aq"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(base + ["rm", "-f"] + ids, capture_output=True)

    def stop(self):
        for p in self.procs.values():
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        runfs, work = self.runfs, self.work
        subprocess.run(["pkill", "-9", "-f", f"berth-shim --id .* --runtime-root {runfs}/berth/runtime"],
                       capture_output=True)
        subprocess.run(["bash", "-c", "for d in /sys/fs/cgroup/*/berth/*/; do rmdir $d 2>/dev/null; done"],
                       capture_output=True)
        subprocess.run(["bash", "-c", f"grep -o ' {work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"],
                       capture_output=True)
        subprocess.run(["umount", "-l", runfs], capture_output=True)
        for dev in ("bdbench0", "bbbench0"):
            subprocess.run(["ip", "link", "delete", dev], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", "berth_bbbench0"], capture_output=True)
        if self.loop:
            subprocess.run(["umount", "-l", self.fs], capture_output=True)
            subprocess.run(["losetup", "-d", self.loop], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
