// The bodies of docker's network and volume requests, typed: decoded once with Go's rules
// (requests_codec.cc), as the container spec is, so that nothing below the API reads their JSON.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/json_codec.h"
#include "engine/spec.h"

namespace berth::engine::spec {

struct IpamPool {
  static constexpr std::string_view goName = "network.IPAMConfig";
  std::string subnet, ipRange, gateway;
  Map<std::string> auxAddress;  // "AuxiliaryAddresses"
};

struct Ipam {
  static constexpr std::string_view goName = "network.IPAM";
  std::string driver;
  Slice<IpamPool> config;
  Map<std::string> options;
};

struct ConfigReference {
  static constexpr std::string_view goName = "network.ConfigReference";
  std::string network;
};

// POST /networks/create (docker's types.NetworkCreateRequest).
struct NetworkCreateRequest {
  static constexpr std::string_view goName = "types.NetworkCreateRequest";
  std::string name;
  bool checkDuplicate = false;  // always so since API 1.44: names are unique
  std::string driver, scope;
  std::optional<bool> enableIpv6;
  std::optional<Ipam> ipam;
  bool internal = false, attachable = false, ingress = false, configOnly = false;
  std::optional<ConfigReference> configFrom;
  Map<std::string> options, labels;
};

// POST /networks/{id}/connect and disconnect (docker's types.NetworkConnect / NetworkDisconnect).
struct NetworkConnectRequest {
  static constexpr std::string_view goName = "types.NetworkConnect";
  std::string container;
  std::optional<EndpointSettings> endpointConfig;
};
struct NetworkDisconnectRequest {
  static constexpr std::string_view goName = "types.NetworkDisconnect";
  std::string container;
  bool force = false;
};

// POST /volumes/create (docker's volume.CreateOptions).
struct VolumeCreateRequest {
  static constexpr std::string_view goName = "volume.CreateOptions";
  std::string name, driver;
  Map<std::string> driverOpts, labels;
};

// POST /containers/{id}/exec (docker's container.ExecOptions) and POST /exec/{id}/start.
struct ExecConfig {
  static constexpr std::string_view goName = "container.ExecOptions";
  std::string user;
  bool privileged = false, tty = false;
  Slice<unsigned> consoleSize;  // [rows, cols]
  bool attachStdin = false, attachStderr = false, attachStdout = false;
  std::string detachKeys;
  Slice<std::string> env;
  std::string workingDir;
  StrSlice cmd;  // docker takes an array; a string is one argument, as it was here before
};
struct ExecStartRequest {
  static constexpr std::string_view goName = "container.ExecStartOptions";
  bool detach = false;
  std::optional<bool> tty;
  Slice<unsigned> consoleSize;
};

// Go's rules and words: "invalid JSON: json: cannot unmarshal …" (InvalidArgument).
Result<NetworkCreateRequest> decodeNetworkCreate(const nlohmann::json& body);
Result<NetworkConnectRequest> decodeNetworkConnect(const nlohmann::json& body);
Result<NetworkDisconnectRequest> decodeNetworkDisconnect(const nlohmann::json& body);
Result<VolumeCreateRequest> decodeVolumeCreate(const nlohmann::json& body);
Result<ExecConfig> decodeExecConfig(const nlohmann::json& body);
Result<ExecStartRequest> decodeExecStart(const nlohmann::json& body);

}  // namespace berth::engine::spec
