#include <gtest/gtest.h>

#include "network/dns.h"
#include "network/ipam.h"
#include "network/nft.h"
#include "network/steps.h"

namespace berth::network {
namespace {

Subnet S(const char* t) {
  return *Subnet::parse(t);
}

TEST(Ipam, ParsesAndPrintsSubnets) {
  EXPECT_EQ(S("172.17.0.0/16").str(), "172.17.0.0/16");
  EXPECT_EQ(S("10.0.0.0/8").first().str(), "10.0.0.1");
  EXPECT_EQ(S("192.168.1.0/24").last().str(), "192.168.1.255");
  auto bad = Subnet::parse("172.17.0.1/16");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("it should be 172.17.0.0/16"), std::string::npos);
  for (const char* t : {"172.17.0.0", "172.17.0.0/33", "300.1.1.0/24", "a.b.c.d/8", "1.2.3.0/"})
    EXPECT_FALSE(Subnet::parse(t)) << t;
}

TEST(Ipam, Overlaps) {
  EXPECT_TRUE(S("172.17.0.0/16").overlaps(S("172.17.5.0/24")));
  EXPECT_TRUE(S("172.17.5.0/24").overlaps(S("172.16.0.0/12")));
  EXPECT_FALSE(S("172.17.0.0/16").overlaps(S("172.18.0.0/16")));
  EXPECT_TRUE(S("0.0.0.0/0").overlaps(S("10.0.0.0/8")));
}

TEST(Ipam, PicksTheFirstSubnetNeitherUsedNorRouted) {
  auto pools = defaultPools();
  EXPECT_EQ(pools.front().str(), "172.17.0.0/16");
  EXPECT_EQ(pools.back().str(), "192.168.240.0/20");
  EXPECT_EQ(pickSubnet(pools, {}, {})->str(), "172.17.0.0/16");
  // A host route inside a pool (a LAN on 172.17.3.0/24) skips the whole pool.
  EXPECT_EQ(pickSubnet(pools, {S("172.18.0.0/16")}, {S("172.17.3.0/24")})->str(), "172.19.0.0/16");
  std::vector<Subnet> all(pools);
  auto none = pickSubnet(pools, all, {});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().category(), ErrorCategory::Unavailable);
}

TEST(Ipam, PicksFreeAddresses) {
  Subnet s = S("10.1.2.0/29");  // .1 gateway, .2-.6 hosts, .7 broadcast
  Address gw = s.first();
  std::set<Address> taken;
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto a = pickAddress(s, gw, taken);
    ASSERT_TRUE(a);
    got.push_back(a->str());
    taken.insert(*a);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"}));
  EXPECT_FALSE(pickAddress(s, gw, taken));
  taken.erase(*Address::parse("10.1.2.4"));  // released: given again
  EXPECT_EQ(pickAddress(s, gw, taken)->str(), "10.1.2.4");
}

TEST(Ipam, AllocatesAfterTheLastOneAndWrapsAround) {
  Subnet s = S("10.1.2.0/29");
  Address gw = s.first();
  std::set<Address> taken{*Address::parse("10.1.2.2")};
  EXPECT_EQ(pickAddress(s, gw, taken, *Address::parse("10.1.2.3"))->str(), "10.1.2.4");
  EXPECT_EQ(pickAddress(s, gw, taken, *Address::parse("10.1.2.6"))->str(), "10.1.2.3");  // wrapped, .2 taken
  EXPECT_EQ(pickAddress(s, gw, taken, *Address::parse("192.168.0.9"))->str(), "10.1.2.3");
}

TEST(Ipam, DockersMacForAnAddress) {
  EXPECT_EQ(macString(macFor(*Address::parse("172.17.0.2"))), "02:42:ac:11:00:02");
}

TEST(Steps, UndoesDoneStepsInReverseAndNamesTheFailure) {
  std::vector<std::string> log;
  Steps s;
  s.add(
       "one",
       [&]() -> Result<void> {
         log.push_back("do1");
         return {};
       },
       [&] { log.push_back("undo1"); })
      .add(
          "two",
          [&]() -> Result<void> {
            log.push_back("do2");
            return {};
          },
          [&] { log.push_back("undo2"); })
      .add(
          "three", [&]() -> Result<void> { return fail("boom"); }, [&] { log.push_back("undo3"); });
  auto r = s.run();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "three: boom");
  EXPECT_EQ(log, (std::vector<std::string>{"do1", "do2", "undo2", "undo1"}));
  EXPECT_EQ(s.names(), (std::vector<std::string>{"one", "two", "three"}));
}

