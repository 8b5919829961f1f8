#include "engine/networks.h"

#include <algorithm>

#include "base/file.h"
#include "base/log.h"
#include "base/random_id.h"
#include "network/netlink.h"
#include "network/nft.h"
#include "network/steps.h"

namespace berth::engine {

using json = nlohmann::json;
using network::Address;
using network::Netlink;
using network::Subnet;

namespace {

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE networks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL
);
)";

json recordOf(const Network& n) {
  return {{"id", n.id},
          {"name", n.name},
          {"driver", n.driver},
          {"created", n.created},
          {"bridge", n.bridge},
          {"subnet", n.driver == "bridge" ? n.subnet.str() : ""},
          {"gateway", n.driver == "bridge" ? n.gateway.str() : ""},
          {"internal", n.internal},
          {"attachable", n.attachable},
          {"masquerade", n.masquerade},
          {"labels", n.labels},
          {"options", n.options}};
}

Network networkOf(const json& j) {
  Network n;
  n.id = j.at("id").get<std::string>();
  n.name = j.at("name").get<std::string>();
  n.driver = j.value("driver", "bridge");
  n.created = j.value("created", "");
  n.bridge = j.value("bridge", "");
  if (auto s = Subnet::parse(j.value("subnet", ""))) n.subnet = *s;
  if (auto g = Address::parse(j.value("gateway", ""))) n.gateway = *g;
  n.internal = j.value("internal", false);
  n.attachable = j.value("attachable", false);
  n.masquerade = j.value("masquerade", true);
  n.labels = j.value("labels", std::map<std::string, std::string>{});
  n.options = j.value("options", std::map<std::string, std::string>{});
  return n;
}

