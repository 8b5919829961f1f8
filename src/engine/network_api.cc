// The engine's side of networks: a container's endpoint at start and exit, its /etc/hosts, /etc/resolv.conf
// and /etc/hostname, its NetworkSettings, and the /networks API.
#include <arpa/inet.h>
#include <fcntl.h>

#include <algorithm>
#include <functional>
#include <set>

#include "base/file.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/internal.h"

namespace berth::engine {

using json = nlohmann::json;
using network::Address;

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (auto& x : v) out += (out.empty() ? "" : sep) + x;
  return out;
}

// The host's resolv.conf for a container with a network of its own: the host's loopback resolvers mean
// nothing there (docker drops them and falls back to Google's); --dns, --dns-search, --dns-option replace
// their lines.
std::string resolvConf(const spec::HostConfig& hc) {
  std::vector<std::string> servers, search, options;
  if (auto text = readFile("/etc/resolv.conf")) {
    for (auto& raw : split(*text, '\n')) {
      auto w = split(trim(raw), ' ');
      w.erase(std::remove(w.begin(), w.end(), std::string()), w.end());
      if (w.size() < 2) continue;
      if (w[0] == "nameserver" && !w[1].starts_with("127.") && w[1] != "::1")
        servers.push_back(w[1]);
      else if (w[0] == "search" || w[0] == "domain")
        search.assign(w.begin() + 1, w.end());
      else if (w[0] == "options")
        options.insert(options.end(), w.begin() + 1, w.end());
    }
  }
  auto strings = [&](const std::vector<std::string>& given, std::vector<std::string>& out) {
    if (!given.empty()) out = given;
  };
  strings(hc.dns, servers);
  strings(hc.dnsSearch, search);
  strings(hc.dnsOptions, options);
  if (servers.empty()) servers = {"8.8.8.8", "8.8.4.4"};
  std::string out;
  for (auto& s : servers) out += "nameserver " + s + "\n";
  if (!search.empty()) out += "search " + join(search, " ") + "\n";
  if (!options.empty()) out += "options " + join(options, " ") + "\n";
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> extraHosts(const spec::HostConfig& hc) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& s : hc.extraHosts) {
    // docker's name:ip, and name=ip since 25.0 (an IPv6 address has colons of its own)
    auto sep = s.find('=');
    if (sep == std::string::npos) sep = s.find(':');
    if (sep == std::string::npos || sep == 0) return invalid("bad format for add-host: \"" + s + "\"");
    std::string ip = s.substr(sep + 1);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (ip != "host-gateway" && !Address::parse(ip)) {
      in6_addr a6;
      if (::inet_pton(AF_INET6, ip.c_str(), &a6) != 1)
        return invalid("invalid IP address in add-host: \"" + ip + "\"");
    }
    out.emplace_back(s.substr(0, sep), ip);
  }
  return out;
}

namespace {

Result<std::pair<int, std::string>> portKey(const std::string& key) {
  auto slash = key.find('/');
  std::string num = key.substr(0, slash), proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
  char* end = nullptr;
  long port = std::strtol(num.c_str(), &end, 10);
  if (num.empty() || *end || port < 1 || port > 65535)
    return invalid("invalid port specification: \"" + key + "\"");
  if (proto == "sctp") return invalid("publishing sctp ports is not supported yet: \"" + key + "\"");
  if (proto != "tcp" && proto != "udp") return invalid("invalid proto: \"" + proto + "\" in \"" + key + "\"");
  return std::pair<int, std::string>{static_cast<int>(port), proto};
}

Result<std::pair<int, int>> hostPorts(const std::string& s) {
  if (s.empty()) return std::pair<int, int>{0, 0};
  auto dash = s.find('-');
  auto num = [&](const std::string& t) -> long {
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    return t.empty() || *end || v < 1 || v > 65535 ? -1 : v;
  };
  long lo = num(s.substr(0, dash)), hi = dash == std::string::npos ? lo : num(s.substr(dash + 1));
  if (lo < 0 || hi < lo) return invalid("invalid port specification: \"" + s + "\"");
  return std::pair<int, int>{static_cast<int>(lo), static_cast<int>(hi)};
}

}  // namespace

