// src/network against the real kernel, in private network namespaces (the host's links, addresses, routes
// and nftables are never touched).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "base/fd.h"
#include "network/netlink.h"
#include "network/nft.h"
#include "network/steps.h"

namespace berth::network {
namespace {

#define REQUIRE_ROOT()                                                            \
  do {                                                                            \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (real network namespaces)"; \
  } while (0)

// A new, empty network namespace, held by an fd (gone with the fd).
UniqueFd newNetns() {
  UniqueFd fd;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) == 0) fd.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  });
  t.join();
  return fd;
}

Netlink::VethPair pair(std::string host, std::string peer, int netns, std::vector<uint8_t> mac = {}) {
  Netlink::VethPair v;
  v.hostName = std::move(host), v.peerName = std::move(peer), v.peerNetnsFd = netns,
  v.peerMac = std::move(mac);
  return v;
}

// Runs f in a thread inside the namespace (libnftables works on the calling thread's).
template <class F>
void inNetns(int fd, F f) {
  std::thread t([&] {
    ASSERT_EQ(::setns(fd, CLONE_NEWNET), 0);
    f();
  });
  t.join();
}

TEST(Netlink, BridgeVethAddressesAndRouteAcrossTwoNamespaces) {
  REQUIRE_ROOT();
  UniqueFd host = newNetns(), ctr = newNetns();
  ASSERT_TRUE(host && ctr);
  auto h = Netlink::openIn(host.get());
  auto c = Netlink::openIn(ctr.get());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_TRUE(c) << c.error().message();
  Subnet net = *Subnet::parse("10.99.0.0/24");
  Address gw = net.first(), ip = *Address::parse("10.99.0.2");

  ASSERT_TRUE(h->createBridge("tbr0"));
  auto again = h->createBridge("tbr0");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().category(), ErrorCategory::Conflict);
  ASSERT_TRUE(h->addAddress("tbr0", gw, net.prefix));
  ASSERT_TRUE(h->setUp("tbr0"));
  auto made = h->createVethPair(pair("vtest0", "eth0", ctr.get(), macFor(ip)));
  ASSERT_TRUE(made) << made.error().message();
  ASSERT_TRUE(h->setMaster("vtest0", "tbr0"));
  ASSERT_TRUE(h->setUp("vtest0"));
  EXPECT_FALSE(*h->linkExists("eth0"));  // the peer was made in the other namespace
  ASSERT_TRUE(*c->linkExists("eth0"));
  ASSERT_TRUE(c->addAddress("eth0", ip, net.prefix));
  ASSERT_TRUE(c->setUp("eth0"));
  auto route = c->addDefaultRoute(gw, "eth0");
  ASSERT_TRUE(route) << route.error().message();

  auto addrs = c->addresses("eth0");
  ASSERT_TRUE(addrs);
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ((*addrs)[0].base, ip);
  auto hr = h->routes();
  ASSERT_TRUE(hr);
  EXPECT_NE(std::find(hr->begin(), hr->end(), net), hr->end()) << "the bridge's subnet is routed";

  // Deleting the host end takes the pair; deleting twice is fine.
  ASSERT_TRUE(h->deleteLink("vtest0"));
  EXPECT_FALSE(*c->linkExists("eth0"));
  EXPECT_TRUE(h->deleteLink("vtest0"));
  // In one request: the host end on the bridge and up, the peer at a chosen index.
  UniqueFd ctr2 = newNetns();
  auto c2 = Netlink::openIn(ctr2.get());
  ASSERT_TRUE(c2);
  Netlink::VethPair v = pair("vtest2", "eth0", ctr2.get(), macFor(ip));
  v.peerIndex = 2;
  v.masterIndex = *h->linkIndex("tbr0");
  v.up = true;
  auto one = h->createVethPair(v);
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(*c2->linkIndex("eth0"), 2);
  ASSERT_TRUE(c2->setUp(2));
  auto ports = h->portsOf("tbr0");
  ASSERT_TRUE(ports);
  EXPECT_EQ(*ports, std::vector<std::string>{"vtest2"});
  ASSERT_TRUE(c2->addAddress(2, ip, net.prefix));
  ASSERT_TRUE(c2->addDefaultRoute(gw, 2));
  ctr2.reset();
  c2 = std::unexpected(Error());  // the namespace goes with its last reference, and the pair with it

  auto missing = h->linkIndex("nosuch0");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().category(), ErrorCategory::NotFound);
}

TEST(Netlink, FailedStepsLeaveNothingBehind) {
  REQUIRE_ROOT();
  UniqueFd host = newNetns();
  auto h = Netlink::openIn(host.get());
  ASSERT_TRUE(h);
  Steps s;
  s.add(
       "create bridge", [&] { return h->createBridge("tbr1"); }, [&] { (void)h->deleteLink("tbr1"); })
      .add(
          "create veth", [&] { return h->createVethPair(pair("vtest1", "vpeer1", -1)); },
          [&] { (void)h->deleteLink("vtest1"); })
      .add("attach to a missing bridge", [&] { return h->setMaster("vtest1", "nosuchbr"); });
  auto r = s.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().rfind("attach to a missing bridge: ", 0), 0u) << r.error().message();
  auto names = h->linkNames();
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"lo"});
}

TEST(Nft, OurTableIsWrittenWholeAndRemoved) {
  REQUIRE_ROOT();
  UniqueFd ns = newNetns();
  inNetns(ns.get(), [&] {
    auto bad = nft::run("add rule ip nosuchtable nosuchchain drop");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("nftables:"), std::string::npos);
    // Someone else's table stays as it is.
    ASSERT_TRUE(nft::run("add table ip theirs"));
    std::vector<nft::BridgeRules> rules{{"berth0", *Subnet::parse("172.17.0.0/16"), true},
                                        {"br-a", *Subnet::parse("172.18.0.0/16"), true}};
    auto r = nft::apply("berth", rules);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_TRUE(nft::apply("berth", rules));  // again: replaced, not doubled
    ASSERT_TRUE(nft::run("list table ip berth"));
    ASSERT_TRUE(nft::removeTable("berth"));
    EXPECT_FALSE(nft::run("list table ip berth"));
    EXPECT_TRUE(nft::run("list table ip theirs"));
    EXPECT_TRUE(nft::removeTable("berth"));  // none: fine
  });
}

}  // namespace
}  // namespace berth::network
