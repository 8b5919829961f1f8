"""Bridge networks of berthd through the docker CLI and python3-docker: the default `bridge`, user-defined
networks (reachable inside, isolated between), docker's errors, a daemon restart, and a host left as it was
(links, routes, our nftables table)."""
import json
import os
import re
import signal
import time

import pytest

from conftest import dk, run


def settled():
    """Waits for the veth pairs of containers that ended to go with their namespaces (the kernel tears
    those down in its own time), so that a "before" holds none of them."""
    for _ in range(200):
        if not re.search(r"^\d+: vb", run(["ip", "-o", "link"]).stdout, re.M):
            return
        time.sleep(0.05)


def host_state(daemon):
    """What the tests must leave as they found it: links (names only: counters change), IPv4 routes, and
    this daemon's nftables table (made once, then rewritten in place). A bridge's carrier comes and goes with
    its ports: routes are compared without "linkdown"."""
    links = sorted(re.findall(r"^\d+: ([^:@]+)", run(["ip", "-o", "link"]).stdout, re.M))
    routes = sorted(line.replace(" linkdown", "").strip() for line in run(["ip", "-4", "route"]).stdout.splitlines())
    return links, routes


def ports_of(bridge):
    return re.findall(r"^\d+: ([^:@]+)", run(["ip", "-o", "link", "show", "master", bridge]).stdout, re.M)


def names(prefix):
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns() % 100000}"


def test_default_bridge(docker, daemon):
    r = dk(docker, "run", "--rm", "--network", "bridge", "--add-host", "db.local:10.9.8.7", "-h", "web1",
           "busybox", "sh", "-c",
           "ip -4 -o addr show eth0; ip route; cat /etc/hosts /etc/hostname; grep -c nameserver /etc/resolv.conf;"
           " gw=$(ip route | awk '/default/ {print $3}'); ping -c1 -W2 $gw >/dev/null && echo gw-ok")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    ip = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out)
    assert ip, out
    assert f"{ip.group(1)}\tweb1" in out and "10.9.8.7\tdb.local" in out and "127.0.0.1\tlocalhost" in out
    assert "default via" in out and "gw-ok" in out
    assert out.splitlines()[-2] != "0"  # at least one resolver
    lines = dk(docker, "network", "ls", "--format", "{{json .}}").stdout.splitlines()
    nets = [json.loads(x) for x in lines]
    assert sorted(n["Name"] for n in nets) == ["bridge", "host", "none"]
    assert {n["Name"]: n["Driver"] for n in nets} == {"bridge": "bridge", "host": "host", "none": "null"}


def test_no_network_still_has_its_etc_files(docker, daemon):
    """--network none: as docker, /etc/hostname, an /etc/hosts with the loopback names (and --add-host's),
    and the host's resolvers, and no interface but lo."""
    r = dk(docker, "run", "--rm", "--network", "none", "--add-host", "db.local:10.9.8.7", "--add-host",
           "hostside:host-gateway", "-h", "alone",
           "busybox", "sh", "-c", "cat /etc/hosts /etc/hostname; test -f /etc/resolv.conf && echo resolv-ok;"
           " ip -o link | grep -c '^[0-9]'")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "127.0.0.1\tlocalhost" in out and "10.9.8.7\tdb.local" in out, out
    assert "alone\n" in out and "resolv-ok" in out, out
    assert re.search(r"^\d+\.\d+\.\d+\.\d+\thostside$", out, re.M), out  # the default bridge's gateway
    assert out.splitlines()[-1] == "1", out  # lo only


