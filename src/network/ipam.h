// IPv4 address management: subnets (parsing, overlap), docker's default pools, and the choice of a free
// subnet and address. Pure functions over what the caller knows is in use: no state of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::network {

// An IPv4 address in host byte order.
struct Address {
  uint32_t value = 0;
  auto operator<=>(const Address&) const = default;
  std::string str() const;
  static Result<Address> parse(const std::string& text);
};

struct Subnet {
  Address base;  // network address (host bits zero)
  int prefix = 0;
  auto operator<=>(const Subnet&) const = default;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  bool contains(Address a) const { return (a.value & mask()) == base.value; }
  bool overlaps(const Subnet& o) const;
  Address first() const { return {base.value + 1}; }       // docker's gateway
  Address last() const { return {base.value | ~mask()}; }  // broadcast
  std::string str() const;                                 // "172.17.0.0/16"
  // "a.b.c.d/n"; host bits set are refused (docker: "invalid subnet ... : it should be ...").
  static Result<Subnet> parse(const std::string& text);
};

// Where new networks' subnets come from, in order: docker's defaults (172.17-31.0.0/16, then
// 192.168.0.0/20 ... 192.168.240.0/20).
std::vector<Subnet> defaultPools();

// The first subnet of `pools` that overlaps none of `used` (other networks) and `routed` (the host's routes).
Result<Subnet> pickSubnet(const std::vector<Subnet>& pools, const std::vector<Subnet>& used,
                          const std::vector<Subnet>& routed);

// The first address of `subnet` after `after` (wrapping around; from the start when `after` is outside it)
// that is not its network address, broadcast address, `gateway` or in `taken`. Allocating after the last
// one given, as docker's IPAM does, keeps a released address (and its MAC) out of use for a while.
Result<Address> pickAddress(const Subnet& subnet, Address gateway, const std::set<Address>& taken,
                            Address after = {});

// docker's MAC address for an IPv4 address: 02:42 and the four bytes of the address.
std::vector<uint8_t> macFor(Address a);
std::string macString(const std::vector<uint8_t>& mac);

}  // namespace berth::network
