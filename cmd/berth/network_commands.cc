// berth network create/ls/inspect/rm/prune: docker's flags, columns and messages.
#include <cstdio>

#include "berth.h"
#include "client/format.h"

namespace berth::cli {

using client::urlEncode;

namespace {

struct CreateFlags {
  std::string driver = "bridge", subnet, gateway, ipRange;
  std::vector<std::string> labels, options;
  bool internal = false, attachable = false, ipv6 = false;
  std::string name;
};

int cmdCreate(Globals& g, const CreateFlags& f) {
  json body = {{"Name", f.name},
               {"Driver", f.driver},
               {"Internal", f.internal},
               {"Attachable", f.attachable},
               {"EnableIPv6", f.ipv6},
               {"CheckDuplicate", true},
               {"Labels", labelMap(f.labels)},
               {"Options", labelMap(f.options)}};
  if (!f.gateway.empty() && f.subnet.empty()) return usage("no matching subnet for gateway " + f.gateway, 1);
  if (!f.subnet.empty()) {
    json config = {{"Subnet", f.subnet}};
    if (!f.gateway.empty()) config["Gateway"] = f.gateway;
    if (!f.ipRange.empty()) config["IPRange"] = f.ipRange;
    body["IPAM"] = {{"Driver", "default"}, {"Config", json::array({config})}};
  }
  auto api = g.api();
  if (!api) return fail(api.error());
  auto r = (*api)->callJson("POST", "/networks/create", body.dump());
  if (!r) return fail(r.error());
  std::printf("%s\n", r->value("Id", "").c_str());
  return 0;
}

struct LsFlags {
  std::vector<std::string> filters;
  bool quiet = false, noTrunc = false;
  std::string format;
};

int cmdLs(Globals& g, const LsFlags& f) {
  auto api = g.api();
  if (!api) return fail(api.error());
  std::string q = "/networks";
  if (!f.filters.empty()) q += "?filters=" + filtersQuery(f.filters);
  auto list = (*api)->callJson("GET", q);
  if (!list) return fail(list.error());
  std::vector<json> rows;
  for (auto& n : *list) {
    std::string id = n.value("Id", "");
    std::string shown = f.noTrunc ? id : id.substr(0, 12);
    if (f.quiet && f.format.empty()) {
      std::printf("%s\n", shown.c_str());
      continue;
    }
    std::string labels;
    if (n.contains("Labels") && n["Labels"].is_object())
      for (auto& [k, v] : n["Labels"].items())
        labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    rows.push_back({{"ID", shown},
                    {"Name", n.value("Name", "")},
                    {"Driver", n.value("Driver", "")},
                    {"Scope", n.value("Scope", "local")},
                    {"IPv6", n.value("EnableIPv6", false) ? "true" : "false"},
                    {"Internal", n.value("Internal", false) ? "true" : "false"},
                    {"Labels", labels},
                    {"CreatedAt", n.value("Created", "")}});
  }
  if (f.quiet && f.format.empty()) return 0;
  static const json headers = {{"ID", "NETWORK ID"}, {"Name", "NAME"},        {"Driver", "DRIVER"},
                               {"Scope", "SCOPE"},   {"IPv6", "IPV6"},        {"Internal", "INTERNAL"},
                               {"Labels", "LABELS"}, {"CreatedAt", "CREATED"}};
  return printOut(
      client::formatRows(f.format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows, headers));
}

}  // namespace

void addNetworkCreate(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<CreateFlags>();
  c->add_option("-d,--driver", f->driver, "driver to manage the network")->capture_default_str();
  c->add_option("--subnet", f->subnet, "subnet in CIDR format that represents a network segment");
  c->add_option("--gateway", f->gateway, "IPv4 gateway for the master subnet");
  c->add_option("--ip-range", f->ipRange, "allocate container IPs from a sub-range");
  c->add_option("--label", f->labels, "set metadata on a network")->allow_extra_args(false);
  c->add_option("-o,--opt", f->options, "set driver specific options")->allow_extra_args(false);
  c->add_flag("--internal", f->internal, "restrict external access to the network");
  c->add_flag("--attachable", f->attachable, "enable manual container attachment");
  c->add_flag("--ipv6", f->ipv6, "enable IPv6 networking");
  c->add_option("NETWORK", f->name, "network name")->required();
  c->callback([f, &g, &run] { run = [f, &g] { return cmdCreate(g, *f); }; });
}

void addNetworkLs(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<LsFlags>();
  c->add_option("-f,--filter", f->filters, "provide filter values (e.g. 'driver=bridge')")
      ->allow_extra_args(false);
  c->add_flag("-q,--quiet", f->quiet, "only display network IDs");
  c->add_flag("--no-trunc", f->noTrunc, "do not truncate the output");
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdLs(g, *f); }; });
}