def test_user_networks_reach_inside_and_are_isolated_between(docker, daemon):
    settled()
    before = host_state(daemon)
    n1, n2 = names("front"), names("back")
    assert dk(docker, "network", "create", n1).returncode == 0
    r = dk(docker, "network", "create", "--subnet", "10.231.7.0/24", "--gateway", "10.231.7.254", n2)
    assert r.returncode == 0, r.stderr
    a, b, c = names("a"), names("b"), names("c")
    try:
        for name, net in ((a, n1), (b, n1), (c, n2)):
            r = dk(docker, "run", "-d", "--name", name, "--network", net, "busybox", "sleep", "1000")
            assert r.returncode == 0, r.stderr
        ip = {x: dk(docker, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                    x).stdout.strip() for x in (a, b, c)}
        assert ip[c].startswith("10.231.7."), ip
        assert ip[a] != ip[b] and ip[a].rsplit(".", 1)[0] == ip[b].rsplit(".", 1)[0], ip
        r = dk(docker, "exec", a, "ping", "-c1", "-W2", ip[b])
        assert r.returncode == 0, r.stdout + r.stderr
        r = dk(docker, "exec", a, "ping", "-c1", "-W1", ip[c])
        assert r.returncode != 0, "containers on different networks must not reach each other"
        r = dk(docker, "exec", c, "sh", "-c", "ip route | awk '/default/ {print $3}'")
        assert r.stdout.strip() == "10.231.7.254"
        info = json.loads(dk(docker, "network", "inspect", n1).stdout)[0]
        assert info["Driver"] == "bridge" and info["IPAM"]["Config"][0]["Subnet"]
        assert sorted(v["Name"] for v in info["Containers"].values()) == sorted([a, b])
        r = dk(docker, "network", "rm", n1)
        assert r.returncode != 0 and "has active endpoints" in r.stderr
        # A stopped container has no endpoint: its address goes back.
        assert dk(docker, "stop", "-t", "0", b).returncode == 0
        assert dk(docker, "inspect", "-f", "{{.NetworkSettings.Networks." + n1 + ".IPAddress}}",
                  b).stdout.strip() == ""
        assert dk(docker, "start", b).returncode == 0
        assert dk(docker, "exec", b, "ping", "-c1", "-W2", ip[a]).returncode == 0
    finally:
        dk(docker, "rm", "-f", a, b, c)
        dk(docker, "network", "rm", n1, n2)
    for _ in range(100):  # pairs go with their namespaces, in the kernel's time
        if host_state(daemon) == before:
            break
        time.sleep(0.05)
    assert host_state(daemon) == before
    table = run(["nft", "list", "table", "ip", f"berth_{daemon.bridge}"]).stdout
    assert " drop" not in table and "10.231.7.0/24" not in table, table


def test_network_errors(docker, daemon):
    n = names("err")
    assert dk(docker, "network", "create", "--subnet", "10.232.0.0/16", n).returncode == 0
    try:
        cases = [
            (["network", "create", n], "already exists"),
            (["network", "create", "--subnet", "10.232.5.0/24", n + "x"], "overlaps"),
            (["network", "create", "--subnet", "10.233.0.1/16", n + "y"], "it should be 10.233.0.0/16"),
            (["network", "create", "-d", "overlay", n + "z"], "not found"),
            (["network", "rm", "bridge"], "pre-defined network"),
            (["network", "inspect", "nosuchnet"], "nosuchnet"),
            (["run", "--rm", "--network", "nosuchnet", "busybox", "true"], "network nosuchnet not found"),
            (["run", "--rm", "--add-host", "bad", "busybox", "true"], "bad format for add-host"),
        ]
        for args, msg in cases:
            r = dk(docker, *args)
            assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
        status, body = daemon.request("POST", "/networks/create", body="{not json",
                                      headers={"Content-Type": "application/json"})
        assert status == 400
        status, body = daemon.request("DELETE", "/networks/bridge")
        assert status == 403 and "pre-defined" in json.loads(body)["message"]
        status, body = daemon.request("POST", "/networks/create", body=json.dumps({"Name": "../x"}),
                                      headers={"Content-Type": "application/json"})
        assert status == 400
        # A device of the host is not ours to take (network rm would delete it), and a bridge name goes
        # into nftables rules: nothing but [A-Za-z0-9_.-].
        for dev, want in (("lo", 409), ('x"y', 400), ("a;b", 400)):
            status, body = daemon.request("POST", "/networks/create", body=json.dumps(
                {"Name": n + "dev", "Options": {"com.docker.network.bridge.name": dev}}),
                headers={"Content-Type": "application/json"})
            assert status == want, (dev, body)
        assert run(["ip", "link", "show", "lo"]).returncode == 0
    finally:
        dk(docker, "network", "rm", n)


