// Helpers shared by the engine's files (not part of its interface).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

// docker's rule for container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
bool validContainerName(std::string_view name);

// A container's health check, with docker's defaults filled in (interval and timeout 30 s, start interval
// 5 s, 3 retries); none for no check or Test ["NONE"].
std::optional<HealthProbe> healthProbeOf(const spec::Config& config);

// HostConfig.ExtraHosts (`--add-host name:ip`, ip may be "host-gateway"), checked: (name, ip) pairs.
Result<std::vector<std::pair<std::string, std::string>>> extraHosts(const spec::HostConfig& hostConfig);

// HostConfig.PortBindings (and PublishAllPorts over `exposed`, ExposedPorts' keys) checked and listed;
// host ports 0 (any) or a range "a-b" (lo, hi) are chosen at start.
struct PortRequest {
  std::string proto;
  int containerPort = 0;
  std::string hostIp;
  int hostLo = 0, hostHi = 0;  // 0, 0: any
};
Result<std::vector<PortRequest>> portBindingsOf(const spec::HostConfig& hostConfig,
                                                const std::set<std::string>& exposed);
// The /etc/hostname, hosts and resolv.conf that `dir` (a container's run directory) holds, bound over the
// image's, except where the user mounts something of their own.
void bindEtcFiles(image::RunOptions& o, const std::string& dir);
// docker's Config + HostConfig → the image service's run options (run_options.cc).
Result<image::RunOptions> runOptions(const Container& c, const std::string& cgroupParent,
                                     const std::string& initPath);
// json-file's max-size and max-file over the daemon's defaults.
void logRotation(const spec::LogConfig& lc, int64_t& maxSize, int& maxFiles);

// The nftables rules of a container's published ports (to its endpoint's address).
std::vector<network::nft::PortRule> portRules(const Container& c);

}  // namespace berth::engine