Result<std::vector<PortRequest>> portBindingsOf(const spec::HostConfig& hc,
                                                const std::set<std::string>& exposed) {
  std::vector<PortRequest> out;
  std::set<std::string> bound;
  for (auto& [key, list] : hc.portBindings) {
    TRY(auto kp, portKey(key));
    bound.insert(std::to_string(kp.first) + "/" + kp.second);
    for (const spec::PortBinding& b : list) {
      std::string ip = b.hostIp;
      if (ip.find(':') != std::string::npos) continue;  // IPv6: not yet (docker adds "::" beside 0.0.0.0)
      if (ip == "0.0.0.0") ip.clear();
      if (!ip.empty() && !Address::parse(ip)) return invalid("invalid IP address: " + ip);
      TRY(auto range, hostPorts(b.hostPort));
      out.push_back({kp.second, kp.first, ip, range.first, range.second});
    }
  }
  if (hc.publishAllPorts)
    for (auto& key : exposed) {
      TRY(auto kp, portKey(key));
      if (bound.insert(std::to_string(kp.first) + "/" + kp.second).second)
        out.push_back({kp.second, kp.first, "", 0, 0});
    }
  return out;
}

std::vector<network::nft::PortRule> portRules(const Container& c) {
  std::vector<network::nft::PortRule> out;
  if (c.endpoints.empty()) return out;
  Address ip = c.endpoints.begin()->second.ip;
  for (auto& [name, ep] : c.endpoints)
    if (ep.iface == "eth0") ip = ep.ip;  // the primary endpoint
  for (auto& b : c.ports) {
    network::nft::PortRule r;
    r.proto = b.proto, r.hostPort = b.hostPort, r.containerIp = ip, r.containerPort = b.containerPort;
    if (!b.hostIp.empty())
      if (auto a = Address::parse(b.hostIp)) r.hostIp = *a;
    out.push_back(r);
  }
  return out;
}

Result<void> Engine::endpointConfigLocked(Container& c, const Network& n, const spec::EndpointSettings& cfg) {
  if (!cfg.aliases.isNull()) {
    std::vector<std::string> aliases;
    for (auto& a : cfg.aliases)
      if (!a.empty()) aliases.push_back(a);
    c.aliases[n.name] = aliases;
  }
  std::string ip = cfg.ipamConfig ? cfg.ipamConfig->ipv4Address : "";
  if (ip.empty()) {
    c.ips.erase(n.name);
    return {};
  }
  auto a = Address::parse(ip);
  if (!a) return invalid("invalid IPv4 address: " + ip);
  if (n.predefined()) return invalid("user specified IP address is supported on user defined networks only");
  if (!n.subnet.contains(*a) || *a == n.gateway || *a == n.subnet.base || *a == n.subnet.last())
    return invalid("no configured subnet or ip-range contain the IP address " + ip);
  c.ips[n.name] = ip;
  return {};
}

void bindEtcFiles(image::RunOptions& o, const std::string& dir) {
  for (const char* f : {"hostname", "hosts", "resolv.conf"}) {
    std::string src = dir + "/" + f, dest = std::string("/etc/") + f;
    if (pathExists(src) &&
        std::none_of(o.binds.begin(), o.binds.end(), [&](auto& b) { return b.destination == dest; }))
      o.binds.push_back({.source = src,
                         .destination = dest,
                         .readOnly = false,
                         .propagation = "rprivate",
                         .tmpfs = false,
                         .data = ""});
  }
}

Result<Endpoint> Engine::attachLocked(Container& c, const Network& n, int netnsFd, const std::string& iface,
                                      bool primary) {
  std::set<Address> taken;
  for (auto& [id, other] : containers_)
    if (id != c.id)
      for (auto& [name, ep] : other.endpoints)
        if (ep.networkId == n.id) taken.insert(ep.ip);
  std::optional<Address> want;
  if (auto it = c.ips.find(n.name); it != c.ips.end())
    if (auto a = Address::parse(it->second)) want = *a;
  TRY(Endpoint ep, networks_->attach(n, c.id, netnsFd, taken, iface, primary, want));
  if (auto it = c.aliases.find(n.name); it != c.aliases.end()) ep.aliases = it->second;
  if (auto it = c.aliases.find(n.id); it != c.aliases.end())  // records of earlier daemons: by id too
    ep.aliases.insert(ep.aliases.end(), it->second.begin(), it->second.end());
  c.endpoints[n.name] = ep;
  emitLocked("network", "connect", n.id, {{"container", c.id}, {"name", n.name}, {"type", "bridge"}});
  return ep;
}