def test_endpoints_survive_a_daemon_restart(docker, daemon):
    n, a = names("keep"), names("keep-a")
    assert dk(docker, "network", "create", n).returncode == 0
    try:
        assert dk(docker, "run", "-d", "--name", a, "--network", n, "busybox", "sleep", "1000").returncode == 0
        ip = dk(docker, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", a).stdout.strip()
        daemon.stop(signal.SIGKILL, keep_network=True)
        daemon.start()
        assert dk(docker, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  a).stdout.strip() == ip
        gw = dk(docker, "exec", a, "sh", "-c", "ip route | awk '/default/ {print $3}'").stdout.strip()
        assert dk(docker, "exec", a, "ping", "-c1", "-W2", gw).returncode == 0
        bridge = "br-" + dk(docker, "network", "inspect", "-f", "{{.Id}}", n).stdout.strip()[:12]
        assert len(ports_of(bridge)) == 1
        assert dk(docker, "stop", "-t", "0", a).returncode == 0
        # The pair goes with the container's namespace, which the kernel tears down in its own time.
        for _ in range(100):
            if not ports_of(bridge):
                break
            time.sleep(0.05)
        assert ports_of(bridge) == [], "the endpoint goes with the container"
    finally:
        dk(docker, "rm", "-f", a)
        dk(docker, "network", "rm", n)


def test_python_docker_networks(daemon):
    docker_mod = pytest.importorskip("docker")
    client = docker_mod.DockerClient(base_url=f"unix://{daemon.sock}")
    n = names("py")
    net = client.networks.create(n, driver="bridge", labels={"tier": "db"})
    try:
        assert net.name == n and any(x.name == n for x in client.networks.list())
        assert [x.name for x in client.networks.list(filters={"label": "tier=db"})] == [n]
        out = client.containers.run("busybox", ["sh", "-c", "ip -4 -o addr show eth0"], network=n, remove=True)
        assert b"inet " in out
    finally:
        net.remove()
    assert n not in [x.name for x in client.networks.list()]


def test_200_networked_containers_leave_the_host_as_it_was(docker, daemon):
    """Half on the default bridge, half on a user network: created, running, removed; then the host's links,
    routes and our nftables table are what they were (addresses given out on the way are all different)."""
    dk(docker, "run", "--rm", "busybox", "true")  # the default bridge and the table exist from here on
    table = f"berth_{daemon.bridge}"

    def rules():
        return run(["nft", "list", "table", "ip", table]).stdout

    settled()
    before, rules_before = host_state(daemon), rules()
    n = names("many")
    assert dk(docker, "network", "create", n).returncode == 0
    started = []
    try:
        for i in range(200):
            name = f"{n}-{i}"
            net = n if i % 2 else "bridge"
            r = dk(docker, "run", "-d", "--name", name, "--network", net, "busybox", "sleep", "600")
            assert r.returncode == 0, r.stderr
            started.append(name)
        ips = dk(docker, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", *started)
        assert len(set(ips.stdout.split())) == 200, "every container has an address of its own"
    finally:
        for i in range(0, len(started), 50):
            dk(docker, "rm", "-f", *started[i:i + 50])
        dk(docker, "network", "rm", n)
    for _ in range(200):  # pairs go with their namespaces, in the kernel's time
        if host_state(daemon) == before:
            break
        time.sleep(0.05)
    assert host_state(daemon) == before
    assert rules() == rules_before


HTTPD = "mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && httpd -f -p 80 -h /www"
UDP_SINK = "/probe udp-recv 81 > /tmp/udp.txt & " + HTTPD  # (busybox's nc has no UDP)
PROBE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "build", "tests", "probe", "probe")


def http_get(host, port, timeout=3):
    import urllib.request
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout) as r:
        return r.read().decode()


def host_address():
    out = run(["ip", "-4", "-o", "route", "get", "1.1.1.1"]).stdout
    return re.search(r"src (\d+\.\d+\.\d+\.\d+)", out).group(1)


