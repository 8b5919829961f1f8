// A container's spec as docker's API has it: Config, HostConfig and NetworkingConfig, typed. A create body
// is decoded into them once (spec_codec.cc, Go's rules and words) and checked once (spec_validate.cc,
// docker's 400s); the record stores them with the same codec, and start, update and inspect read them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/json_codec.h"

namespace berth::engine::spec {

using jsoncodec::Empty;
using jsoncodec::Map;
using jsoncodec::Slice;
using jsoncodec::StrSlice;

struct HealthConfig {
  static constexpr std::string_view goName = "container.HealthConfig";
  Slice<std::string> test;  // ["NONE"] | ["CMD", args…] | ["CMD-SHELL", command]
  int64_t interval = 0, timeout = 0, startPeriod = 0, startInterval = 0;  // nanoseconds, 0: the default
  int retries = 0;
};

struct Config {
  static constexpr std::string_view goName = "container.Config";
  std::string hostname, domainname, user;
  bool attachStdin = false, attachStdout = false, attachStderr = false;
  Map<Empty> exposedPorts;  // "80/tcp"
  bool tty = false, openStdin = false, stdinOnce = false;
  Slice<std::string> env;
  StrSlice cmd;
  std::optional<HealthConfig> healthcheck;
  bool argsEscaped = false;
  std::string image;
  Map<Empty> volumes;
  std::string workingDir;
  StrSlice entrypoint;
  bool networkDisabled = false;
  std::string macAddress;
  Slice<std::string> onBuild;
  Map<std::string> labels;
  std::string stopSignal;
  std::optional<int> stopTimeout;
  StrSlice shell;
};

struct LogConfig {
  static constexpr std::string_view goName = "container.LogConfig";
  std::string type;
  Map<std::string> config;
};

struct RestartPolicy {
  static constexpr std::string_view goName = "container.RestartPolicy";
  std::string name;  // "" | no | always | on-failure | unless-stopped
  int maximumRetryCount = 0;
};

struct PortBinding {
  static constexpr std::string_view goName = "nat.PortBinding";
  std::string hostIp, hostPort;
};

struct Ulimit {
  static constexpr std::string_view goName = "units.Ulimit";
  std::string name;
  int64_t hard = 0, soft = 0;
};

struct DeviceMapping {
  static constexpr std::string_view goName = "container.DeviceMapping";
  std::string pathOnHost, pathInContainer, cgroupPermissions;
};

struct WeightDevice {
  static constexpr std::string_view goName = "blkiodev.WeightDevice";
  std::string path;
  uint16_t weight = 0;
};

struct ThrottleDevice {
  static constexpr std::string_view goName = "blkiodev.ThrottleDevice";
  std::string path;
  uint64_t rate = 0;
};

struct DeviceRequest {
  static constexpr std::string_view goName = "container.DeviceRequest";
  std::string driver;
  int count = 0;
  Slice<std::string> deviceIds;
  Slice<Slice<std::string>> capabilities;
  Map<std::string> options;
};

struct BindOptions {
  static constexpr std::string_view goName = "mount.BindOptions";
  std::string propagation;
  bool nonRecursive = false, createMountpoint = false, readOnlyNonRecursive = false,
       readOnlyForceRecursive = false;
};

struct VolumeDriver {
  static constexpr std::string_view goName = "mount.Driver";
  std::string name;
  Map<std::string> options;
};

struct VolumeOptions {
  static constexpr std::string_view goName = "mount.VolumeOptions";
  bool noCopy = false;
  Map<std::string> labels;
  std::string subpath;
  std::optional<VolumeDriver> driverConfig;
};

struct TmpfsOptions {
  static constexpr std::string_view goName = "mount.TmpfsOptions";
  int64_t sizeBytes = 0;
  uint32_t mode = 0;  // Go's os.FileMode
};

// One entry of HostConfig.Mounts (docker's mount.Mount).
struct Mount {
  static constexpr std::string_view goName = "mount.Mount";
  std::string type, source, target;
  bool readOnly = false;
  std::string consistency;
  std::optional<BindOptions> bindOptions;
  std::optional<VolumeOptions> volumeOptions;
  std::optional<TmpfsOptions> tmpfsOptions;
};

// docker's container.Resources (part of HostConfig, and the body of an update).
struct Resources {
  int64_t cpuShares = 0, memory = 0, nanoCpus = 0;
  std::string cgroupParent;
  uint16_t blkioWeight = 0;
  Slice<WeightDevice> blkioWeightDevice;
  Slice<ThrottleDevice> blkioDeviceReadBps, blkioDeviceWriteBps, blkioDeviceReadIOps, blkioDeviceWriteIOps;
  int64_t cpuPeriod = 0, cpuQuota = 0, cpuRealtimePeriod = 0, cpuRealtimeRuntime = 0;
  std::string cpusetCpus, cpusetMems;
  Slice<DeviceMapping> devices;
  Slice<std::string> deviceCgroupRules;
  Slice<DeviceRequest> deviceRequests;
  int64_t kernelMemory = 0, kernelMemoryTcp = 0, memoryReservation = 0, memorySwap = 0;
  std::optional<int64_t> memorySwappiness;
  std::optional<bool> oomKillDisable;
  std::optional<int64_t> pidsLimit;
  Slice<Ulimit> ulimits;
  int64_t cpuCount = 0, cpuPercent = 0;
  uint64_t ioMaximumIOps = 0, ioMaximumBandwidth = 0;
};

struct HostConfig {
  static constexpr std::string_view goName = "container.HostConfig";
  Slice<std::string> binds;
  std::string containerIdFile;
  LogConfig logConfig;
  std::string networkMode;
  Map<Slice<PortBinding>> portBindings;  // "80/tcp" → bindings
  RestartPolicy restartPolicy;
  bool autoRemove = false;
  std::string volumeDriver;
  Slice<std::string> volumesFrom;
  Slice<unsigned> consoleSize{0, 0};
  Map<std::string> annotations;
  StrSlice capAdd, capDrop;
  std::string cgroupnsMode;
  Slice<std::string> dns, dnsOptions, dnsSearch, extraHosts, groupAdd;
  std::string ipcMode, cgroup;
  Slice<std::string> links;
  int oomScoreAdj = 0;
  std::string pidMode;
  bool privileged = false, publishAllPorts = false, readonlyRootfs = false;
  Slice<std::string> securityOpt;
  Map<std::string> storageOpt, tmpfs;
  std::string utsMode, usernsMode;
  int64_t shmSize = 0;
  Map<std::string> sysctls;
  std::string runtime, isolation;
  Resources resources;
  Slice<Mount> mounts;
  Slice<std::string> maskedPaths, readonlyPaths;
  std::optional<bool> init;
  bool restartOnUnhealthy = false;  // berth's: restart a container its health check finds unhealthy
};

struct EndpointIpamConfig {
  static constexpr std::string_view goName = "network.EndpointIPAMConfig";
  std::string ipv4Address, ipv6Address;
  Slice<std::string> linkLocalIps;
};

struct EndpointSettings {
  static constexpr std::string_view goName = "network.EndpointSettings";
  std::optional<EndpointIpamConfig> ipamConfig;
  Slice<std::string> links, aliases;
  std::string macAddress;
  Map<std::string> driverOpts;
  std::string networkId, endpointId, gateway, ipAddress;
  int ipPrefixLen = 0;
  std::string ipv6Gateway, globalIpv6Address;
  int globalIpv6PrefixLen = 0;
  Slice<std::string> dnsNames;
};

struct NetworkingConfig {
  static constexpr std::string_view goName = "network.NetworkingConfig";
  Map<EndpointSettings> endpointsConfig;
};

// POST /containers/create: docker's ContainerConfigWrapper (Config's fields at the top level).
struct CreateRequest {
  Config config;
  HostConfig hostConfig;
  NetworkingConfig networkingConfig;
};

// POST /containers/{id}/update: docker's UpdateConfig (Resources' fields at the top level).
struct UpdateRequest {
  Resources resources;
  std::optional<RestartPolicy> restartPolicy;
};

// Decoding with Go's rules: wrong types, fractions and out-of-range integers are InvalidArgument errors
// in Go's words. Nothing is checked beyond types here (see validate).
Result<CreateRequest> decodeCreate(const nlohmann::json& body);
Result<UpdateRequest> decodeUpdate(const nlohmann::json& body);
// A record's Config and HostConfig (written by encode); lenient: a field of the wrong type (a record of an
// older version, which took anything) is dropped and named in `skipped`.
Config decodeConfig(const nlohmann::json& j, std::vector<std::string>* skipped = nullptr);
HostConfig decodeHostConfig(const nlohmann::json& j, std::vector<std::string>* skipped = nullptr);
Result<EndpointSettings> decodeEndpointStrict(const nlohmann::json& j);

// docker's JSON of each (inspect's Config and HostConfig, and the record's).
nlohmann::json encode(const Config& c);
nlohmann::json encode(const HostConfig& h);
nlohmann::json encode(const EndpointSettings& e);
nlohmann::json encode(const HealthConfig& h);

}  // namespace berth::engine::spec
