"""The container spec: a create body decoded with Go's rules and checked at create with docker's 400s (no
container is made), inspect showing what docker stores, and the real docker CLI and python3-docker seeing
those errors."""
import json

import pytest

from conftest import dk, need_root

need_root()


def api(daemon, method, path, body=None):
    status, data = daemon.request(method, "/v1.45" + path, body=None if body is None else json.dumps(body),
                                  headers={"Content-Type": "application/json"})
    return status, json.loads(data) if data else None


def ids(daemon):
    return sorted(c["Id"] for c in api(daemon, "GET", "/containers/json?all=1")[1])


BAD = [
    ({"HostConfig": {"Memory": "abc"}},
     "invalid JSON: json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": 2 ** 70}},
     "invalid JSON: json: cannot unmarshal number 1180591620717411303424 into Go struct field "
     "HostConfig.HostConfig.Memory of type int64"),
    ({"HostConfig": {"PidsLimit": "50"}},
     "invalid JSON: json: cannot unmarshal string into Go struct field HostConfig.HostConfig.PidsLimit of type int64"),
    ({"HostConfig": {"Privileged": "false"}},
     "invalid JSON: json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Privileged of type bool"),
    ({"Hostname": 1},
     "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Hostname of type string"),
    ({"Labels": {"a": 1}},
     "invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Labels of type string"),
    ({"HostConfig": {"SecurityOpt": ["bogus"]}}, 'invalid --security-opt 1: "bogus"'),
    ({"HostConfig": {"SecurityOpt": ["foo=bar"]}}, 'invalid --security-opt 2: "foo=bar"'),
    ({"HostConfig": {"SecurityOpt": ["no-new-privileges=maybe"]}}, 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ({"HostConfig": {"SecurityOpt": ["seccomp=/nonexistent"]}}, "Decoding seccomp profile failed: "),
    ({"HostConfig": {"SecurityOpt": ["writable-cgroups=true"]}},
     "--security-opt writable-cgroups=true is not supported by berth"),
    ({"HostConfig": {"CapAdd": ["BOGUS"]}}, 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
    ({"HostConfig": {"CapDrop": ["cap_bogus"]}}, 'invalid CapDrop: unknown capability: "CAP_BOGUS"'),
    ({"HostConfig": {"LogConfig": {"Type": "bogus"}}}, 'error looking up logging plugin bogus: plugin "bogus" not found'),
    ({"HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"bogus-opt": "1"}}}},
     "unknown log opt 'bogus-opt' for json-file log driver"),
    ({"HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "abc"}}}}, "invalid size: 'abc'"),
    ({"HostConfig": {"RestartPolicy": {"Name": "bogus"}}},
     "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
    ({"HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}},
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ({"HostConfig": {"RestartPolicy": {"Name": "always"}, "AutoRemove": True}},
     "can't create 'AutoRemove' container with restart policy"),
    ({"HostConfig": {"Memory": 1000000}}, "Minimum memory limit allowed is 6MB"),
    ({"HostConfig": {"Memory": 10000000, "MemorySwap": 5000000}},
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"HostConfig": {"MemorySwap": 50000000}},
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"HostConfig": {"MemorySwappiness": 200}}, "Invalid value: 200, valid memory swappiness range is 0-100"),
    ({"HostConfig": {"NanoCpus": 1000000000, "CpuQuota": 50000}},
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"HostConfig": {"CpusetCpus": "abc"}}, "Invalid value abc for cpuset cpus: invalid format: abc"),
    ({"HostConfig": {"CpusetCpus": "999"}}, "Requested CPUs are not available - requested 999, available: "),
    ({"HostConfig": {"OomScoreAdj": 2000}}, "Invalid value 2000, range for oom score adj is [-1000, 1000]"),
    ({"HostConfig": {"ShmSize": -1}}, "SHM size can not be less than 0"),
    ({"HostConfig": {"Tmpfs": {"relative": ""}}}, "invalid mount path: 'relative' mount path must be absolute"),
    ({"HostConfig": {"Tmpfs": {"/": ""}}}, "invalid specification: destination can't be '/'"),
    ({"HostConfig": {"VolumesFrom": ["missing"]}}, "No such container: missing"),
    ({"HostConfig": {"VolumesFrom": ["x:bogus"]}}, "invalid mode: bogus"),
    ({"HostConfig": {"ExtraHosts": ["bogus"]}}, 'bad format for add-host: "bogus"'),
    ({"HostConfig": {"ExtraHosts": ["a:notanip"]}}, 'invalid IP address in add-host: "notanip"'),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "abc"}]}}}, 'invalid port specification: "abc"'),
    ({"HostConfig": {"CgroupnsMode": "bogus"}}, "invalid cgroup namespace mode: bogus"),
    ({"HostConfig": {"IpcMode": "bogus"}}, "invalid IPC mode: bogus"),
    ({"HostConfig": {"PidMode": "bogus"}}, "invalid PID mode: bogus"),
    ({"HostConfig": {"Runtime": "bogus"}}, "unknown or invalid runtime name: bogus"),
    ({"HostConfig": {"NetworkMode": "container:"}},
     "invalid network mode: invalid container format container:<name|id>"),
    ({"Env": ["=foo"]}, "invalid environment variable: =foo"),
    ({"WorkingDir": "relative"}, "the working directory 'relative' is invalid, it needs to be an absolute path"),
    ({"StopSignal": "BOGUS"}, "invalid signal: BOGUS"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
    ({"Hostname": "h" * 65}, f'hostname "{"h" * 65}" is too long (maximum 64 bytes)'),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[m[:40] for _, m in BAD])