def test_published_ports(docker, daemon):
    web, other, client = names("web"), names("web2"), names("client")
    try:
        r = dk(docker, "create", "--name", web, "-h", "web", "-p", "127.0.0.1:18080:80", "-p", "18081:80",
               "-p", "18082:81/udp", "--expose", "90", "busybox", "sh", "-c", UDP_SINK)
        assert r.returncode == 0, r.stderr
        assert dk(docker, "cp", PROBE, f"{web}:/probe").returncode == 0
        assert dk(docker, "start", web).returncode == 0
        time.sleep(0.3)
        # From the host: its loopback (no proxy process: DNAT in our table) and its own address.
        assert http_get("127.0.0.1", 18080) == "hello-web\n"
        assert http_get("127.0.0.1", 18081) == "hello-web\n"
        assert http_get(host_address(), 18081) == "hello-web\n"
        with pytest.raises(OSError):  # bound to 127.0.0.1 only
            http_get(host_address(), 18080, timeout=1)
        if run(["which", "wget"]).returncode == 0:
            assert run(["wget", "-qO-", "-T", "3", "http://127.0.0.1:18080/"]).stdout == "hello-web\n"
        # UDP.
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"udp-hello\n", ("127.0.0.1", 18082))
        for _ in range(50):
            if dk(docker, "exec", web, "cat", "/tmp/udp.txt").stdout == "udp-hello\n":
                break
            time.sleep(0.1)
        assert dk(docker, "exec", web, "cat", "/tmp/udp.txt").stdout == "udp-hello\n"
        # docker port, ps and inspect.
        ports = dk(docker, "port", web).stdout.splitlines()
        assert sorted(ports) == ["80/tcp -> 0.0.0.0:18081", "80/tcp -> 127.0.0.1:18080", "81/udp -> 0.0.0.0:18082"]
        assert "0.0.0.0:18081->80/tcp" in dk(docker, "ps", "--format", "{{.Ports}}", "--filter", f"name={web}").stdout
        info = json.loads(dk(docker, "inspect", web).stdout)[0]["NetworkSettings"]["Ports"]
        assert info["90/tcp"] is None and {"HostIp": "127.0.0.1", "HostPort": "18080"} in info["80/tcp"]
        # From another container, through the host's address (hairpin through our NAT).
        get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {} 18081 | tail -1"
        r = dk(docker, "run", "--rm", "--name", client, "busybox", "sh", "-c",
               get.format(host_address()) + "; " + get.format("$(ip route | awk '/default/ {print $3}')"))
        assert r.stdout.split() == ["hello-web", "hello-web"], r.stdout + r.stderr
        # A host port is one container's; -P picks free ones for the exposed ports.
        r = dk(docker, "run", "-d", "--name", other, "-p", "18081:80", "busybox", "sleep", "100")
        assert r.returncode != 0 and "port is already allocated" in r.stderr, r.stderr
        dk(docker, "rm", "-f", other)
        r = dk(docker, "run", "-d", "--name", other, "-h", "web2", "-P", "--expose", "80", "busybox", "sh", "-c", HTTPD)
        assert r.returncode == 0, r.stderr
        port = int(dk(docker, "port", other, "80").stdout.split(":")[-1])
        assert 49153 <= port <= 60999
        time.sleep(0.3)
        assert http_get("127.0.0.1", port) == "hello-web2\n"
    finally:
        dk(docker, "rm", "-f", web, other, client)
    table = run(["nft", "list", "table", "ip", f"berth_{daemon.bridge}"]).stdout
    assert "dnat" not in table, "a container's ports go with it"
    with pytest.raises(OSError):
        http_get("127.0.0.1", 18081, timeout=1)


