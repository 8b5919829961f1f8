"""A private berthd for one attack module: its own roots under /tmp, the busybox image loaded, and at the end
its containers, shims, mounts and directories gone (the daemon restarted first if the test killed it)."""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile

from conftest import BERTH, ROOT, Daemon, need_root, run, unmount_under


@contextlib.contextmanager
def private_host(prefix, env=None):
    need_root()
    work = tempfile.mkdtemp(prefix=f"berth-sec-{prefix}-", dir="/tmp")
    d = Daemon(work, env=env)
    d.start()
    try:
        r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH],
                env=dict(os.environ, BERTH_HOST=f"unix://{d.sock}"))
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        if d.proc.poll() is not None:
            d.start()
        for c in json.loads(d.request("GET", "/containers/json?all=1")[1]):
            d.request("DELETE", f"/containers/{c['Id']}?force=1")
        d.stop()
        subprocess.run(["pkill", "-9", "-f", f"berth-shim --id .* --runtime-root {d.run_root}/runtime"],
                       capture_output=True)
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