Result<void> Engine::connectNetworkLocked(Container& c, UniqueFd& netns, image::RunOptions& o,
                                          const std::vector<std::string>& imageExposed) {
  const std::string& mode = c.hostConfig.networkMode;
  if (mode == "host" || mode.starts_with("container:")) return {};
  std::vector<Network> nets;
  for (auto& name : c.networks) {
    TRY(Network n, networks_->find(name));
    if (n.driver == "bridge") nets.push_back(n);
  }
  std::string dir = containerDir(c.id);
  std::string host = o.hostname.empty() ? c.id.substr(0, 12) : o.hostname;
  std::string hosts =
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
  TRY(auto extra, extraHosts(c.hostConfig));
  // The container's /etc/hosts, /etc/resolv.conf and /etc/hostname, bound over the image's.
  auto writeEtcFiles = [&](const std::string& resolv) -> Result<void> {
    TRYV(replaceFile(dir + "/hosts", hosts, 0644));
    TRYV(replaceFile(dir + "/resolv.conf", resolv, 0644));
    TRYV(replaceFile(dir + "/hostname", host + "\n", 0644));
    bindEtcFiles(o, dir);
    return {};
  };
  if (nets.empty()) {
    // No network (`--network none`): docker still gives the container its /etc/hostname, an /etc/hosts with
    // the loopback names (and --add-host's; host-gateway is the default bridge's gateway, as there) and the
    // host's resolvers.
    if (mode != "none") return {};
    for (auto& [name, ip] : extra) {
      std::string addr = ip;
      if (ip == "host-gateway") {
        TRY(Network b, networks_->find("bridge"));
        addr = b.gateway.str();
      }
      hosts += addr + "\t" + name + "\n";
    }
    return writeEtcFiles(resolvConf(c.hostConfig));
  }
  if (!netns) {
    TRY(netns, makeNetworkNamespace());
  }
  std::optional<Endpoint> first;
  std::optional<Network> userNet;  // the first user network: its gateway answers names
  for (size_t i = 0; i < nets.size(); ++i) {
    TRY(Endpoint ep, attachLocked(c, nets[i], netns.get(), "eth" + std::to_string(i), i == 0));
    if (!first) first = ep;
    if (!userNet && !nets[i].predefined()) userNet = nets[i];
  }
  const Network& n = userNet ? *userNet : nets[0];
  const Endpoint& ep = *first;

  for (auto& [name, ip] : extra) hosts += (ip == "host-gateway" ? n.gateway.str() : ip) + "\t" + name + "\n";
  hosts += ep.ip.str() + "\t" + host + "\n";
  // User networks resolve their containers' names: the daemon's DNS server on the gateway's address
  // (docker's embedded DNS), which forwards other names to the host's resolvers.
  std::string resolv;
  bool explicitDns = !c.hostConfig.dns.empty();
  if (!n.predefined() && !explicitDns) {
    if (!dns_) {
      std::vector<std::string> upstreams;
      if (auto text = readFile("/etc/resolv.conf"))
        for (auto& line : split(*text, '\n')) {
          auto w = split(trim(line), ' ');
          w.erase(std::remove(w.begin(), w.end(), std::string()), w.end());
          if (w.size() >= 2 && w[0] == "nameserver" && Address::parse(w[1])) upstreams.push_back(w[1]);
        }
      dns_ = std::make_unique<network::dns::Server>(upstreams);
    }
    if (auto r = dns_->listen(n.id, n.gateway); r) {
      std::string host = resolvConf(c.hostConfig);
      resolv = "nameserver " + n.gateway.str() + "\n";
      for (auto& line : split(host, '\n'))
        if (line.starts_with("search ") || line.starts_with("options ")) resolv += line + "\n";
      resolv += "options ndots:0\n";
    } else {
      log::warn("network " + n.name + ": no name resolution between its containers: " + r.error().message());
    }
  }
  if (resolv.empty()) resolv = resolvConf(c.hostConfig);
  TRYV(writeEtcFiles(resolv));

  // Published ports: host ports chosen among those no running container holds (docker's allocator: a
  // free one of the range, or of 49153-60999 for "any"), then the DNAT rules.
  std::set<std::string> exposed;
  for (auto& [p, _] : c.config.exposedPorts) exposed.insert(p);
  for (auto& p : imageExposed) exposed.insert(p.find('/') == std::string::npos ? p + "/tcp" : p);
  TRY(auto requests, portBindingsOf(c.hostConfig, exposed));
  c.ports.clear();
  if (requests.empty()) return {};
  std::set<std::pair<std::string, int>> used;
  for (auto& [id, other] : containers_)
    if (id != c.id)
      for (auto& b : other.ports) used.insert({b.proto, b.hostPort});
  for (auto& r : requests) {
    int lo = r.hostLo ? r.hostLo : 49153, hi = r.hostLo ? r.hostHi : 60999;
    int span = hi - lo + 1, start = r.hostLo ? 0 : static_cast<int>(std::hash<std::string>{}(c.id) % span);
    int chosen = 0;
    for (int i = 0; i < span && !chosen; ++i) {
      int p = lo + (start + i) % span;
      if (!used.count({r.proto, p})) chosen = p;
    }
    if (!chosen)
      return fail(ErrorCategory::Conflict, "Bind for " + (r.hostIp.empty() ? "0.0.0.0" : r.hostIp) + ":" +
                                               std::to_string(lo) + " failed: port is already allocated");
    used.insert({r.proto, chosen});
    c.ports.push_back({r.proto, r.containerPort, r.hostIp, chosen});
  }
  if (auto r = networks_->setPublished(c.id, portRules(c)); !r) {
    c.ports.clear();
    return std::unexpected(r.error().context("publishing ports"));
  }
  return {};
}

