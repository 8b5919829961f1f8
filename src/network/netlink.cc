#include "network/netlink.h"

#include "base/fd.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>

#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace berth::network {
namespace {

Error nlError(int err, const std::string& what) {
  err = err < 0 ? -err : err;
  ErrorCategory cat = ErrorCategory::Internal;
  if (err == NLE_EXIST) cat = ErrorCategory::Conflict;
  if (err == NLE_OBJ_NOTFOUND || err == NLE_NODEV) cat = ErrorCategory::NotFound;
  if (err == NLE_PERM) cat = ErrorCategory::PermissionDenied;
  return Error(cat, what + ": " + nl_geterror(err));
}

// libnl objects, released by their owners' put functions.
template <class T, void (*Put)(T*)>
struct Ref {
  T* p = nullptr;
  Ref() = default;
  explicit Ref(T* x) : p(x) {}
  Ref(Ref&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  Ref& operator=(Ref&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
  ~Ref() {
    if (p) Put(p);
  }
  T* get() const { return p; }
  T** out() { return &p; }
};
using Link = Ref<rtnl_link, rtnl_link_put>;
using Addr = Ref<nl_addr, nl_addr_put>;
using RtAddr = Ref<rtnl_addr, rtnl_addr_put>;
using Route = Ref<rtnl_route, rtnl_route_put>;
using Cache = Ref<nl_cache, nl_cache_free>;

Result<Addr> ipv4(Address a, int prefix) {
  uint32_t be = htonl(a.value);
  Addr out(nl_addr_build(AF_INET, &be, sizeof be));
  if (!out.get()) return fail("out of memory building a netlink address");
  nl_addr_set_prefixlen(out.get(), prefix);
  return out;
}

Result<nl_sock*> connectRoute() {
  nl_sock* s = nl_socket_alloc();
  if (!s) return fail("out of memory allocating a netlink socket");
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) {
    nl_socket_free(s);
    return std::unexpected(nlError(err, "connecting to rtnetlink"));
  }
  return s;
}

}  // namespace

void Netlink::Closer::operator()(nl_sock* s) const {
  nl_socket_free(s);
}

Result<Netlink> Netlink::open() {
  TRY(nl_sock * s, connectRoute());
  return Netlink(s);
}

Result<Netlink> Netlink::openIn(int netnsFd) {
  // A socket belongs to the namespace it was made in, whoever uses it later: this thread joins the
  // namespace for the time of a socket(2) and comes back (a thread of its own for that cost more than the
  // rest of the attach under load).
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return sysFail("opening this thread's network namespace");
  if (::setns(netnsFd, CLONE_NEWNET) < 0) return sysFail("joining the container's network namespace");
  Result<nl_sock*> made = connectRoute();
  if (::setns(home.get(), CLONE_NEWNET) < 0) {
    // Never seen; a daemon thread left in a container's namespace would be worse than stopping.
    std::fprintf(stderr, "berthd: cannot return to the host's network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  if (!made) return std::unexpected(made.error());
  return Netlink(*made);
}

Result<int> Netlink::linkIndex(const std::string& name) {
  Link l;
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), l.out()); err < 0)
    return std::unexpected(nlError(err, "network device " + name));
  return rtnl_link_get_ifindex(l.get());
}

Result<bool> Netlink::linkExists(const std::string& name) {
  auto i = linkIndex(name);
  if (i) return true;
  if (i.error().category() == ErrorCategory::NotFound) return false;
  return std::unexpected(i.error());
}

Result<std::vector<std::string>> Netlink::linkNames() {
  Cache c;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, c.out()); err < 0)
    return std::unexpected(nlError(err, "listing network devices"));
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(c.get()); o; o = nl_cache_get_next(o))
    if (const char* n = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o))) out.emplace_back(n);
  return out;
}