def test_create_refuses_with_dockers_400(daemon, extra, message):
    before = ids(daemon)
    body = {"Image": "busybox", "Cmd": ["true"], **extra}
    status, answer = api(daemon, "POST", "/containers/create", body)
    assert (status, answer["message"][:len(message)]) == (400, message), answer
    assert ids(daemon) == before  # nothing made


def test_strslice_fields_take_a_string(daemon, docker):
    # CapDrop "ALL" as a string is docker's StrSlice: all capabilities dropped, not ignored.
    status, answer = api(daemon, "POST", "/containers/create?name=spec-capdrop",
                         {"Image": "busybox", "Cmd": "grep CapEff /proc/self/status",
                          "HostConfig": {"CapDrop": "ALL"}})
    assert status == 201, answer
    try:
        info = api(daemon, "GET", "/containers/spec-capdrop/json")[1]
        assert info["HostConfig"]["CapDrop"] == ["ALL"] and info["Config"]["Cmd"] == ["grep CapEff /proc/self/status"]
        r = dk(docker, "start", "-a", "spec-capdrop")
        assert r.returncode == 127 or "CapEff:\t0000000000000000" in r.stdout, (r.stdout, r.stderr)
    finally:
        api(daemon, "DELETE", "/containers/spec-capdrop?force=1")


def test_inspect_shows_what_docker_stores(daemon):
    status, answer = api(daemon, "POST", "/containers/create?name=spec-inspect", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, answer
    try:
        info = api(daemon, "GET", "/containers/spec-inspect/json")[1]
        hc, cfg = info["HostConfig"], info["Config"]
        # Every key docker 20.10 shows for the same request (and API 1.44's Annotations-less additions).
        docker_keys = {
            "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
            "VolumeDriver", "VolumesFrom", "CapAdd", "CapDrop", "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch",
            "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode", "Privileged",
            "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "UTSMode", "UsernsMode", "ShmSize", "Runtime",
            "ConsoleSize", "Isolation", "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight",
            "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime",
            "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory",
            "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable",
            "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth",
            "MaskedPaths", "ReadonlyPaths"}
        assert docker_keys <= set(hc), docker_keys - set(hc)
        assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
        assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
        assert (hc["Runtime"], hc["ShmSize"], hc["ConsoleSize"], hc["IpcMode"]) == ("runc", 67108864, [0, 0], "private")
        assert hc["PidsLimit"] is None and hc["Links"] is None and hc["MemorySwappiness"] is None
        for k in ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                  "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
                  "OnBuild", "Labels"):
            assert k in cfg, k
        assert cfg["Image"] == "busybox" and cfg["Hostname"] == info["Id"][:12] and cfg["Labels"] == {}
    finally:
        api(daemon, "DELETE", "/containers/spec-inspect?force=1")