void Engine::refreshNamesLocked(const Network& n) {
  if (!dns_) return;
  std::map<std::string, std::vector<Address>> names;
  auto add = [&](std::string name, Address a) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    auto& v = names[name];
    if (std::find(v.begin(), v.end(), a) == v.end()) v.push_back(a);
  };
  for (auto& [id, c] : containers_)
    for (auto& [name, ep] : c.endpoints) {
      if (ep.networkId != n.id) continue;
      add(c.name, ep.ip);
      add(id.substr(0, 12), ep.ip);
      for (auto& a : ep.aliases) add(a, ep.ip);
    }
  dns_->setNames(n.id, std::move(names));
  // Containers on several networks resolve the names of each through any of their gateways.
  std::map<Address, std::vector<std::string>> peers;
  for (auto& [id, c] : containers_) {
    if (c.endpoints.size() < 2) continue;
    std::vector<std::string> ids;
    for (auto& [name, ep] : c.endpoints) ids.push_back(ep.networkId);
    for (auto& [name, ep] : c.endpoints) peers[ep.ip] = ids;
  }
  dns_->setPeers(std::move(peers));
}

void Engine::disconnectNetworkLocked(Container& c) {
  if (!c.ports.empty())
    if (auto r = networks_->setPublished(c.id, {}); !r)
      log::warn("unpublishing ports: " + r.error().message());
  c.ports.clear();
  // Out of the record first: the names refreshed next are those of the containers still there.
  auto endpoints = std::move(c.endpoints);
  c.endpoints.clear();
  for (auto& [name, ep] : endpoints) {
    networks_->detach(ep, false);
    emitLocked("network", "disconnect", ep.networkId,
               {{"container", c.id}, {"name", name}, {"type", "bridge"}});
    if (auto n = networks_->find(ep.networkId); n && !n->predefined()) refreshNamesLocked(*n);
  }
}

json Engine::networkSettingsJson(const Container& c) {
  auto entry = [](const std::string& networkId, const Endpoint* ep) {
    return json{{"IPAMConfig", nullptr},
                {"Links", nullptr},
                {"Aliases", ep && !ep->aliases.empty() ? json(ep->aliases) : json(nullptr)},
                {"MacAddress", ep ? ep->mac : ""},
                {"NetworkID", networkId},
                {"EndpointID", ep ? ep->endpointId : ""},
                {"Gateway", ep ? ep->gateway.str() : ""},
                {"IPAddress", ep ? ep->ip.str() : ""},
                {"IPPrefixLen", ep ? ep->prefix : 0},
                {"IPv6Gateway", ""},
                {"GlobalIPv6Address", ""},
                {"GlobalIPv6PrefixLen", 0},
                {"DriverOpts", nullptr},
                {"DNSNames", nullptr}};
  };
  json nets = json::object();
  for (auto& [name, ep] : c.endpoints) nets[name] = entry(ep.networkId, &ep);
  for (auto& name : c.networks)  // configured, not joined (not running)
    if (!nets.contains(name))
      if (auto n = networks_->find(name)) {
        nets[n->name] = entry(n->id, nullptr);
        if (auto a = c.aliases.find(n->name); a != c.aliases.end() && !a->second.empty())
          nets[n->name]["Aliases"] = a->second;
      }
  for (auto& [name, ip] : c.ips)
    if (nets.contains(name)) nets[name]["IPAMConfig"] = {{"IPv4Address", ip}};
  const std::string& mode = c.hostConfig.networkMode;
  if (nets.empty() && (mode == "host" || mode == "none"))
    if (auto n = networks_->find(mode)) nets[n->name] = entry(n->id, nullptr);
  json ports = json::object();
  for (auto& [k, v] : c.config.exposedPorts)
    ports[k.find('/') == std::string::npos ? k + "/tcp" : k] = nullptr;
  for (auto& b : c.ports) {
    std::string key = std::to_string(b.containerPort) + "/" + b.proto;
    if (!ports[key].is_array()) ports[key] = json::array();
    ports[key].push_back(
        {{"HostIp", b.hostIp.empty() ? "0.0.0.0" : b.hostIp}, {"HostPort", std::to_string(b.hostPort)}});
  }
  json s = {{"Bridge", ""},     {"SandboxID", ""}, {"HairpinMode", false}, {"Ports", ports},
            {"SandboxKey", ""}, {"Gateway", ""},   {"IPAddress", ""},      {"IPPrefixLen", 0},
            {"MacAddress", ""}, {"Networks", nets}};
  if (auto it = c.endpoints.find("bridge"); it != c.endpoints.end()) {  // docker's top-level fields
    s["Gateway"] = it->second.gateway.str();
    s["IPAddress"] = it->second.ip.str();
    s["IPPrefixLen"] = it->second.prefix;
    s["MacAddress"] = it->second.mac;
  }
  return s;
}

