// The field lists of the container spec (docker's JSON names, Go's omitempty), and its decoding and
// encoding through them.
#include "engine/spec.h"

#include "engine/requests.h"

namespace berth::engine::spec {

namespace {
constexpr int kOmit = jsoncodec::kOmitEmpty;
}  // namespace

template <class V, class S>
requires jsoncodec::Is<S, HealthConfig>
void describe(V& v, S& s) {
  v("Test", s.test);
  v("Interval", s.interval, kOmit);
  v("Timeout", s.timeout, kOmit);
  v("StartPeriod", s.startPeriod, kOmit);
  v("StartInterval", s.startInterval, kOmit);
  v("Retries", s.retries, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, Config>
void describe(V& v, S& s) {
  v("Hostname", s.hostname);
  v("Domainname", s.domainname);
  v("User", s.user);
  v("AttachStdin", s.attachStdin);
  v("AttachStdout", s.attachStdout);
  v("AttachStderr", s.attachStderr);
  v("ExposedPorts", s.exposedPorts, kOmit);
  v("Tty", s.tty);
  v("OpenStdin", s.openStdin);
  v("StdinOnce", s.stdinOnce);
  v("Env", s.env);
  v("Cmd", s.cmd);
  v("Healthcheck", s.healthcheck, kOmit);
  v("ArgsEscaped", s.argsEscaped, kOmit);
  v("Image", s.image);
  v("Volumes", s.volumes);
  v("WorkingDir", s.workingDir);
  v("Entrypoint", s.entrypoint);
  v("NetworkDisabled", s.networkDisabled, kOmit);
  v("MacAddress", s.macAddress, kOmit);
  v("OnBuild", s.onBuild);
  v("Labels", s.labels);
  v("StopSignal", s.stopSignal, kOmit);
  v("StopTimeout", s.stopTimeout, kOmit);
  v("Shell", s.shell, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, LogConfig>
void describe(V& v, S& s) {
  v("Type", s.type);
  v("Config", s.config);
}

template <class V, class S>
requires jsoncodec::Is<S, RestartPolicy>
void describe(V& v, S& s) {
  v("Name", s.name);
  v("MaximumRetryCount", s.maximumRetryCount);
}

template <class V, class S>
requires jsoncodec::Is<S, PortBinding>
void describe(V& v, S& s) {
  v("HostIp", s.hostIp);
  v("HostPort", s.hostPort);
}

template <class V, class S>
requires jsoncodec::Is<S, Ulimit>
void describe(V& v, S& s) {
  v("Name", s.name);
  v("Hard", s.hard);
  v("Soft", s.soft);
}

template <class V, class S>
requires jsoncodec::Is<S, DeviceMapping>
void describe(V& v, S& s) {
  v("PathOnHost", s.pathOnHost);
  v("PathInContainer", s.pathInContainer);
  v("CgroupPermissions", s.cgroupPermissions);
}

template <class V, class S>
requires jsoncodec::Is<S, WeightDevice>
void describe(V& v, S& s) {
  v("Path", s.path);
  v("Weight", s.weight);
}

template <class V, class S>
requires jsoncodec::Is<S, ThrottleDevice>
void describe(V& v, S& s) {
  v("Path", s.path);
  v("Rate", s.rate);
}

template <class V, class S>
requires jsoncodec::Is<S, DeviceRequest>
void describe(V& v, S& s) {
  v("Driver", s.driver);
  v("Count", s.count);
  v("DeviceIDs", s.deviceIds);
  v("Capabilities", s.capabilities);
  v("Options", s.options);
}

template <class V, class S>
requires jsoncodec::Is<S, BindOptions>
void describe(V& v, S& s) {
  v("Propagation", s.propagation, kOmit);
  v("NonRecursive", s.nonRecursive, kOmit);
  v("CreateMountpoint", s.createMountpoint, kOmit);
  v("ReadOnlyNonRecursive", s.readOnlyNonRecursive, kOmit);
  v("ReadOnlyForceRecursive", s.readOnlyForceRecursive, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, VolumeDriver>
void describe(V& v, S& s) {
  v("Name", s.name, kOmit);
  v("Options", s.options, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, VolumeOptions>
void describe(V& v, S& s) {
  v("NoCopy", s.noCopy, kOmit);
  v("Labels", s.labels, kOmit);
  v("Subpath", s.subpath, kOmit);
  v("DriverConfig", s.driverConfig, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, TmpfsOptions>
void describe(V& v, S& s) {
  v("SizeBytes", s.sizeBytes, kOmit);
  v("Mode", s.mode, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, Mount>
void describe(V& v, S& s) {
  v("Type", s.type, kOmit);
  v("Source", s.source, kOmit);
  v("Target", s.target, kOmit);
  v("ReadOnly", s.readOnly, kOmit);
  v("Consistency", s.consistency, kOmit);
  v("BindOptions", s.bindOptions, kOmit);
  v("VolumeOptions", s.volumeOptions, kOmit);
  v("TmpfsOptions", s.tmpfsOptions, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, Resources>
void describe(V& v, S& s) {
  v("CpuShares", s.cpuShares);
  v("Memory", s.memory);
  v("NanoCpus", s.nanoCpus);
  v("CgroupParent", s.cgroupParent);
  v("BlkioWeight", s.blkioWeight);
  v("BlkioWeightDevice", s.blkioWeightDevice);
  v("BlkioDeviceReadBps", s.blkioDeviceReadBps);
  v("BlkioDeviceWriteBps", s.blkioDeviceWriteBps);
  v("BlkioDeviceReadIOps", s.blkioDeviceReadIOps);
  v("BlkioDeviceWriteIOps", s.blkioDeviceWriteIOps);
  v("CpuPeriod", s.cpuPeriod);
  v("CpuQuota", s.cpuQuota);
  v("CpuRealtimePeriod", s.cpuRealtimePeriod);
  v("CpuRealtimeRuntime", s.cpuRealtimeRuntime);
  v("CpusetCpus", s.cpusetCpus);
  v("CpusetMems", s.cpusetMems);
  v("Devices", s.devices);
  v("DeviceCgroupRules", s.deviceCgroupRules);
  v("DeviceRequests", s.deviceRequests);
  v("KernelMemory", s.kernelMemory);
  v("KernelMemoryTCP", s.kernelMemoryTcp);
  v("MemoryReservation", s.memoryReservation);
  v("MemorySwap", s.memorySwap);
  v("MemorySwappiness", s.memorySwappiness);
  v("OomKillDisable", s.oomKillDisable);
  v("PidsLimit", s.pidsLimit);
  v("Ulimits", s.ulimits);
  v("CpuCount", s.cpuCount);
  v("CpuPercent", s.cpuPercent);
  v("IOMaximumIOps", s.ioMaximumIOps);
  v("IOMaximumBandwidth", s.ioMaximumBandwidth);
}

template <class V, class S>
requires jsoncodec::Is<S, HostConfig>
void describe(V& v, S& s) {
  v("Binds", s.binds);
  v("ContainerIDFile", s.containerIdFile);
  v("LogConfig", s.logConfig);
  v("NetworkMode", s.networkMode);
  v("PortBindings", s.portBindings);
  v("RestartPolicy", s.restartPolicy);
  v("AutoRemove", s.autoRemove);
  v("VolumeDriver", s.volumeDriver);
  v("VolumesFrom", s.volumesFrom);
  v("ConsoleSize", s.consoleSize);
  v("Annotations", s.annotations, kOmit);
  v("CapAdd", s.capAdd);
  v("CapDrop", s.capDrop);
  v("CgroupnsMode", s.cgroupnsMode);
  v("Dns", s.dns);
  v("DnsOptions", s.dnsOptions);
  v("DnsSearch", s.dnsSearch);
  v("ExtraHosts", s.extraHosts);
  v("GroupAdd", s.groupAdd);
  v("IpcMode", s.ipcMode);
  v("Cgroup", s.cgroup);
  v("Links", s.links);
  v("OomScoreAdj", s.oomScoreAdj);
  v("PidMode", s.pidMode);
  v("Privileged", s.privileged);
  v("PublishAllPorts", s.publishAllPorts);
  v("ReadonlyRootfs", s.readonlyRootfs);
  v("SecurityOpt", s.securityOpt);
  v("StorageOpt", s.storageOpt, kOmit);
  v("Tmpfs", s.tmpfs, kOmit);
  v("UTSMode", s.utsMode);
  v("UsernsMode", s.usernsMode);
  v("ShmSize", s.shmSize);
  v("Sysctls", s.sysctls, kOmit);
  v("Runtime", s.runtime, kOmit);
  v("Isolation", s.isolation);
  describe(v, s.resources);  // Go's embedded struct: its fields at this level
  v("Mounts", s.mounts, kOmit);
  v("MaskedPaths", s.maskedPaths);
  v("ReadonlyPaths", s.readonlyPaths);
  v("Init", s.init, kOmit);
  v("RestartOnUnhealthy", s.restartOnUnhealthy, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, EndpointIpamConfig>
void describe(V& v, S& s) {
  v("IPv4Address", s.ipv4Address, kOmit);
  v("IPv6Address", s.ipv6Address, kOmit);
  v("LinkLocalIPs", s.linkLocalIps, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, EndpointSettings>
void describe(V& v, S& s) {
  v("IPAMConfig", s.ipamConfig);
  v("Links", s.links);
  v("Aliases", s.aliases);
  v("MacAddress", s.macAddress);
  v("DriverOpts", s.driverOpts);
  v("NetworkID", s.networkId);
  v("EndpointID", s.endpointId);
  v("Gateway", s.gateway);
  v("IPAddress", s.ipAddress);
  v("IPPrefixLen", s.ipPrefixLen);
  v("IPv6Gateway", s.ipv6Gateway);
  v("GlobalIPv6Address", s.globalIpv6Address);
  v("GlobalIPv6PrefixLen", s.globalIpv6PrefixLen);
  v("DNSNames", s.dnsNames, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, NetworkingConfig>
void describe(V& v, S& s) {
  v("EndpointsConfig", s.endpointsConfig);
}

struct CreateWrapper {
  static constexpr std::string_view goName = "container.CreateRequest";
  CreateRequest& r;
};
template <class V, class S>
requires jsoncodec::Is<S, CreateWrapper>
void describe(V& v, S& s) {
  describe(v, s.r.config);
  v("HostConfig", s.r.hostConfig);
  v("NetworkingConfig", s.r.networkingConfig);
}

struct UpdateWrapper {
  static constexpr std::string_view goName = "container.UpdateConfig";
  UpdateRequest& r;
};
template <class V, class S>
requires jsoncodec::Is<S, UpdateWrapper>
void describe(V& v, S& s) {
  describe(v, s.r.resources);
  v("RestartPolicy", s.r.restartPolicy);
}

// The network and volume request bodies (requests.h).
template <class V, class S>
requires jsoncodec::Is<S, IpamPool>
void describe(V& v, S& s) {
  v("Subnet", s.subnet, kOmit);
  v("IPRange", s.ipRange, kOmit);
  v("Gateway", s.gateway, kOmit);
  v("AuxiliaryAddresses", s.auxAddress, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, Ipam>
void describe(V& v, S& s) {
  v("Driver", s.driver);
  v("Config", s.config);
  v("Options", s.options);
}

template <class V, class S>
requires jsoncodec::Is<S, ConfigReference>
void describe(V& v, S& s) {
  v("Network", s.network);
}

template <class V, class S>
requires jsoncodec::Is<S, NetworkCreateRequest>
void describe(V& v, S& s) {
  v("Name", s.name);
  v("CheckDuplicate", s.checkDuplicate, kOmit);
  v("Driver", s.driver);
  v("Scope", s.scope);
  v("EnableIPv6", s.enableIpv6, kOmit);
  v("IPAM", s.ipam);
  v("Internal", s.internal);
  v("Attachable", s.attachable);
  v("Ingress", s.ingress);
  v("ConfigOnly", s.configOnly);
  v("ConfigFrom", s.configFrom);
  v("Options", s.options);
  v("Labels", s.labels);
}

template <class V, class S>
requires jsoncodec::Is<S, NetworkConnectRequest>
void describe(V& v, S& s) {
  v("Container", s.container);
  v("EndpointConfig", s.endpointConfig, kOmit);
}

template <class V, class S>
requires jsoncodec::Is<S, NetworkDisconnectRequest>
void describe(V& v, S& s) {
  v("Container", s.container);
  v("Force", s.force);
}

template <class V, class S>
requires jsoncodec::Is<S, VolumeCreateRequest>
void describe(V& v, S& s) {
  v("Name", s.name);
  v("Driver", s.driver);
  v("DriverOpts", s.driverOpts);
  v("Labels", s.labels);
}

template <class V, class S>
requires jsoncodec::Is<S, ExecConfig>
void describe(V& v, S& s) {
  v("User", s.user);
  v("Privileged", s.privileged);
  v("Tty", s.tty);
  v("ConsoleSize", s.consoleSize, kOmit);
  v("AttachStdin", s.attachStdin);
  v("AttachStderr", s.attachStderr);
  v("AttachStdout", s.attachStdout);
  v("DetachKeys", s.detachKeys);
  v("Env", s.env);
  v("WorkingDir", s.workingDir);
  v("Cmd", s.cmd);
}

template <class V, class S>
requires jsoncodec::Is<S, ExecStartRequest>
void describe(V& v, S& s) {
  v("Detach", s.detach);
  v("Tty", s.tty);
  v("ConsoleSize", s.consoleSize, kOmit);
}

namespace {

template <class T>
Result<T> strict(const nlohmann::json& body) {
  T r;
  jsoncodec::Decoder d;
  if (auto ok = d.decode(body, r); !ok) return invalid("invalid JSON: " + ok.error().message());
  return r;
}

template <class T>
T lenient(const nlohmann::json& j, std::vector<std::string>* skipped) {
  T out;
  jsoncodec::Decoder d(true);
  (void)d.decode(j, out);
  if (skipped) *skipped = d.skipped();
  return out;
}

}  // namespace

Result<CreateRequest> decodeCreate(const nlohmann::json& body) {
  CreateRequest r;
  CreateWrapper w{r};
  jsoncodec::Decoder d;
  if (auto ok = d.decode(body, w); !ok) return invalid("invalid JSON: " + ok.error().message());
  return r;
}

Result<UpdateRequest> decodeUpdate(const nlohmann::json& body) {
  UpdateRequest r;
  UpdateWrapper w{r};
  jsoncodec::Decoder d;
  if (auto ok = d.decode(body, w); !ok) return invalid("invalid JSON: " + ok.error().message());
  return r;
}

Result<NetworkCreateRequest> decodeNetworkCreate(const nlohmann::json& body) {
  return strict<NetworkCreateRequest>(body);
}
Result<NetworkConnectRequest> decodeNetworkConnect(const nlohmann::json& body) {
  return strict<NetworkConnectRequest>(body);
}
Result<NetworkDisconnectRequest> decodeNetworkDisconnect(const nlohmann::json& body) {
  return strict<NetworkDisconnectRequest>(body);
}
Result<VolumeCreateRequest> decodeVolumeCreate(const nlohmann::json& body) {
  return strict<VolumeCreateRequest>(body);
}

Result<ExecConfig> decodeExecConfig(const nlohmann::json& body) {
  return strict<ExecConfig>(body);
}
Result<ExecStartRequest> decodeExecStart(const nlohmann::json& body) {
  return strict<ExecStartRequest>(body);
}

Config decodeConfig(const nlohmann::json& j, std::vector<std::string>* skipped) {
  return lenient<Config>(j, skipped);
}
HostConfig decodeHostConfig(const nlohmann::json& j, std::vector<std::string>* skipped) {
  return lenient<HostConfig>(j, skipped);
}
Result<EndpointSettings> decodeEndpointStrict(const nlohmann::json& j) {
  EndpointSettings e;
  jsoncodec::Decoder d;
  TRYV(d.decode(j, e));
  return e;
}

nlohmann::json encode(const Config& c) {
  return jsoncodec::encode(c);
}
nlohmann::json encode(const HostConfig& h) {
  return jsoncodec::encode(h);
}
nlohmann::json encode(const EndpointSettings& e) {
  return jsoncodec::encode(e);
}
nlohmann::json encode(const HealthConfig& h) {
  return jsoncodec::encode(h);
}

}  // namespace berth::engine::spec
