// docker's networks: the predefined `bridge`, `host` and `none`, and user-defined bridge networks. Records
// in the engine's SQLite database; devices through src/network (bridge per network, a veth pair per
// container endpoint) and one nftables table of this daemon's (outbound NAT, isolation between networks).
// Used under the engine's lock.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/sqlite.h"
#include "engine/requests.h"
#include "network/ipam.h"
#include "network/nft.h"

namespace berth::engine {

struct Network {
  std::string id, name;
  std::string driver;  // bridge | host | null
  std::string created;
  std::string bridge;  // the device (bridge driver)
  network::Subnet subnet;
  network::Address gateway;
  bool internal = false, attachable = false, masquerade = true;
  std::map<std::string, std::string> labels, options;
  bool predefined() const { return name == "bridge" || name == "host" || name == "none"; }
};

// A container's place on a bridge network while it runs (kept in its record).
struct Endpoint {
  std::string networkId, endpointId, veth, mac;
  std::string iface = "eth0";  // its name inside the container
  network::Address ip, gateway;
  int prefix = 0;
  std::vector<std::string> aliases;
  nlohmann::json toJson() const;
  static Endpoint fromJson(const nlohmann::json& j);
};

// A published port of a running container (docker's NetworkSettings.Ports entry).
struct PortBinding {
  std::string proto;  // tcp | udp
  int containerPort = 0;
  std::string hostIp;  // "" for all of the host's addresses
  int hostPort = 0;
  nlohmann::json toJson() const;
  static PortBinding fromJson(const nlohmann::json& j);
};

class Networks {
 public:
  // `defaultBridge`: the device of the predefined `bridge` network (dockerd's --bridge), which also names
  // this daemon's nftables table (two daemons with their own bridges never rewrite each other's rules).
  static Result<std::unique_ptr<Networks>> open(db::Database& db, const std::string& defaultBridge);

  // By full id, name, or unique id prefix; NotFound "network X not found".
  Result<Network> find(const std::string& ref) const;
  std::vector<Network> list() const;
  // POST /networks/create (docker's body): a bridge network with its device made now.
  Result<Network> create(const spec::NetworkCreateRequest& req);
  // `inUse`: containers with an endpoint on it (their names, for the error).
  Result<void> remove(const Network& n, const std::vector<std::string>& inUse);

  // Connects the namespace `netnsFd` of container `containerId` to bridge network `n` as `eth0`:
  // ordered steps (bridge, veth pair, bridge port, address and route inside), undone on failure.
  // `taken`: the network's addresses in use.
  // `iface`: eth0 (the fast path: a namespace of ours holds lo only) or another name; `primary`: the
  // default route goes through it; `want`: the address asked for (--ip), or any free one.
  Result<Endpoint> attach(const Network& n, const std::string& containerId, int netnsFd,
                          const std::set<network::Address>& taken, const std::string& iface = "eth0",
                          bool primary = true, std::optional<network::Address> want = std::nullopt);
  // Forgets the endpoint; with `removeDevice`, removes its host side (which takes the pair) now. A
  // container's exit leaves that to the kernel: the pair goes with the namespace, and deleting a device
  // waits for RCU grace periods (10-30 ms here).
  void detach(const Endpoint& e, bool removeDevice);
  // At start: ports of our bridges that no running container owns (`live` veth names), removed.
  void reconcile(const std::set<std::string>& live);
  // The DNAT rules of container `id` (none: its rules go); the table is rewritten when they change.
  Result<void> setPublished(const std::string& id, std::vector<network::nft::PortRule> rules);

  nlohmann::json toJson(const Network& n, const nlohmann::json& containers) const;  // docker's shape

 private:
  Networks(db::Database& db) : db_(db) {}
  // Committed relaxed (under the engine's lock): the engine syncs (db::syncCommitted) once it let the lock
  // go, before the operation answers. A removal's commit is synced at once: its bridge goes after it.
  Result<void> save(const Network& n);
  Result<int> ensureBridge(const Network& n);  // its ifindex
  Result<void> applyRules();
  db::Database& db_;
  std::map<std::string, Network> byId_;
  std::string table_;
  bool rulesApplied_ = false;
  std::set<std::string> configured_;              // bridges set up (route_localnet) by this daemon
  std::map<std::string, network::Address> last_;  // the last address given on each network
  std::map<std::string, std::vector<network::nft::PortRule>> published_;  // by container
};

}  // namespace berth::engine