Result<std::vector<json>> Engine::networkList(
    const std::map<std::string, std::vector<std::string>>& filters) {
  for (auto& [k, v] : filters)
    if (k != "name" && k != "id" && k != "driver" && k != "label" && k != "type")
      return invalid("invalid filter '" + k + "'");
  std::lock_guard lock(m_);
  std::vector<json> out;
  auto any = [&](const char* key, auto pred) {
    auto it = filters.find(key);
    return it == filters.end() || std::any_of(it->second.begin(), it->second.end(), pred);
  };
  for (auto& n : networks_->list()) {
    bool ok = any("name", [&](auto& v) { return n.name.find(v) != std::string::npos; }) &&
              any("id", [&](auto& v) { return n.id.starts_with(v); }) &&
              any("driver", [&](auto& v) { return n.driver == v; }) &&
              any("type", [&](auto& v) { return v == (n.predefined() ? "builtin" : "custom"); }) &&
              any("label", [&](const std::string& v) {
                auto eq = v.find('=');
                auto it = n.labels.find(v.substr(0, eq));
                return it != n.labels.end() && (eq == std::string::npos || it->second == v.substr(eq + 1));
              });
    if (ok) out.push_back(networks_->toJson(n, json::object()));
  }
  return out;
}

Result<json> Engine::networkInspect(const std::string& ref) {
  std::lock_guard lock(m_);
  TRY(Network n, networks_->find(ref));
  json containers = json::object();
  for (auto& [id, c] : containers_)
    for (auto& [name, ep] : c.endpoints)
      if (ep.networkId == n.id)
        containers[id] = {{"Name", c.name},
                          {"EndpointID", ep.endpointId},
                          {"MacAddress", ep.mac},
                          {"IPv4Address", ep.ip.str() + "/" + std::to_string(ep.prefix)},
                          {"IPv6Address", ""}};
  return networks_->toJson(n, containers);
}

Result<std::string> Engine::networkCreate(const spec::NetworkCreateRequest& req) {
  std::string id;
  {
    std::lock_guard lock(m_);
    TRY(Network n, networks_->create(req));
    emitLocked("network", "create", n.id, {{"name", n.name}, {"type", n.driver}});
    id = n.id;
  }
  TRYV_CTX(syncRecords(), "recording the network");
  return id;
}

Result<void> Engine::networkRemove(const std::string& ref) {
  std::lock_guard lock(m_);
  TRY(Network n, networks_->find(ref));
  std::vector<std::string> inUse;
  for (auto& [id, c] : containers_)
    for (auto& [name, ep] : c.endpoints)
      if (ep.networkId == n.id) inUse.push_back(c.name);
  TRYV(networks_->remove(n, inUse));
  if (dns_) dns_->close(n.id);
  emitLocked("network", "destroy", n.id, {{"name", n.name}, {"type", n.driver}});
  return {};
}

