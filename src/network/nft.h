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

// A published port: traffic to `hostPort` on the host (on `hostIp`, or any of its addresses when 0,
// 127.0.0.1 included) goes to `containerIp`:`containerPort`.
struct PortRule {
  std::string proto;  // tcp | udp
  Address hostIp;
  int hostPort = 0;
  Address containerIp;
  int containerPort = 0;
};

// The ruleset text: outbound NAT for each subnet; no forwarding between two of our bridges (containers on
// different networks do not reach each other); published ports as DNAT from outside (prerouting) and from
// the host itself (output), with the masquerading that makes the replies come back through the host (from
// 127.0.0.1, and from a container of the same bridge that used the host's address).
std::string ruleset(const std::string& table, const std::vector<BridgeRules>& bridges,
                    const std::vector<PortRule>& ports = {});

// Replaces our table with `ruleset(…)` (nothing at all removes it), atomically.
Result<void> apply(const std::string& table, const std::vector<BridgeRules>& bridges,
                   const std::vector<PortRule>& ports = {});
// Removes the table, if there is one.
Result<void> removeTable(const std::string& table);

// Runs nft commands (the syntax of nft(8)) in one transaction.
Result<void> run(const std::string& commands);

}  // namespace berth::network::nft
