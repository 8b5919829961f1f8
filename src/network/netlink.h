// Network devices, addresses and routes over rtnetlink, through libnl-route (no `ip` subprocesses).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "network/ipam.h"

struct nl_sock;

namespace berth::network {

// A route socket bound to one network namespace for its whole life (the namespace it was opened in).
class Netlink {
 public:
  // The calling thread's namespace.
  static Result<Netlink> open();
  // The namespace `netnsFd` refers to (opened from a short-lived thread that joins it).
  static Result<Netlink> openIn(int netnsFd);

  Result<int> linkIndex(const std::string& name);  // NotFound when there is none
  Result<bool> linkExists(const std::string& name);
  Result<std::vector<std::string>> linkNames();
  // The devices attached to `bridge`.
  Result<std::vector<std::string>> portsOf(const std::string& bridge);
  Result<void> createBridge(const std::string& name, int mtu = 0);
  // A veth pair: `hostName` here, its peer `peerName` made directly in the namespace `peerNetnsFd` (-1:
  // here), in one request.
  struct VethPair {
    std::string hostName, peerName;
    int peerNetnsFd = -1;
    int peerIndex = 0;             // the peer's ifindex in its namespace (0: the kernel's choice)
    std::vector<uint8_t> peerMac;  // 6 bytes, or the kernel's random one
    int masterIndex = 0;           // the host end is attached to this bridge
    bool up = false;               // the host end up
    int mtu = 0;
  };
  Result<void> createVethPair(const VethPair& v);
  Result<void> deleteLink(const std::string& name);  // gone already: fine
  Result<void> setUp(const std::string& name);
  Result<void> setUp(int index);
  Result<void> setMaster(const std::string& name, const std::string& bridge);
  Result<void> addAddress(const std::string& name, Address addr, int prefix);
  Result<void> addAddress(int index, Address addr, int prefix);
  Result<std::vector<Subnet>> addresses(const std::string& name);  // IPv4 (address and prefix)
  Result<void> addDefaultRoute(Address gateway, const std::string& dev);
  Result<void> addDefaultRoute(Address gateway, int index);
  // The IPv4 destinations of the main routing table (default route left out).
  Result<std::vector<Subnet>> routes();

 private:
  struct Closer {
    void operator()(nl_sock* s) const;
  };
  explicit Netlink(nl_sock* s) : sock_(s) {}
  std::unique_ptr<nl_sock, Closer> sock_;
};

}  // namespace berth::network
