// berth's packet filtering and NAT: one nftables table per daemon (`ip berth` for the default bridge),
// written whole from the daemon's state in one transaction through libnftables; no other table is read or
// touched.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "network/ipam.h"

namespace berth::network::nft {

struct BridgeRules {
  std::string bridge;  // the network's bridge device
  Subnet subnet;
  bool masquerade = true;  // outbound NAT (docker's com.docker.network.bridge.enable_ip_masquerade)
};

// The ruleset text for `bridges`: outbound NAT for each subnet, and no forwarding between two of our
// bridges (containers on different networks do not reach each other).
std::string ruleset(const std::string& table, const std::vector<BridgeRules>& bridges);

// Replaces our table with `ruleset(bridges)` (an empty list removes it), atomically.
Result<void> apply(const std::string& table, const std::vector<BridgeRules>& bridges);
// Removes the table, if there is one.
Result<void> removeTable(const std::string& table);

// Runs nft commands (the syntax of nft(8)) in one transaction.
Result<void> run(const std::string& commands);

}  // namespace berth::network::nft
