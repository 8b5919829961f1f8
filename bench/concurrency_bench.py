"""`ps` and `inspect` while the daemon does long work (bench/concurrency.sh): a 200 MB image load and 20
container starts run at once while a client polls GET /containers/json and GET /containers/{id}/json;
berthd and dockerd in the same run, each with the docker CLI and the same HTTP client."""
import os
import statistics
import subprocess
import sys
import threading
import time

from benchlib import Daemons, UnixHTTP, sh

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
STARTS = 20


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def poll(sock, stop, lat, kind, url, interval=0.01):
    """One request every `interval` on a fixed schedule; a request's latency counts from its scheduled time,
    so a request that waits behind a blocked one counts its wait too (no coordinated omission: one poller
    blocked for a second is a hundred slow answers, not one)."""
    conn = UnixHTTP(sock)
    start = time.perf_counter()
    k = 0
    while not stop.is_set():
        due = start + k * interval
        k += 1
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        status, _ = conn.call("GET", url)
        lat[kind].append(time.perf_counter() - due)
        if status != 200:
            lat["errors"].append(f"{kind}: {status}")


def pollers(sock, lat):
    stop = threading.Event()
    threads = [threading.Thread(target=poll, args=(sock, stop, lat, kind, url))
               for kind, url in (("ps", "/v1.41/containers/json?all=1"), ("inspect", "/v1.41/containers/target/json"))]
    for t in threads:
        t.start()

    def end():
        stop.set()
        for t in threads:
            t.join()
    return end


def one_round(d, who, big):
    sock, cli = (d.bsock, d.berth) if who == "berthd" else (d.dsock, d.docker)
    sh(cli + ["create", "--name", "target", "busybox", "true"])
    idle = {"ps": [], "inspect": [], "errors": []}
    end = pollers(sock, idle)
    time.sleep(2)
    end()
    busy = {"ps": [], "inspect": [], "errors": []}
    end = pollers(sock, busy)
    time.sleep(0.3)
    out = {}

    def load():
        t0 = time.perf_counter()
        with open(big, "rb") as f:
            conn = UnixHTTP(sock, timeout=900)
            status, body = conn.call("POST", "/v1.41/images/load?quiet=1", body=f,
                                     headers={"Content-Type": "application/x-tar",
                                              "Content-Length": str(os.path.getsize(big))})
        out["load"] = (time.perf_counter() - t0, status, body[-200:])

    def starts():
        times, failed = [], []
        for i in range(STARTS):
            t0 = time.perf_counter()
            r = subprocess.run(cli + ["run", "-d", "--network", "none", "--name", f"c{i}", "busybox", "sleep", "600"],
                               capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0:
                failed.append(r.stderr.strip())
        out["starts"] = (times, failed)

    loader = threading.Thread(target=load)
    starter = threading.Thread(target=starts)
    loader.start()
    time.sleep(0.2)  # the load is under way when the starts begin
    starter.start()
    loader.join()
    starter.join()
    time.sleep(0.3)
    end()
    d.remove_containers()
    subprocess.run(cli + ["rmi", "-f", "big:1"], capture_output=True)
    return idle, busy, out


d = Daemons("berth-concbench-")
try:
    d.start()
    # A 200 MB image: busybox with 200 MB of random bytes (which no compression shrinks), saved by berth as a
    # docker archive that both daemons load.
    w = d.work
    sh(["bash", "-c", f"mkdir -p {w}/bigroot && tar -C {w}/bigroot -xf {d.rootfs} && mkdir {w}/bigroot/data && "
                      f"head -c 200M /dev/urandom > {w}/bigroot/data/blob && tar -C {w}/bigroot -cf {w}/big-rootfs.tar ."])
    sh(d.bcli + ["import", f"{w}/big-rootfs.tar", "big:1"])
    big = f"{w}/big.tar"
    sh(["bash", "-c", f"{' '.join(d.bcli)} save big:1 > {big}"])
    sh(d.bcli + ["rmi", "big:1"])
    results = {"berthd": [], "dockerd": []}
    for n in range(rounds):
        for who in (("berthd", "dockerd") if n % 2 == 0 else ("dockerd", "berthd")):
            results[who].append(one_round(d, who, big))
    print(f"concurrency benchmark: {rounds} rounds per daemon; each: a {os.path.getsize(big) / 1e6:.0f} MB "
          f"`POST /images/load` and {STARTS} `docker run -d --network none busybox sleep 600` in sequence, "
          f"at once, while two clients ask GET /containers/json?all=1 and GET /containers/target/json every "
          f"10 ms on a fixed schedule (latency from the scheduled time); docker CLI {sh([d.cli, '--version']).stdout.strip()}")
    print("| daemon | idle ps p50 / p99 | busy ps p50 / p99 / max | busy inspect p50 / p99 / max | "
          "start p50 / max | starts ok | load |")
    print("|---|---|---|---|---|---|---|")
    for who, rs in results.items():
        idle_ps = [x for r in rs for x in r[0]["ps"]]
        ps = [x for r in rs for x in r[1]["ps"]]
        ins = [x for r in rs for x in r[1]["inspect"]]
        st = [x for r in rs for x in r[2]["starts"][0]]
        failed = [f for r in rs for f in r[2]["starts"][1]]
        errors = [e for r in rs for e in r[1]["errors"]]
        loads = [r[2]["load"] for r in rs]
        ms = lambda v: f"{v * 1000:.1f}"  # noqa: E731
        print(f"| {who} | {ms(pct(idle_ps, 50))} / {ms(pct(idle_ps, 99))} ms | {ms(pct(ps, 50))} / {ms(pct(ps, 99))} / "
              f"{ms(max(ps))} ms | {ms(pct(ins, 50))} / {ms(pct(ins, 99))} / {ms(max(ins))} ms | "
              f"{ms(statistics.median(st))} / {ms(max(st))} ms | {len(st) - len(failed)}/{len(st)} | "
              f"{statistics.median([x[0] for x in loads]):.1f} s |")
        for f in failed[:3]:
            print(f"  {who}: a start failed: {f}")
        for e in errors[:3]:
            print(f"  {who}: a poll failed: {e}")
        for t, status, body in loads:
            if status != 200:
                print(f"  {who}: the load failed ({status}): {body!r}")
    print("target: berthd's busy ps and inspect p99 <= 25 ms, every start succeeding")
finally:
    d.stop()
