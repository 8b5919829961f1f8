"""Operations at the same time: a start lets the engine's lock go for its slow steps (its root's mounts,
the shim's creation of the container), so starts run side by side. What must hold then: every start
succeeds, no two containers get one address or host port, and a stop, kill, removal, cp or network change
of a container that is starting waits for the start instead of acting on half a container."""
import json
import os
import threading

from conftest import need_root

need_root()


def api(daemon, method, path, body=None):
    status, data = daemon.request(method, "/v1.45" + path, body=None if body is None else json.dumps(body),
                                  headers={"Content-Type": "application/json"})
    return status, (json.loads(data) if data and data[:1] in (b"{", b"[", "{", "[") else data)


def create(daemon, name, **host):
    body = {"Image": "busybox", "Cmd": ["sleep", "60"], "HostConfig": host}
    status, out = api(daemon, "POST", f"/containers/create?name={name}", body)
    assert status == 201, out
    return out["Id"]


def in_parallel(fns):
    results = [None] * len(fns)

    def call(i):
        results[i] = fns[i]()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def rootfs_mounts(daemon):
    return [line for line in open("/proc/self/mountinfo") if daemon.run_root in line and "/rootfs" in line]


def test_parallel_starts_get_their_own_addresses_and_ports(daemon):
    tag = f"par{os.getpid()}"
    status, net = api(daemon, "POST", "/networks/create", {"Name": tag})
    assert status == 201, net
    ids = [create(daemon, f"{tag}-{i}", NetworkMode=tag, PortBindings={"80/tcp": [{"HostPort": ""}]})
           for i in range(8)]
    try:
        starts = in_parallel([lambda i=i: api(daemon, "POST", f"/containers/{i}/start")[0] for i in ids])
        assert starts == [204] * len(ids)
        ips, ports = set(), set()
        for i in ids:
            c = api(daemon, "GET", f"/containers/{i}/json")[1]
            assert c["State"]["Status"] == "running"
            ips.add(c["NetworkSettings"]["Networks"][tag]["IPAddress"])
            ports.add(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
        assert len(ips) == len(ids) and len(ports) == len(ids), (ips, ports)
    finally:
        in_parallel([lambda i=i: api(daemon, "DELETE", f"/containers/{i}?force=1") for i in ids])
        assert api(daemon, "DELETE", f"/networks/{tag}")[0] == 204


def test_operations_on_a_starting_container_wait_for_its_start(daemon):
    """Each round starts a container and, at the same moment, removes (or stops, kills, pauses) it. The
    second operation sees the container before or after the start, never during: it ends removed (or
    stopped), with no root left mounted, and the daemon answers throughout."""
    before = rootfs_mounts(daemon)
    for rnd, op in enumerate(["remove", "stop", "kill", "pause", "remove", "stop"]):
        cid = create(daemon, f"race{os.getpid()}-{rnd}")
        ops = {"remove": ("DELETE", f"/containers/{cid}?force=1"), "stop": ("POST", f"/containers/{cid}/stop?t=1"),
               "kill": ("POST", f"/containers/{cid}/kill"), "pause": ("POST", f"/containers/{cid}/pause")}
        method, path = ops[op]
        start, other = in_parallel([lambda: api(daemon, "POST", f"/containers/{cid}/start")[0],
                                    lambda: api(daemon, method, path)[0]])
        if op == "remove":
            assert other == 204
            assert start in (204, 404, 409), start  # before the removal, or of a container gone
            assert api(daemon, "GET", f"/containers/{cid}/json")[0] == 404
            continue
        assert start == 204
        # Before the start: "not running" (304 / 409); after it: done.
        assert other in (204, 304, 409), (op, other)
        state = api(daemon, "GET", f"/containers/{cid}/json")[1]["State"]
        if op in ("stop", "kill") and other == 204:
            assert api(daemon, "POST", f"/containers/{cid}/wait")[0] == 200
        if op == "pause" and other == 204:
            assert state["Status"] == "paused"
        assert api(daemon, "DELETE", f"/containers/{cid}?force=1")[0] == 204
    assert rootfs_mounts(daemon) == before
    assert api(daemon, "GET", "/_ping")[0] == 200