def test_port_errors(docker, daemon):
    for spec in ("1:2:3:4", "80:90-91", "x:80"):  # the docker CLI's own checks
        assert dk(docker, "run", "--rm", "-p", spec, "busybox", "true").returncode != 0
    body = {"Image": "busybox", "HostConfig": {"PortBindings": {"99999/tcp": [{"HostPort": "1"}]}}}
    status, out = daemon.request("POST", "/containers/create", body=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and "invalid port specification" in json.loads(out)["message"]
    body["HostConfig"]["PortBindings"] = {"80/sctp": [{"HostPort": "1"}]}
    status, out = daemon.request("POST", "/containers/create", body=json.dumps(body),
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and "sctp" in json.loads(out)["message"]


def dns_a(server, name):
    """The first A record for `name` from `server`:53 (a hand-made query)."""
    import socket
    import struct
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(q, (server, 53))
        r = s.recv(1500)
    if struct.unpack(">H", r[6:8])[0] == 0:
        return None
    return socket.inet_ntoa(r[-4:])


def test_names_resolve_on_user_networks(docker, daemon):
    n, db, web = names("dns"), names("db"), names("web")
    assert dk(docker, "network", "create", n).returncode == 0
    try:
        r = dk(docker, "run", "-d", "--name", db, "--network", n, "--network-alias", "database", "busybox",
               "sleep", "1000")
        assert r.returncode == 0, r.stderr
        ip = dk(docker, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", db).stdout.strip()
        aliases = dk(docker, "inspect", "-f", "{{json .NetworkSettings.Networks}}", db).stdout
        assert "database" in aliases
        # Alone on its network, its name answers already (asked from the host, at the gateway).
        gw = json.loads(dk(docker, "network", "inspect", n).stdout)[0]["IPAM"]["Config"][0]["Gateway"]
        assert dns_a(gw, db) == ip
        r = dk(docker, "run", "--rm", "--name", web, "--network", n, "busybox", "sh", "-c",
               f"ping -c1 -W2 {db} | head -1; ping -c1 -W2 database | head -1; "
               "nslookup nosuch.invalid 2>&1 | grep -c NXDOMAIN; head -1 /etc/resolv.conf")
        out = r.stdout.splitlines()
        assert out[0] == f"PING {db} ({ip}): 56 data bytes", r.stdout + r.stderr
        assert out[1] == f"PING database ({ip}): 56 data bytes"
        assert out[2] != "0", "other names go to the host's resolvers"
        assert out[3].startswith("nameserver ")
        # The default bridge has no names (docker's rule): the host's resolvers there.
        r = dk(docker, "run", "--rm", "busybox", "sh", "-c", f"ping -c1 -W1 {db} 2>&1 | head -1")
        assert "bad address" in r.stdout
        assert dk(docker, "rm", "-f", db).returncode == 0
        r = dk(docker, "run", "--rm", "--network", n, "busybox", "sh", "-c", f"ping -c1 -W1 {db} 2>&1 | head -1")
        assert "bad address" in r.stdout, "a removed container's name goes"
    finally:
        dk(docker, "rm", "-f", db, web)
        dk(docker, "network", "rm", n)


def test_container_network_mode(docker, daemon):
    owner = names("owner")
    r = dk(docker, "run", "-d", "--name", owner, "-h", "owner", "busybox", "httpd", "-f", "-p", "8000", "-h", "/etc")
    assert r.returncode == 0, r.stderr
    try:
        ip = dk(docker, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", owner).stdout.strip()
        r = dk(docker, "run", "--rm", "--network", f"container:{owner}", "busybox", "sh", "-c",
               "hostname; ip -4 -o addr show eth0 | awk '{print $4}';"
               " printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8000 | tail -1")
        out = r.stdout.split()
        assert len(out) == 3 and out[0] == "owner" and out[1].startswith(ip + "/") and out[2] == "owner", \
            r.stdout + r.stderr
        for args, msg in ((["-p", "80:80"], "conflicting options: port publishing"),
                          (["-h", "x"], "conflicting options: hostname")):
            r = dk(docker, "run", "--rm", "--network", f"container:{owner}", *args, "busybox", "true")
            assert r.returncode != 0 and msg in r.stderr, r.stderr
        r = dk(docker, "network", "connect", "bridge", owner)
        assert r.returncode != 0
        assert dk(docker, "stop", "-t", "0", owner).returncode == 0
        r = dk(docker, "run", "--rm", "--network", f"container:{owner}", "busybox", "true")
        assert r.returncode != 0 and "non running container" in r.stderr, r.stderr
    finally:
        dk(docker, "rm", "-f", owner)