Result<std::vector<std::string>> Engine::networkPrune() {
  std::lock_guard lock(m_);
  std::vector<std::string> removed;
  for (auto& n : networks_->list()) {
    if (n.predefined()) continue;
    bool used = std::any_of(containers_.begin(), containers_.end(), [&](auto& kv) {
      auto& cn = kv.second.networks;
      return std::find(cn.begin(), cn.end(), n.name) != cn.end() || kv.second.endpoints.count(n.name);
    });
    if (used) continue;
    if (networks_->remove(n, {})) {
      if (dns_) dns_->close(n.id);
      emitLocked("network", "destroy", n.id, {{"name", n.name}, {"type", n.driver}});
      removed.push_back(n.name);
    }
  }
  return removed;
}

Result<std::pair<Network, std::string>> Engine::connectionOfLocked(std::unique_lock<std::mutex>& lock,
                                                                   const std::string& ref,
                                                                   const std::string& container) {
  if (container.empty()) return invalid("the request body must name a Container");
  TRY(std::string id, resolveSettledLocked(lock, container));
  TRY(Network n, networks_->find(ref));  // after the wait: the network may have gone meanwhile
  return std::pair{n, id};
}

Result<void> Engine::networkConnect(const std::string& ref, const spec::NetworkConnectRequest& req) {
  std::unique_lock lock(m_);
  TRY(auto target, connectionOfLocked(lock, ref, req.container));
  const Network& n = target.first;
  Container& c = containers_.at(target.second);
  const std::string& mode = c.hostConfig.networkMode;
  if (n.driver == "host" || n.driver == "null" || mode == "host" || mode == "none" ||
      mode.starts_with("container:"))
    return fail(ErrorCategory::PermissionDenied,
                "container sharing network namespace with another container or host cannot be connected to "
                "any other network");
  if (std::find(c.networks.begin(), c.networks.end(), n.name) != c.networks.end() ||
      c.endpoints.count(n.name))
    return fail(ErrorCategory::PermissionDenied,
                "endpoint with name " + c.name + " already exists in network " + n.name);
  Container updated = c;
  if (req.endpointConfig) TRYV(endpointConfigLocked(updated, n, *req.endpointConfig));
  updated.networks.push_back(n.name);
  bool running = hasProcess(c.state.status);
  if (running && c.state.pid > 0) {
    // A running container gets its interface now: the first free ethN in its namespace.
    UniqueFd ns(::open(("/proc/" + std::to_string(c.state.pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return sysFail("opening the network namespace of " + c.name);
    std::set<std::string> used;
    for (auto& [name, ep] : c.endpoints) used.insert(ep.iface);
    int i = 0;
    while (used.count("eth" + std::to_string(i))) ++i;
    TRYV(attachLocked(updated, n, ns.get(), "eth" + std::to_string(i), updated.endpoints.size() == 0));
  }
  TRYV(save(updated, db::Sync::Relaxed));
  c = std::move(updated);
  if (running && !n.predefined()) refreshNamesLocked(n);
  lock.unlock();
  return syncRecords();
}

Result<void> Engine::networkDisconnect(const std::string& ref, const spec::NetworkDisconnectRequest& req) {
  std::unique_lock lock(m_);
  TRY(auto target, connectionOfLocked(lock, ref, req.container));
  const Network& n = target.first;
  Container& c = containers_.at(target.second);
  auto it = std::find(c.networks.begin(), c.networks.end(), n.name);
  auto ep = c.endpoints.find(n.name);
  if (it == c.networks.end() && ep == c.endpoints.end()) {
    if (n.driver == "host" || n.driver == "null")
      return fail(ErrorCategory::PermissionDenied,
                  "container cannot be disconnected from host network or connected to host network");
    return fail(ErrorCategory::PermissionDenied,
                "container " + c.id + " is not connected to network " + n.name);
  }
  Container updated = c;
  if (it != c.networks.end()) updated.networks.erase(updated.networks.begin() + (it - c.networks.begin()));
  updated.aliases.erase(n.name);
  updated.ips.erase(n.name);
  std::optional<Endpoint> gone;
  if (ep != c.endpoints.end()) {
    gone = ep->second;
    updated.endpoints.erase(n.name);
    if (gone->iface == "eth0" && !updated.ports.empty()) {  // its ports pointed there
      (void)networks_->setPublished(c.id, {});
      updated.ports.clear();
    }
  }
  TRYV(save(updated, db::Sync::Relaxed));
  c = std::move(updated);
  if (gone) {
    networks_->detach(*gone, true);
    emitLocked("network", "disconnect", n.id, {{"container", c.id}, {"name", n.name}, {"type", "bridge"}});
    if (!n.predefined()) refreshNamesLocked(n);
  }
  lock.unlock();
  return syncRecords();
}

}  // namespace berth::engine