Result<std::vector<std::string>> Netlink::portsOf(const std::string& bridge) {
  TRY(int master, linkIndex(bridge));
  Cache c;
  if (int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, c.out()); err < 0)
    return std::unexpected(nlError(err, "listing network devices"));
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(c.get()); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    if (rtnl_link_get_master(l) == master)
      if (const char* n = rtnl_link_get_name(l)) out.emplace_back(n);
  }
  return out;
}

Result<void> Netlink::createBridge(const std::string& name, int mtu) {
  Link l(rtnl_link_alloc());
  if (!l.get()) return fail("out of memory");
  rtnl_link_set_name(l.get(), name.c_str());
  if (int err = rtnl_link_set_type(l.get(), "bridge"); err < 0)
    return std::unexpected(nlError(err, "bridge " + name));
  if (mtu > 0) rtnl_link_set_mtu(l.get(), static_cast<unsigned>(mtu));
  if (int err = rtnl_link_add(sock_.get(), l.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nlError(err, "creating bridge " + name));
  return {};
}

Result<void> Netlink::createVethPair(const VethPair& v) {
  Link veth(rtnl_link_veth_alloc());
  if (!veth.get()) return fail("out of memory");
  rtnl_link_set_name(veth.get(), v.hostName.c_str());
  rtnl_link* peer = rtnl_link_veth_get_peer(veth.get());  // a reference of its own
  Link peerRef(peer);
  rtnl_link_set_name(peer, v.peerName.c_str());
  if (v.peerNetnsFd >= 0) rtnl_link_set_ns_fd(peer, v.peerNetnsFd);
  if (v.peerIndex > 0) rtnl_link_set_ifindex(peer, v.peerIndex);
  Addr mac;
  if (!v.peerMac.empty()) {
    mac = Addr(nl_addr_build(AF_LLC, v.peerMac.data(), v.peerMac.size()));
    if (mac.get()) rtnl_link_set_addr(peer, mac.get());
  }
  if (v.mtu > 0) {
    rtnl_link_set_mtu(veth.get(), static_cast<unsigned>(v.mtu));
    rtnl_link_set_mtu(peer, static_cast<unsigned>(v.mtu));
  }
  // One message: the kernel enslaves and sets up a device it creates (rtnl_newlink).
  if (v.masterIndex > 0) rtnl_link_set_master(veth.get(), v.masterIndex);
  if (v.up) rtnl_link_set_flags(veth.get(), IFF_UP);  // (the kernel refuses the peer's: setUp it)
  if (int err = rtnl_link_add(sock_.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nlError(err, "creating veth pair " + v.hostName));
  return {};
}

Result<void> Netlink::deleteLink(const std::string& name) {
  Link l(rtnl_link_alloc());
  if (!l.get()) return fail("out of memory");
  rtnl_link_set_name(l.get(), name.c_str());
  int err = rtnl_link_delete(sock_.get(), l.get());
  if (err < 0 && -err != NLE_NODEV && -err != NLE_OBJ_NOTFOUND)
    return std::unexpected(nlError(err, "deleting network device " + name));
  return {};
}

Result<void> Netlink::setUp(const std::string& name) {
  Link cur;
  if (int err = rtnl_link_get_kernel(sock_.get(), 0, name.c_str(), cur.out()); err < 0)
    return std::unexpected(nlError(err, "network device " + name));
  Link change(rtnl_link_alloc());
  if (!change.get()) return fail("out of memory");
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock_.get(), cur.get(), change.get(), 0); err < 0)
    return std::unexpected(nlError(err, "setting " + name + " up"));
  return {};
}

Result<void> Netlink::setUp(int index) {
  Link cur(rtnl_link_alloc()), change(rtnl_link_alloc());
  if (!cur.get() || !change.get()) return fail("out of memory");
  rtnl_link_set_ifindex(cur.get(), index);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock_.get(), cur.get(), change.get(), 0); err < 0)
    return std::unexpected(nlError(err, "setting device " + std::to_string(index) + " up"));
  return {};
}