def test_pids_limit_and_swap_as_docker_stores_them(daemon):
    status, answer = api(daemon, "POST", "/containers/create?name=spec-limits",
                         {"Image": "busybox", "Cmd": ["true"],
                          "HostConfig": {"PidsLimit": 0, "Memory": 20971520, "MemorySwappiness": -1}})
    assert status == 201, answer
    try:
        hc = api(daemon, "GET", "/containers/spec-limits/json")[1]["HostConfig"]
        assert (hc["PidsLimit"], hc["MemorySwappiness"], hc["MemorySwap"]) == (None, None, 2 * 20971520)
    finally:
        api(daemon, "DELETE", "/containers/spec-limits?force=1")


def test_update_checks(daemon):
    assert api(daemon, "POST", "/containers/create?name=spec-update", {"Image": "busybox", "Cmd": ["true"]})[0] == 201
    try:
        for body, message in [
            ({"Memory": "abc"},
             "invalid JSON: json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64"),
            ({"Memory": 1000}, "Minimum memory limit allowed is 6MB"),
            ({"RestartPolicy": {"Name": "bogus"}}, "invalid restart policy: unknown policy 'bogus'"),
            ({"NanoCpus": 1000000000, "CpuQuota": 50000},
             "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        ]:
            status, answer = api(daemon, "POST", "/containers/spec-update/update", body)
            assert (status, answer["message"][:len(message)]) == (400, message)
        status, answer = api(daemon, "POST", "/containers/spec-update/update",
                             {"Memory": 31457280, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
        assert status == 200, answer
        hc = api(daemon, "GET", "/containers/spec-update/json")[1]["HostConfig"]
        assert hc["Memory"] == 31457280 and hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    finally:
        api(daemon, "DELETE", "/containers/spec-update?force=1")


def test_docker_cli_sees_the_errors(daemon, docker):
    before = ids(daemon)
    for args, message in [
        (["--security-opt", "foo=bar"], 'invalid --security-opt 2: "foo=bar"'),
        (["--cap-add", "BOGUS"], 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
        (["--log-driver", "bogus"], "error looking up logging plugin bogus"),
        (["--memory", "1m"], "Minimum memory limit allowed is 6MB"),
        (["--tmpfs", "relative"], "invalid mount path: 'relative' mount path must be absolute"),
        (["--volumes-from", "missing"], "No such container: missing"),
    ]:
        r = dk(docker, "create", *args, "busybox", "true")
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
    r = dk(docker, "run", "--rm", "--memory", "1m", "busybox", "true")
    assert r.returncode == 125 and "Minimum memory limit allowed is 6MB" in r.stderr
    assert ids(daemon) == before


def test_python_docker_sees_the_errors(daemon):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=f"unix://{daemon.sock}", version="auto")
    with pytest.raises(docker_py.errors.APIError) as e:
        client.containers.create("busybox", "true", cap_add=["BOGUS"])
    assert e.value.status_code == 400 and 'unknown capability: "CAP_BOGUS"' in e.value.explanation
    with pytest.raises(docker_py.errors.APIError) as e:
        client.containers.create("busybox", "true", mem_limit="1m")
    assert e.value.status_code == 400 and "Minimum memory limit allowed is 6MB" in e.value.explanation
    with pytest.raises(docker_py.errors.APIError) as e:
        client.containers.create("busybox", "true", restart_policy={"Name": "always", "MaximumRetryCount": 1})
    assert e.value.status_code == 400 and "maximum retry count can only be used with 'on-failure'" in e.value.explanation
    # What it accepts runs, with the limits in the record.
    c = client.containers.create("busybox", "true", mem_limit="64m", pids_limit=50, cpu_shares=512,
                                 healthcheck={"test": ["CMD", "true"], "interval": 1000000000})
    try:
        c.reload()
        hc = c.attrs["HostConfig"]
        assert (hc["Memory"], hc["PidsLimit"], hc["CpuShares"]) == (64 << 20, 50, 512)
        assert c.attrs["Config"]["Healthcheck"]["Interval"] == 1000000000
    finally:
        c.remove(force=True)


BAD_BODIES = [
    ("/networks/create", {"Name": 7},
     "invalid JSON: json: cannot unmarshal number into Go struct field NetworkCreateRequest.Name of type string"),
    ("/networks/create", {"Name": "n", "IPAM": {"Config": {"Subnet": "10.1.0.0/24"}}},
     "json: cannot unmarshal object into Go struct field IPAM.IPAM.Config of type []network.IPAMConfig"),
    ("/networks/create", {"Name": "n", "Internal": "yes"},
     "json: cannot unmarshal string into Go struct field NetworkCreateRequest.Internal of type bool"),
    ("/networks/create", {"Name": "n", "IPAM": {"Driver": "dhcp"}}, 'plugin "dhcp" not found'),
    ("/networks/create", {"Name": "n", "Scope": "swarm"}, 'network scope "swarm" is not supported'),
    ("/networks/create", {"Name": "n", "Ingress": True}, "ingress networks need a swarm"),
    ("/networks/create", {"Name": "n", "ConfigOnly": True}, "config-only networks"),
    ("/networks/create", {"Name": "n", "ConfigFrom": {"Network": "other"}}, "config-only networks"),
    ("/volumes/create", {"DriverOpts": {"size": 5}},
     "invalid JSON: json: cannot unmarshal number into Go struct field CreateOptions.DriverOpts of type string"),
    ("/volumes/create", [],
     "invalid JSON: json: cannot unmarshal array into Go value of type volume.CreateOptions"),
    ("/networks/bridge/connect", {"Container": 1},
     "json: cannot unmarshal number into Go struct field NetworkConnect.Container of type string"),
    ("/networks/bridge/disconnect", {"Container": "x", "Force": "1"},
     "json: cannot unmarshal string into Go struct field NetworkDisconnect.Force of type bool"),
]


@pytest.mark.parametrize("path,body,message", BAD_BODIES)
def test_network_volume_and_exec_bodies_are_decoded_as_docker_does(daemon, path, body, message):
    """The other bodies go through the same codec as the create body: wrong types are docker's 400s in Go's
    words, and nothing is made."""
    nets = api(daemon, "GET", "/networks")[1]
    vols = api(daemon, "GET", "/volumes")[1]["Volumes"] or []
    status, out = api(daemon, "POST", path, body)
    assert status in (400, 404) and message in out["message"], (status, out)
    assert len(api(daemon, "GET", "/networks")[1]) == len(nets)
    assert len(api(daemon, "GET", "/volumes")[1]["Volumes"] or []) == len(vols)


def test_null_optional_fields_are_their_absence(daemon):
    """docker-py sends null for what it was not given; so do other clients."""
    status, out = api(daemon, "POST", "/networks/create",
                      {"Name": "nulls-net", "IPAM": None, "Labels": None, "Options": None, "EnableIPv6": None,
                       "Internal": False})
    assert status == 201, out
    try:
        assert api(daemon, "GET", "/networks/nulls-net")[1]["Name"] == "nulls-net"
    finally:
        assert api(daemon, "DELETE", "/networks/nulls-net")[0] == 204
    status, out = api(daemon, "POST", "/volumes/create", {"Name": "nulls-vol", "Labels": None, "DriverOpts": None})
    assert status == 201, out
    assert api(daemon, "DELETE", "/volumes/nulls-vol")[0] == 204