bool validName(const std::string& s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// A device name we make or take: at most 15 bytes (the kernel's limit) of [A-Za-z0-9_.-], not "." or "..".
// (The name goes into nftables rules as a quoted string: nothing that could end the string.)
bool validDevice(const std::string& s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

json Endpoint::toJson() const {
  return {{"networkId", networkId}, {"endpointId", endpointId}, {"veth", veth},     {"mac", mac},
          {"ip", ip.str()},         {"gateway", gateway.str()}, {"prefix", prefix}, {"aliases", aliases},
          {"iface", iface}};
}

Endpoint Endpoint::fromJson(const json& j) {
  Endpoint e;
  e.networkId = j.value("networkId", "");
  e.endpointId = j.value("endpointId", "");
  e.veth = j.value("veth", "");
  e.mac = j.value("mac", "");
  if (auto a = Address::parse(j.value("ip", ""))) e.ip = *a;
  if (auto a = Address::parse(j.value("gateway", ""))) e.gateway = *a;
  e.prefix = j.value("prefix", 0);
  e.aliases = j.value("aliases", std::vector<std::string>{});
  e.iface = j.value("iface", "eth0");
  return e;
}

json PortBinding::toJson() const {
  return {{"proto", proto}, {"containerPort", containerPort}, {"hostIp", hostIp}, {"hostPort", hostPort}};
}

PortBinding PortBinding::fromJson(const json& j) {
  PortBinding b;
  b.proto = j.value("proto", "tcp");
  b.containerPort = j.value("containerPort", 0);
  b.hostIp = j.value("hostIp", "");
  b.hostPort = j.value("hostPort", 0);
  return b;
}

Result<void> Networks::setPublished(const std::string& id, std::vector<network::nft::PortRule> rules) {
  auto it = published_.find(id);
  if (rules.empty() && it == published_.end()) return {};
  if (rules.empty())
    published_.erase(it);
  else
    published_[id] = std::move(rules);
  return applyRules();
}

Result<std::unique_ptr<Networks>> Networks::open(db::Database& db, const std::string& defaultBridge) {
  if (!validDevice(defaultBridge)) return invalid("--bridge: \"" + defaultBridge + "\" is not a device name");
  std::unique_ptr<Networks> ns(new Networks(db));
  ns->table_ = defaultBridge == "berth0" ? "berth" : "berth_" + defaultBridge;
  for (char& c : ns->table_)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  TRYV(db.migrate("networks", {kSchemaV1}));
  TRY(auto st, db.prepare("SELECT data FROM networks"));
  for (;;) {
    TRY(bool row, st.step());
    if (!row) break;
    auto j = json::parse(st.text(0), nullptr, false);
    try {
      if (j.is_object()) {
        Network n = networkOf(j);
        ns->byId_[n.id] = n;
      }
    } catch (const json::exception& ex) {
      log::warn(std::string("skipping an unreadable network record: ") + ex.what());
    }
  }
  auto named = [&](const std::string& name) {
    return std::any_of(ns->byId_.begin(), ns->byId_.end(), [&](auto& kv) { return kv.second.name == name; });
  };
  for (const char* driver : {"host", "null"}) {
    std::string name = std::string(driver) == "null" ? "none" : driver;
    if (named(name)) continue;
    Network n;
    n.id = randomHexId(), n.name = name, n.driver = driver, n.created = log::nowRfc3339();
    TRYV(ns->save(n));
    ns->byId_[n.id] = n;
  }
  if (!named("bridge")) {
    Network n;
    n.id = randomHexId(), n.name = "bridge", n.driver = "bridge", n.created = log::nowRfc3339();
    n.bridge = defaultBridge;
    n.options["com.docker.network.bridge.name"] = defaultBridge;
    n.options["com.docker.network.bridge.default_bridge"] = "true";
    TRY(Netlink nl, Netlink::open());
    TRY(bool exists, nl.linkExists(defaultBridge));
    std::vector<Subnet> have;
    if (exists) {
      TRY(have, nl.addresses(defaultBridge));
    }
    if (!have.empty()) {  // a bridge made by an earlier daemon or the administrator: its address stays
      n.gateway = have[0].base;
      n.subnet = {{have[0].base.value & Subnet{{0}, have[0].prefix}.mask()}, have[0].prefix};
    } else {
      TRY(auto routed, nl.routes());
      std::vector<Subnet> used;
      for (auto& [id, o] : ns->byId_)
        if (o.driver == "bridge") used.push_back(o.subnet);
      TRY(n.subnet, network::pickSubnet(network::defaultPools(), used, routed));
      n.gateway = n.subnet.first();
    }
    TRYV(ns->save(n));
    ns->byId_[n.id] = n;
  }
  // The rules of networks whose devices exist (after a daemon restart); a daemon that never made a device
  // writes no table.
  TRY(Netlink nl, Netlink::open());
  for (auto& [id, n] : ns->byId_)
    if (n.driver == "bridge")
      if (auto e = nl.linkExists(n.bridge); e && *e) {
        TRYV(ns->applyRules());
        break;
      }
  return ns;
}

Result<void> Networks::save(const Network& n) {
  TRY(auto tx, db::Transaction::begin(db_, db::Sync::Relaxed));
  TRY(auto st, db_.prepare("INSERT OR REPLACE INTO networks (id, name, data) VALUES (?, ?, ?)"));
  TRYV(st.bind(1, n.id).bind(2, n.name).bind(3, recordOf(n).dump()).run());
  return tx.commit();
}

Result<Network> Networks::find(const std::string& ref) const {
  if (auto it = byId_.find(ref); it != byId_.end()) return it->second;
  for (auto& [id, n] : byId_)
    if (n.name == ref) return n;
  const Network* match = nullptr;
  if (!ref.empty())
    for (auto& [id, n] : byId_)
      if (id.starts_with(ref)) {
        if (match) return fail(ErrorCategory::NotFound, "network " + ref + " is ambiguous");
        match = &n;
      }
  if (!match) return fail(ErrorCategory::NotFound, "network " + ref + " not found");
  return *match;
}

std::vector<Network> Networks::list() const {
  std::vector<Network> out;
  for (auto& [id, n] : byId_) out.push_back(n);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

Result<Network> Networks::create(const spec::NetworkCreateRequest& req) {
  const std::string& name = req.name;
  if (!validName(name))
    return invalid("invalid network name \"" + name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  if (std::any_of(byId_.begin(), byId_.end(), [&](auto& kv) { return kv.second.name == name; }))
    return fail(ErrorCategory::Conflict, "network with name " + name + " already exists");
  const std::string& driver = req.driver;
  if (driver == "host" || driver == "null")
    return fail(ErrorCategory::PermissionDenied,
                "only one instance of \"" + driver + "\" network is allowed");
  if (!driver.empty() && driver != "bridge")
    return fail(ErrorCategory::NotFound, "plugin \"" + driver + "\" not found");
  if (req.enableIpv6.value_or(false)) return invalid("IPv6 networks are not supported yet");
  // What this daemon cannot do is refused by name, not accepted and dropped.
  if (!req.scope.empty() && req.scope != "local")
    return invalid("network scope \"" + req.scope +
                   "\" is not supported: this daemon has local networks only");
  if (req.ingress) return invalid("ingress networks need a swarm, which this daemon is not part of");
  if (req.configOnly || (req.configFrom && !req.configFrom->network.empty()))
    return invalid("config-only networks (--config-only, --config-from) are not supported yet");
  Network n;
  n.id = randomHexId(), n.name = name, n.driver = "bridge", n.created = log::nowRfc3339();
  n.internal = req.internal;
  n.attachable = req.attachable;
  n.labels.insert(req.labels.begin(), req.labels.end());
  n.options.insert(req.options.begin(), req.options.end());
  n.bridge = "br-" + n.id.substr(0, 12);
  if (auto it = n.options.find("com.docker.network.bridge.name"); it != n.options.end()) {
    if (!validDevice(it->second)) return invalid("invalid bridge name \"" + it->second + "\"");
    n.bridge = it->second;
  }
  if (auto it = n.options.find("com.docker.network.bridge.enable_ip_masquerade"); it != n.options.end())
    n.masquerade = it->second != "false";
  std::vector<Subnet> used;
  for (auto& [id, o] : byId_)
    if (o.driver == "bridge") used.push_back(o.subnet);
  std::vector<spec::IpamPool> configs;
  if (req.ipam) {
    if (!req.ipam->driver.empty() && req.ipam->driver != "default")
      return fail(ErrorCategory::NotFound, "plugin \"" + req.ipam->driver + "\" not found");
    configs = req.ipam->config;
  }
  if (configs.size() > 1) return invalid("IPAM.Config: one IPv4 subnet per network is supported");
  if (!configs.empty() && !configs[0].subnet.empty()) {
    TRY(n.subnet, Subnet::parse(configs[0].subnet));
    if (n.subnet.prefix > 30) return invalid("subnet " + n.subnet.str() + " is too small for a network");
    for (auto& u : used)
      if (u.overlaps(n.subnet))
        return fail(ErrorCategory::PermissionDenied, "Pool overlaps with other one on this address space");
    n.gateway = n.subnet.first();
    if (const std::string& gw = configs[0].gateway; !gw.empty()) {
      TRY(n.gateway, Address::parse(gw));
      if (!n.subnet.contains(n.gateway) || n.gateway == n.subnet.base || n.gateway == n.subnet.last())
        return invalid("gateway " + gw + " is not a host address of subnet " + n.subnet.str());
    }
    if (!configs[0].ipRange.empty()) return invalid("IPAM.Config.IPRange is not supported yet");
    if (!configs[0].auxAddress.empty()) return invalid("IPAM.Config.AuxiliaryAddresses is not supported yet");
  } else {
    if (!configs.empty() && !configs[0].gateway.empty()) return invalid("a gateway needs a subnet");
    TRY(Netlink nl, Netlink::open());
    TRY(auto routed, nl.routes());
    TRY(n.subnet, network::pickSubnet(network::defaultPools(), used, routed));
    n.gateway = n.subnet.first();
  }
  for (auto& [id, o] : byId_)
    if (o.driver == "bridge" && o.bridge == n.bridge)
      return fail(ErrorCategory::Conflict, "bridge " + n.bridge + " is used by network " + o.name);
  {
    // A device that is already there is someone else's: taking it would hand it to `network rm`.
    TRY(Netlink nl, Netlink::open());
    TRY(bool exists, nl.linkExists(n.bridge));
    if (exists)
      return fail(ErrorCategory::Conflict,
                  "a network device named " + n.bridge + " exists already on this host");
  }
  TRYV(ensureBridge(n));
  if (auto r = save(n); !r) {
    if (auto nl = Netlink::open()) (void)nl->deleteLink(n.bridge);
    return std::unexpected(r.error());
  }
  byId_[n.id] = n;
  if (auto r = applyRules(); !r) log::warn("network " + n.name + ": " + r.error().message());
  return n;
}

Result<void> Networks::remove(const Network& n, const std::vector<std::string>& inUse) {
  if (n.predefined())
    return fail(ErrorCategory::PermissionDenied, n.name + " is a pre-defined network and cannot be removed");
  if (!inUse.empty())
    return fail(ErrorCategory::PermissionDenied,
                "error while removing network: network " + n.name + " id " + n.id + " has active endpoints");
  TRY(auto tx, db::Transaction::begin(db_));
  TRY(auto st, db_.prepare("DELETE FROM networks WHERE id = ?"));
  TRYV(st.bind(1, n.id).run());
  TRYV(tx.commit());
  byId_.erase(n.id);
  configured_.erase(n.bridge);
  if (auto nl = Netlink::open()) {
    if (auto r = nl->deleteLink(n.bridge); !r) log::warn("network " + n.name + ": " + r.error().message());
  }
  if (auto r = applyRules(); !r) log::warn("network " + n.name + ": " + r.error().message());
  return {};
}

Result<int> Networks::ensureBridge(const Network& n) {
  TRY(Netlink nl, Netlink::open());
  auto index = nl.linkIndex(n.bridge);
  if (!index && index.error().category() != ErrorCategory::NotFound) return std::unexpected(index.error());
  if (!index) {
    network::Steps s;
    s.add(
         "creating bridge " + n.bridge, [&] { return nl.createBridge(n.bridge); },
         [&] { (void)nl.deleteLink(n.bridge); })
        .add("giving " + n.bridge + " its address",
             [&] { return nl.addAddress(n.bridge, n.gateway, n.subnet.prefix); })
        .add("setting " + n.bridge + " up", [&] { return nl.setUp(n.bridge); });
    TRYV(s.run());
    TRY(index, nl.linkIndex(n.bridge));
  } else if (!configured_.count(n.bridge)) {
    TRYV(nl.setUp(*index));  // a bridge from before this daemon (its restart, or the administrator's)
  }
  if (configured_.insert(n.bridge).second) {
    // Published ports answer on 127.0.0.1 too: a DNATed packet from the host's loopback may leave
    // through the bridge (and is masqueraded there), as with dockerd without its userland proxy.
    if (auto r = writeFile("/proc/sys/net/ipv4/conf/" + n.bridge + "/route_localnet", "1\n"); !r)
      log::warn(r.error().message());
  }
  if (!rulesApplied_) {
    // Forwarding between the bridges and the host's other devices, as dockerd sets it.
    if (auto r = writeFile("/proc/sys/net/ipv4/ip_forward", "1\n"); !r) log::warn(r.error().message());
    TRYV(applyRules());
  }
  return *index;
}

Result<void> Networks::applyRules() {
  std::vector<network::nft::BridgeRules> rules;
  for (auto& [id, n] : byId_)
    if (n.driver == "bridge") rules.push_back({n.bridge, n.subnet, n.masquerade && !n.internal});
  std::vector<network::nft::PortRule> ports;
  for (auto& [id, list] : published_) ports.insert(ports.end(), list.begin(), list.end());
  TRYV(network::nft::apply(table_, rules, ports));
  rulesApplied_ = true;
  return {};
}

Result<Endpoint> Networks::attach(const Network& n, const std::string& containerId, int netnsFd,
                                  const std::set<Address>& taken, const std::string& iface, bool primary,
                                  std::optional<Address> want) {
  (void)containerId;
  log::phase("network: attach");
  TRY(int bridgeIndex, ensureBridge(n));
  Endpoint e;
  e.networkId = n.id;
  e.endpointId = randomHexId();
  // A name of its own per start: the pair of an exited container goes with its namespace, in the
  // kernel's time, and a restart must not wait for that.
  e.veth = "vb" + randomHexId().substr(0, 12);
  e.gateway = n.gateway;
  e.prefix = n.subnet.prefix;
  e.iface = iface;
  if (want) {
    if (!n.subnet.contains(*want) || *want == n.gateway || *want == n.subnet.base || *want == n.subnet.last())
      return invalid("no configured subnet or ip-range contain the IP address " + want->str());
    if (taken.count(*want))
      return fail(ErrorCategory::Conflict,
                  "Address already in use: " + want->str() + " on network " + n.name);
    e.ip = *want;
  } else {
    TRY(e.ip, network::pickAddress(n.subnet, n.gateway, taken, last_[n.id]));
    last_[n.id] = e.ip;
  }
  auto mac = network::macFor(e.ip);
  e.mac = network::macString(mac);
  TRY(Netlink host, Netlink::open());
  TRY(Netlink ctr, Netlink::openIn(netnsFd));
  log::phase("network: sockets open");
  // The namespaces we make hold `lo` (1) only: eth0 takes index 2, known without asking.
  Netlink::VethPair v;
  v.hostName = e.veth, v.peerName = iface, v.peerNetnsFd = netnsFd, v.peerIndex = iface == "eth0" ? 2 : 0;
  v.peerMac = mac;
  v.masterIndex = bridgeIndex, v.up = true;
  int index = 2;
  network::Steps s;
  s.add(
       "creating veth pair " + e.veth + " on " + n.bridge,
       [&]() -> Result<void> {
         if (v.peerIndex) {
           auto made = host.createVethPair(v);
           if (made || made.error().category() != ErrorCategory::Conflict) return made;
           v.peerIndex = 0;  // a namespace with more devices: the kernel picks, we ask
         }
         TRYV(host.createVethPair(v));
         TRY(index, ctr.linkIndex(iface));
         return {};
       },
       [&] { (void)host.deleteLink(e.veth); })
      .add("setting " + iface + " up", [&] { return ctr.setUp(index); })
      .add("giving " + iface + " " + e.ip.str(), [&] { return ctr.addAddress(index, e.ip, e.prefix); });
  if (!n.internal && primary)
    s.add("routing via " + n.gateway.str(), [&] { return ctr.addDefaultRoute(n.gateway, index); });
  TRYV(s.run());
  log::phase("network: attached");
  return e;
}

void Networks::detach(const Endpoint& e, bool removeDevice) {
  if (e.veth.empty() || !removeDevice) return;
  auto nl = Netlink::open();
  if (!nl) return log::warn("removing " + e.veth + ": " + nl.error().message());
  if (auto r = nl->deleteLink(e.veth); !r) log::warn(r.error().message());
}

void Networks::reconcile(const std::set<std::string>& live) {
  auto nl = Netlink::open();
  if (!nl) return;
  for (auto& [id, n] : byId_) {
    if (n.driver != "bridge") continue;
    auto ports = nl->portsOf(n.bridge);
    if (!ports) continue;
    for (auto& p : *ports)
      if (p.starts_with("vb") && !live.count(p)) {
        log::info("removing " + p + ", left on " + n.bridge + " by a container that is gone");
        (void)nl->deleteLink(p);
      }
  }
}

json Networks::toJson(const Network& n, const json& containers) const {
  json config = json::array();
  if (n.driver == "bridge") config.push_back({{"Subnet", n.subnet.str()}, {"Gateway", n.gateway.str()}});
  return {{"Name", n.name},
          {"Id", n.id},
          {"Created", n.created},
          {"Scope", "local"},
          {"Driver", n.driver},
          {"EnableIPv6", false},
          {"IPAM", {{"Driver", "default"}, {"Options", nullptr}, {"Config", config}}},
          {"Internal", n.internal},
          {"Attachable", n.attachable},
          {"Ingress", false},
          {"ConfigFrom", {{"Network", ""}}},
          {"ConfigOnly", false},
          {"Containers", containers},
          {"Options", n.options},
          {"Labels", n.labels}};
}

}  // namespace berth::engine