Result<void> Netlink::setMaster(const std::string& name, const std::string& bridge) {
  TRY(int master, linkIndex(bridge));
  TRY(int slave, linkIndex(name));
  if (int err = rtnl_link_enslave_ifindex(sock_.get(), master, slave); err < 0)
    return std::unexpected(nlError(err, "attaching " + name + " to " + bridge));
  return {};
}

Result<void> Netlink::addAddress(const std::string& name, Address addr, int prefix) {
  TRY(int index, linkIndex(name));
  return addAddress(index, addr, prefix);
}

Result<void> Netlink::addAddress(int index, Address addr, int prefix) {
  RtAddr a(rtnl_addr_alloc());
  if (!a.get()) return fail("out of memory");
  rtnl_addr_set_ifindex(a.get(), index);
  TRY(Addr local, ipv4(addr, prefix));
  rtnl_addr_set_local(a.get(), local.get());
  Subnet s{{addr.value & Subnet{{0}, prefix}.mask()}, prefix};
  if (prefix < 31) {
    TRY(Addr bcast, ipv4(s.last(), 32));
    rtnl_addr_set_broadcast(a.get(), bcast.get());
  }
  if (int err = rtnl_addr_add(sock_.get(), a.get(), 0); err < 0)
    return std::unexpected(nlError(err, "adding " + addr.str() + "/" + std::to_string(prefix)));
  return {};
}

Result<std::vector<Subnet>> Netlink::addresses(const std::string& name) {
  TRY(int index, linkIndex(name));
  Cache c;
  if (int err = rtnl_addr_alloc_cache(sock_.get(), c.out()); err < 0)
    return std::unexpected(nlError(err, "listing addresses"));
  std::vector<Subnet> out;
  for (nl_object* o = nl_cache_get_first(c.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != index || rtnl_addr_get_family(a) != AF_INET) continue;
    nl_addr* local = rtnl_addr_get_local(a);
    if (!local || nl_addr_get_len(local) != 4) continue;
    uint32_t be;
    std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
    out.push_back({{ntohl(be)}, static_cast<int>(nl_addr_get_prefixlen(local))});
  }
  return out;
}

Result<void> Netlink::addDefaultRoute(Address gateway, const std::string& dev) {
  TRY(int index, linkIndex(dev));
  return addDefaultRoute(gateway, index);
}

Result<void> Netlink::addDefaultRoute(Address gateway, int index) {
  Route r(rtnl_route_alloc());
  if (!r.get()) return fail("out of memory");
  rtnl_route_set_family(r.get(), AF_INET);
  TRY(Addr dst, ipv4({0}, 0));
  rtnl_route_set_dst(r.get(), dst.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!nh) return fail("out of memory");
  TRY(Addr gw, ipv4(gateway, 32));
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_nh_set_ifindex(nh, index);
  rtnl_route_add_nexthop(r.get(), nh);  // owned by the route from here
  if (int err = rtnl_route_add(sock_.get(), r.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return std::unexpected(nlError(err, "adding the default route via " + gateway.str()));
  return {};
}

Result<std::vector<Subnet>> Netlink::routes() {
  Cache c;
  if (int err = rtnl_route_alloc_cache(sock_.get(), AF_INET, 0, c.out()); err < 0)
    return std::unexpected(nlError(err, "listing routes"));
  std::vector<Subnet> out;
  for (nl_object* o = nl_cache_get_first(c.get()); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN) continue;
    nl_addr* dst = rtnl_route_get_dst(r);
    if (!dst || nl_addr_get_prefixlen(dst) == 0 || nl_addr_get_len(dst) != 4) continue;
    uint32_t be;
    std::memcpy(&be, nl_addr_get_binary_addr(dst), 4);
    int prefix = static_cast<int>(nl_addr_get_prefixlen(dst));
    Subnet s{{ntohl(be)}, prefix};
    s.base.value &= s.mask();
    out.push_back(s);
  }
  return out;
}

}  // namespace berth::network