void addNetworkInspect(CLI::App* c, Globals& g, Runner& run) {
  auto verbose = state<bool>();
  c->add_flag("-v,--verbose", *verbose, "verbose output for diagnostics");
  addInspectCommand(c, g, run, "NETWORK", [](const std::string& n) { return "/networks/" + urlEncode(n); });
}

void addNetworkRm(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto forced = state<bool>();
  c->add_flag("-f,--force", *forced, "do not error if the network does not exist");
  c->add_option("NETWORK", *names)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      bool force = *forced;
      auto api = g.api();
      if (!api) return fail(api.error());
      int rc = 0;
      for (auto& n : *names) {
        auto r = (*api)->call("DELETE", "/networks/" + urlEncode(n));
        if (!r) {
          if (force && r.error().category() == ErrorCategory::NotFound) continue;
          std::fprintf(stderr, "Error response from daemon: %s\n", r.error().message().c_str());
          rc = 1;
          continue;
        }
        std::printf("%s\n", n.c_str());
      }
      return rc;
    };
  });
}

void addNetworkConnect(CLI::App* c, Globals& g, Runner& run) {
  auto net = state<std::string>(), ctr = state<std::string>(), ip = state<std::string>();
  auto aliases = state<std::vector<std::string>>();
  c->add_option("--alias", *aliases, "add network-scoped alias for the container")->allow_extra_args(false);
  c->add_option("--ip", *ip, "IPv4 address (e.g., \"172.30.100.104\")");
  c->add_option("NETWORK", *net)->required();
  c->add_option("CONTAINER", *ctr)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      json ec = json::object();
      if (!aliases->empty()) ec["Aliases"] = *aliases;
      if (!ip->empty()) ec["IPAMConfig"] = {{"IPv4Address", *ip}};
      json body = {{"Container", *ctr}, {"EndpointConfig", ec}};
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->call("POST", "/networks/" + urlEncode(*net) + "/connect", body.dump());
      if (!r) return fail(r.error());
      return 0;
    };
  });
}

void addNetworkDisconnect(CLI::App* c, Globals& g, Runner& run) {
  auto net = state<std::string>(), ctr = state<std::string>();
  auto force = state<bool>();
  c->add_flag("-f,--force", *force, "force the container to disconnect from a network");
  c->add_option("NETWORK", *net)->required();
  c->add_option("CONTAINER", *ctr)->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      json body = {{"Container", *ctr}, {"Force", *force}};
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->call("POST", "/networks/" + urlEncode(*net) + "/disconnect", body.dump());
      if (!r) return fail(r.error());
      return 0;
    };
  });
}

void addNetworkPrune(CLI::App* c, Globals& g, Runner& run) {
  auto force = state<bool>();
  c->add_flag("-f,--force", *force, "do not prompt for confirmation");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (!*force &&
          !confirm("WARNING! This will remove all custom networks not used by at least one container.\n"
                   "Are you sure you want to continue?"))
        return 0;
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->callJson("POST", "/networks/prune");
      if (!r) return fail(r.error());
      if (r->contains("NetworksDeleted") && (*r)["NetworksDeleted"].is_array() &&
          !(*r)["NetworksDeleted"].empty()) {
        std::printf("Deleted Networks:\n");
        for (auto& n : (*r)["NetworksDeleted"]) std::printf("%s\n", n.get<std::string>().c_str());
      }
      return 0;
    };
  });
}

}  // namespace berth::cli

namespace berth::cli {

// docker port CONTAINER [PRIVATE_PORT[/PROTO]]: "80/tcp -> 0.0.0.0:8080", or the addresses of one port.
void addPort(CLI::App* c, Globals& g, Runner& run) {
  auto ref = state<std::string>(), which = state<std::string>();
  c->add_option("CONTAINER", *ref)->required();
  c->add_option("PRIVATE_PORT", *which, "port[/proto]");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      auto j = (*api)->callJson("GET", "/containers/" + urlEncode(*ref) + "/json");
      if (!j) return fail(j.error());
      json ports = j->value("NetworkSettings", json::object()).value("Ports", json::object());
      std::string want = *which;
      if (!want.empty() && want.find('/') == std::string::npos) want += "/tcp";
      bool any = false;
      for (auto& [key, list] : ports.items()) {
        if (!list.is_array() || (!want.empty() && key != want)) continue;
        for (auto& b : list) {
          std::string addr = b.value("HostIp", "") + ":" + b.value("HostPort", "");
          if (want.empty())
            std::printf("%s -> %s\n", key.c_str(), addr.c_str());
          else
            std::printf("%s\n", addr.c_str());
          any = true;
        }
      }
      if (!want.empty() && !any) {
        std::fprintf(stderr, "Error: No public port '%s' published for %s\n", want.c_str(), ref->c_str());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace berth::cli
