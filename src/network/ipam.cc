#include "network/ipam.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>

namespace berth::network {

std::string Address::str() const {
  char buf[INET_ADDRSTRLEN];
  in_addr a{htonl(value)};
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

Result<Address> Address::parse(const std::string& text) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1) return invalid("invalid IPv4 address: \"" + text + "\"");
  return Address{ntohl(a.s_addr)};
}

bool Subnet::overlaps(const Subnet& o) const {
  int p = std::min(prefix, o.prefix);
  uint32_t m = p == 0 ? 0 : ~uint32_t{0} << (32 - p);
  return (base.value & m) == (o.base.value & m);
}

std::string Subnet::str() const {
  return base.str() + "/" + std::to_string(prefix);
}

Result<Subnet> Subnet::parse(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos) return invalid("invalid CIDR address: " + text);
  TRY(Address a, Address::parse(text.substr(0, slash)));
  std::string p = text.substr(slash + 1);
  char* end = nullptr;
  long prefix = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end || prefix < 0 || prefix > 32) return invalid("invalid CIDR address: " + text);
  Subnet s{a, static_cast<int>(prefix)};
  if ((a.value & s.mask()) != a.value)
    return invalid("invalid subnet " + text + ": it should be " +
                   Subnet{{a.value & s.mask()}, s.prefix}.str());
  return s;
}

std::vector<Subnet> defaultPools() {
  std::vector<Subnet> out;
  for (uint32_t b = 17; b <= 31; ++b) out.push_back({{(172u << 24) | (b << 16)}, 16});
  for (uint32_t c = 0; c < 256; c += 16) out.push_back({{(192u << 24) | (168u << 16) | (c << 8)}, 20});
  return out;
}

Result<Subnet> pickSubnet(const std::vector<Subnet>& pools, const std::vector<Subnet>& used,
                          const std::vector<Subnet>& routed) {
  for (const Subnet& s : pools) {
    bool free = true;
    for (auto* list : {&used, &routed})
      for (const Subnet& u : *list)
        if (s.overlaps(u)) free = false;
    if (free) return s;
  }
  return fail(ErrorCategory::Unavailable,
              "all predefined address pools have been fully subnetted (give the network a --subnet)");
}

Result<Address> pickAddress(const Subnet& subnet, Address gateway, const std::set<Address>& taken,
                            Address after) {
  uint64_t lo = uint64_t{subnet.base.value} + 1, hi = subnet.last().value;  // [lo, hi)
  uint64_t start = subnet.contains(after) && after.value >= lo && after.value < hi ? after.value + 1 : lo;
  for (uint64_t i = 0, n = hi > lo ? hi - lo : 0; i < n; ++i) {
    uint64_t v = start + i;
    if (v >= hi) v -= n;
    Address a{static_cast<uint32_t>(v)};
    if (a != gateway && !taken.count(a)) return a;
  }
  return fail(ErrorCategory::Unavailable, "no available IPv4 addresses on network " + subnet.str());
}

std::vector<uint8_t> macFor(Address a) {
  return {0x02,
          0x42,
          static_cast<uint8_t>(a.value >> 24),
          static_cast<uint8_t>(a.value >> 16),
          static_cast<uint8_t>(a.value >> 8),
          static_cast<uint8_t>(a.value)};
}

std::string macString(const std::vector<uint8_t>& mac) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < mac.size(); ++i) {
    std::snprintf(buf, sizeof buf, i ? ":%02x" : "%02x", mac[i]);
    out += buf;
  }
  return out;
}

}  // namespace berth::network