TEST(Nft, RulesetNatsEachSubnetAndIsolatesBridges) {
  std::string one = nft::ruleset("berth", {{"berth0", S("172.17.0.0/16"), true}});
  EXPECT_NE(one.find("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"), std::string::npos);
  EXPECT_EQ(one.find(" drop"), std::string::npos);
  std::string two =
      nft::ruleset("berth", {{"berth0", S("172.17.0.0/16"), true}, {"br-1", S("172.18.0.0/16"), false}});
  EXPECT_EQ(two.find("172.18.0.0/16"), std::string::npos);  // masquerade off for that one
  EXPECT_NE(two.find("iifname \"br-1\" oifname != \"br-1\" oifname { \"berth0\", \"br-1\" } drop"),
            std::string::npos);
}

TEST(Nft, PublishedPortsAreDnatFromOutsideAndFromTheHost) {
  nft::PortRule any{"tcp", {}, 8080, *Address::parse("172.17.0.2"), 80};
  nft::PortRule local{"udp", *Address::parse("127.0.0.1"), 5353, *Address::parse("172.17.0.3"), 53};
  std::string t = nft::ruleset("berth", {{"berth0", S("172.17.0.0/16"), true}}, {any, local});
  EXPECT_NE(t.find("    tcp dport 8080 dnat to 172.17.0.2:80\n"), std::string::npos) << t;
  EXPECT_NE(t.find("ip daddr 127.0.0.1 udp dport 5353 dnat to 172.17.0.3:53"), std::string::npos);
  EXPECT_NE(t.find("hook prerouting priority dstnat"), std::string::npos);
  EXPECT_NE(t.find("hook output priority -100"), std::string::npos);
  EXPECT_NE(t.find("fib daddr type local jump publish"), std::string::npos);
  EXPECT_NE(t.find("oifname \"berth0\" ip saddr 127.0.0.0/8 masquerade"), std::string::npos);
  EXPECT_NE(t.find("oifname \"berth0\" ip saddr 172.17.0.0/16 ct status dnat masquerade"), std::string::npos);
  EXPECT_EQ(nft::ruleset("berth", {{"berth0", S("172.17.0.0/16"), true}}).find("publish"), std::string::npos);
}

TEST(Dns, ParsesAQueryAndAnswersIt) {
  // id 0x1234, RD, one question: "Web.Example" A IN
  std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,   0, 0, 0, 3, 'W', 'e',
                            'b',  7,    'E',  'x',  'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1};
  auto parsed = dns::parseQuery(q.data(), q.size());
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->name, "web.example");
  EXPECT_EQ(parsed->type, 1);
  auto r = dns::respond(q.data(), q.size(), *parsed, {*Address::parse("172.18.0.2")}, 0);
  ASSERT_EQ(r.size(), q.size() + 16);
  EXPECT_EQ(r[0], 0x12);
  EXPECT_EQ(r[2] & 0x80, 0x80);  // a response
  EXPECT_EQ(r[7], 1);            // one answer
  EXPECT_EQ(std::vector<uint8_t>(r.end() - 4, r.end()), (std::vector<uint8_t>{172, 18, 0, 2}));
  auto nx = dns::respond(q.data(), q.size(), *parsed, {}, 3);
  EXPECT_EQ(nx[3] & 0x0f, 3);
  EXPECT_EQ(nx[7], 0);
  // Malformed input is refused, never read past its end.
  for (size_t cut = 0; cut < q.size(); ++cut) EXPECT_FALSE(dns::parseQuery(q.data(), cut)) << cut;
  auto resp = q;
  resp[2] |= 0x80;
  EXPECT_FALSE(dns::parseQuery(resp.data(), resp.size()));
  auto bad = q;
  bad[12] = 200;  // a label longer than the message
  EXPECT_FALSE(dns::parseQuery(bad.data(), bad.size()));
}

}  // namespace
}  // namespace berth::network
