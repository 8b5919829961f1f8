"""berth run from the default image: docker's defaults (capabilities, seccomp, masked paths, /dev/shm,
hostname, environment), user resolution through the image's /etc/passwd, exit codes."""
import os

import pytest

from conftest import BERTH, ROOT, need_root, run, stop_autostarted


@pytest.fixture(scope="module")
def berth(tmp_path_factory):
    need_root()
    root = str(tmp_path_factory.mktemp("berth-run") / "data")
    env = dict(os.environ, BERTH_DATA_ROOT=root)
    r = run(["bash", os.path.join(ROOT, "scripts", "make-busybox-image.sh"), BERTH], env=env)
    assert r.returncode == 0, r.stderr
    yield [BERTH, "--data-root", root]
    stop_autostarted(root)


def sh(berth, script, *opts):
    return run(berth + ["run", "--rm", *opts, "busybox", "sh", "-c", script])


def test_echo_and_exit_codes(berth):
    r = run(berth + ["run", "--rm", "busybox", "echo", "hi"])
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert sh(berth, "exit 7").returncode == 7
    r = run(berth + ["run", "--rm", "busybox", "no-such-command"])
    assert r.returncode == 127 and "not found" in r.stderr
    r = run(berth + ["run", "--rm", "no-such-image"])
    assert r.returncode == 125 and "Unable to find image 'no-such-image:latest' locally" in r.stderr


def test_docker_defaults(berth):
    r = sh(berth, "grep -E '^(CapEff|Seccomp):' /proc/self/status; hostname; echo $HOME; echo $PATH;"
                  "df -k /dev/shm | tail -1; cat /proc/timer_list | wc -c;"
                  "unshare -n true 2>/dev/null; echo unshare=$?; mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].split() == ["CapEff:", "00000000a80425fb"], "docker's 14 default capabilities"
    assert lines[1].split() == ["Seccomp:", "2"]
    assert len(lines[2]) == 12, "hostname = short container ID"
    assert lines[3] == "/root"
    assert lines[4] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert lines[5].split()[1] == "65536", "/dev/shm is 64m"
    assert lines[6] == "0", "/proc/timer_list is masked"
    assert "unshare=1" in r.stdout and "mount=1" in r.stdout, "seccomp and capabilities deny namespaces and mounts"
    r = sh(berth, "mount -t tmpfs t /tmp && echo mounted", "--cap-add", "SYS_ADMIN")
    assert "mounted" in r.stdout, r.stderr
    r = sh(berth, "grep CapEff /proc/self/status", "--cap-drop", "ALL")
    assert r.stdout.split() == ["CapEff:", "0000000000000000"]


def test_network_none_has_loopback(berth):
    r = sh(berth, "ip addr show lo; ip link | grep -c '^[0-9]'", "--network", "none")
    assert r.returncode == 0, r.stderr
    assert "LOOPBACK,UP" in r.stdout and "inet 127.0.0.1/8" in r.stdout, "docker's none network: lo is up"
    assert r.stdout.split()[-1] == "1", "and it is the only device"


def test_user_env_workdir_readonly(berth):
    r = sh(berth, "id; pwd; echo $FOO $BAR", "-u", "nobody", "-e", "FOO=foo", "-e", "BAR=bar", "-w", "/tmp")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)", "/tmp", "foo bar"]
    r = sh(berth, "id -u; id -g", "-u", "1234:5678")
    assert r.stdout.split() == ["1234", "5678"]
    r = sh(berth, "id", "-u", "nosuchuser")
    assert r.returncode == 125 and "unable to find user nosuchuser" in r.stderr
    r = sh(berth, "touch /x 2>&1; touch /tmp/y && echo tmp-ok", "--read-only", "--tmpfs", "/tmp")
    assert "Read-only file system" in r.stdout and "tmp-ok" in r.stdout
    r = sh(berth, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max", "--pids-limit", "42")
    assert r.stdout.strip() == "42", r.stderr
    r = sh(berth, "hostname", "-h", "myhost")
    assert r.stdout.strip() == "myhost"


def test_rmi_refuses_an_image_a_container_uses(berth):
    import subprocess
    assert run(berth + ["tag", "busybox", "victim:1"]).returncode == 0
    # The container exits when its stdin closes, so berth removes it itself (a killed berth would leave its
    # mount, cgroup and container behind).
    p = subprocess.Popen(berth + ["run", "--rm", "-i", "victim:1", "sh", "-c", "echo up; read x; true"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        assert run(berth + ["rmi", "victim:1"]).returncode == 0, "one of two tags: untagging is fine"
        r = run(berth + ["rmi", "busybox"])
        assert r.returncode == 1 and "container is using" in r.stderr, r.stderr
    finally:
        p.stdin.close()
        assert p.wait(timeout=30) == 0
    assert run(berth + ["run", "--rm", "busybox", "true"]).returncode == 0
