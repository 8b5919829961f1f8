// Container commands over the Engine API: ps, start, stop, kill, restart, rm, pause, unpause, wait, rename,
// update, inspect, top, container prune.
#include <algorithm>
#include <ctime>

#include "berth.h"
#include "client/format.h"

namespace berth::cli {
namespace {

using client::urlEncode;

std::string path(const std::string& idOrName, const std::string& rest = "") {
  return "/containers/" + urlEncode(idOrName) + rest;
}

// One row of `ps` as docker's formatter sees it (fields for --format, "__Label" for {{.Label "k"}}).
json psRow(const json& c, bool trunc) {
  std::string id = c.value("Id", "");
  std::string image = c.value("Image", "");
  if (trunc && image.starts_with("sha256:")) image = image.substr(7, 12);
  std::string command = c.value("Command", "");
  if (trunc) command = client::ellipsis(command, 20);
  std::vector<std::string> names;
  if (c.contains("Names") && c["Names"].is_array())
    for (auto& n : c["Names"]) {
      std::string s = n.is_string() ? n.get<std::string>() : "";
      if (s.starts_with("/")) s = s.substr(1);
      if (trunc && s.find('/') != std::string::npos) continue;  // links
      names.push_back(s);
    }
  json labels = c.contains("Labels") && c["Labels"].is_object() ? c["Labels"] : json::object();
  std::string labelStr;
  for (auto& [k, v] : labels.items())
    labelStr += (labelStr.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : "");
  int64_t created = c.value("Created", int64_t(0));
  std::string size;
  if (c.contains("SizeRw") || c.contains("SizeRootFs"))
    size = client::humanSize(static_cast<double>(c.value("SizeRw", int64_t(0)))) + " (virtual " +
           client::humanSize(static_cast<double>(c.value("SizeRootFs", int64_t(0)))) + ")";
  std::string networks;
  if (c.contains("NetworkSettings") && c["NetworkSettings"].is_object() &&
      c["NetworkSettings"].contains("Networks") && c["NetworkSettings"]["Networks"].is_object())
    for (auto& [k, v] : c["NetworkSettings"]["Networks"].items())
      networks += (networks.empty() ? "" : ",") + k;
  std::string mounts;
  int localVolumes = 0;
  if (c.contains("Mounts") && c["Mounts"].is_array())
    for (auto& m : c["Mounts"]) {
      std::string n = m.value("Name", "");
      if (n.empty()) n = m.value("Source", "");
      if (trunc && n.size() > 15) n = n.substr(0, 15) + "…";
      mounts += (mounts.empty() ? "" : ",") + n;
      if (m.value("Driver", "") == "local") ++localVolumes;
    }
  std::string ports;
  if (c.contains("Ports") && c["Ports"].is_array())
    for (auto& p : c["Ports"]) {
      std::string one = p.contains("PublicPort")
                            ? p.value("IP", "0.0.0.0") + ":" + std::to_string(p.value("PublicPort", 0)) + "->"
                            : "";
      one += std::to_string(p.value("PrivatePort", 0)) + "/" + p.value("Type", "tcp");
      ports += (ports.empty() ? "" : ", ") + one;
    }
  int64_t ago = static_cast<int64_t>(client::nowSeconds()) - created;
  return json{{"ID", trunc ? id.substr(0, 12) : id},
              {"Image", image},
              {"Command", json(command).dump()},
              {"CreatedAt", client::goTime(created)},
              {"RunningFor", client::humanDuration(ago) + " ago"},
              {"Ports", ports},
              {"State", c.value("State", "")},
              {"Status", c.value("Status", "")},
              {"Size", size},
              {"Names",
               [&] {
                 std::string s;
                 for (auto& n : names) s += (s.empty() ? "" : ",") + n;
                 return s;
               }()},
              {"Labels", labelStr},
              {"Mounts", mounts},
              {"Networks", networks},
              {"LocalVolumes", std::to_string(localVolumes)},
              {"__Label", labels}};
}

const json& psHeaders() {
  static const json h = {{"ID", "CONTAINER ID"},    {"Image", "IMAGE"},
                         {"Command", "COMMAND"},    {"CreatedAt", "CREATED AT"},
                         {"RunningFor", "CREATED"}, {"Ports", "PORTS"},
                         {"State", "STATE"},        {"Status", "STATUS"},
                         {"Size", "SIZE"},          {"Names", "NAMES"},
                         {"Labels", "LABELS"},      {"Mounts", "MOUNTS"},
                         {"Networks", "NETWORKS"},  {"LocalVolumes", "LOCAL VOLUMES"}};
  return h;
}

struct PsFlags {
  bool all = false, quiet = false, noTrunc = false, size = false, latest = false;
  int last = -1;
  std::vector<std::string> filters;
  std::string format;
};

int cmdPs(Globals& g, const PsFlags& f) {
  auto api = g.api();
  if (!api) return fail(api.error());
  std::string q = "/containers/json?";
  if (f.all || f.latest || f.last > 0) q += "all=1&";
  if (f.latest)
    q += "limit=1&";
  else if (f.last > 0)
    q += "limit=" + std::to_string(f.last) + "&";
  bool wantSize = f.size || f.format.find(".Size") != std::string::npos;
  if (wantSize) q += "size=1&";
  if (!f.filters.empty()) q += "filters=" + filtersQuery(f.filters);
  auto list = (*api)->callJson("GET", q);
  if (!list) return fail(list.error());
  if (!list->is_array()) return failLocal("the daemon's container list is not a JSON array");
  std::vector<json> rows;
  for (auto& c : *list) rows.push_back(psRow(c, !f.noTrunc));
  if (f.quiet && f.format.empty()) {
    for (auto& r : rows) std::printf("%s\n", r["ID"].get<std::string>().c_str());
    return 0;
  }
  std::string def =
      "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
  if (f.size) def += "\t{{.Size}}";
  return printOut(client::formatRows(f.format, def, rows, psHeaders()));
}

// Runs `op` for each named container, printing the name on success and docker's error otherwise.
int forEach(Globals& g, const std::vector<std::string>& names,
            const std::function<Result<void>(client::Api&, const std::string&)>& op, bool printName = true) {
  auto api = g.api();
  if (!api) return fail(api.error());
  int rc = 0;
  for (auto& n : names) {
    if (auto r = op(**api, n); !r) {
      rc = fail(r.error());
    } else if (printName) {
      std::printf("%s\n", n.c_str());
      std::fflush(stdout);
    }
  }
  return rc;
}

Result<void> post(client::Api& a, const std::string& target, const std::string& body = "") {
  TRY(auto r, a.call("POST", target, body));
  (void)r;
  return {};
}

void namesArg(CLI::App* c, std::vector<std::string>& names, const char* what = "CONTAINER") {
  c->add_option(what, names, "containers (names or IDs)")->required();
}

int startAttached(Globals& g, const std::string& name, bool interactive) {
  auto api = g.api();
  if (!api) return fail(api.error());
  client::Api& a = **api;
  auto info = a.callJson("GET", path(name, "/json"));
  if (!info) return fail(info.error());
  std::string id = info->value("Id", name);
  bool tty = (*info)["Config"].value("Tty", false);
  bool openStdin = (*info)["Config"].value("OpenStdin", false);
  auto conn = a.hijack("POST", path(id, std::string("/attach?stream=1&stdout=1&stderr=1&stdin=") +
                                            (interactive && openStdin ? "1" : "0")));
  if (!conn) return fail(conn.error());
  auto waiter = a.beginWait(path(id), "next-exit");
  if (!waiter) return fail(waiter.error());
  if (auto r = a.call("POST", path(id, "/start")); !r) return fail(r.error());
  StreamOptions so = streamOptions(a, path(id), tty, interactive && openStdin, path(id, "/kill"));
  if (auto r = relayStreams(*conn, so); !r) return fail(r.error());
  auto status = waiter->finish();
  if (!status) return fail(status.error());
  return *status;
}

std::string timeQuery(const std::string& sig, int time, bool timeSet) {
  std::string q;
  if (timeSet) q += "t=" + std::to_string(time);
  if (!sig.empty()) q += std::string(q.empty() ? "" : "&") + "signal=" + urlEncode(sig);
  return q.empty() ? "" : "?" + q;
}

Result<std::string> inspectOne(client::Api& a, const std::string& name, const std::string& type, bool size) {
  if (type.empty() || type == "container") {
    auto r = a.call("GET", path(name, size ? "/json?size=1" : "/json"));
    if (r) return r->body;
    if (r.error().category() != ErrorCategory::NotFound || type == "container")
      return std::unexpected(r.error());
  }
  if (type.empty() || type == "image") {
    auto r = a.call("GET", "/images/" + urlEncode(name) + "/json");
    if (r) return r->body;
    if (r.error().category() != ErrorCategory::NotFound || type == "image") return std::unexpected(r.error());
  }
  if (type.empty() || type == "network") {
    auto r = a.call("GET", "/networks/" + urlEncode(name));
    if (r) return r->body;
    if (r.error().category() != ErrorCategory::NotFound || type == "network")
      return std::unexpected(r.error());
  }
  if (type.empty() || type == "volume") {
    auto r = a.call("GET", "/volumes/" + urlEncode(name));
    if (r) return r->body;
    if (r.error().category() != ErrorCategory::NotFound || type == "volume")
      return std::unexpected(r.error());
  }
  return berth::fail(ErrorCategory::NotFound, "No such object: " + name);
}

int cmdInspect(Globals& g, const std::vector<std::string>& names, const std::string& format,
               const std::string& type, bool size) {
  if (!type.empty() && type != "container" && type != "image" && type != "network" && type != "volume")
    return failLocal("\"" + type + "\" is not a valid value for --type");
  return inspectEach(g, names, format,
                     [&](client::Api& a, const std::string& n) { return inspectOne(a, n, type, size); });
}

}  // namespace

void addPs(CLI::App* c, Globals& g, Runner& run) {
  auto f = state<PsFlags>();
  c->add_flag("-a,--all", f->all, "show all containers (default shows just running)");
  c->add_flag("-q,--quiet", f->quiet, "only display container IDs");
  c->add_flag("--no-trunc", f->noTrunc, "don't truncate output");
  c->add_flag("-s,--size", f->size, "display total file sizes");
  c->add_flag("-l,--latest", f->latest, "show the latest created container (includes all states)");
  c->add_option("-n,--last", f->last, "show n last created containers (includes all states)");
  c->add_option("-f,--filter", f->filters, "filter output based on conditions provided")
      ->allow_extra_args(false);
  c->add_option("--format", f->format,
                "format output using a Go template, 'table', 'table TEMPLATE' or 'json'");
  c->callback([f, &g, &run] { run = [f, &g] { return cmdPs(g, *f); }; });
}

void addStart(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto attach = state<bool>(), interactive = state<bool>();
  c->add_flag("-a,--attach", *attach, "attach STDOUT/STDERR and forward signals");
  c->add_flag("-i,--interactive", *interactive, "attach container's STDIN");
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (*attach || *interactive) {
        if (names->size() > 1) return usage("you cannot start and attach multiple containers at once", 1);
        return startAttached(g, names->front(), *interactive);
      }
      return forEach(g, *names,
                     [](client::Api& a, const std::string& n) { return post(a, path(n, "/start")); });
    };
  });
}

namespace {
// stop and restart: -t/--time (-timeout), -s/--signal, then POST <name>/<action>.
void addStopLike(CLI::App* c, Globals& g, Runner& run, const std::string& action) {
  auto names = state<std::vector<std::string>>();
  auto time = state<int>();
  auto sig = state<std::string>();
  auto timeSet = state<bool>();
  c->add_option("-t,--time,--timeout", *time, "seconds to wait before killing the container")
      ->each([timeSet](const std::string&) { *timeSet = true; });
  c->add_option("-s,--signal", *sig, "signal to send to the container");
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(g, *names, [=](client::Api& a, const std::string& n) {
        return post(a, path(n, "/" + action + timeQuery(*sig, *time, *timeSet)));
      });
    };
  });
}
}  // namespace

void addStop(CLI::App* c, Globals& g, Runner& run) {
  addStopLike(c, g, run, "stop");
}

void addRestart(CLI::App* c, Globals& g, Runner& run) {
  addStopLike(c, g, run, "restart");
}

void addKill(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto sig = state<std::string>();
  c->add_option("-s,--signal", *sig, "signal to send to the container (default KILL)");
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(g, *names, [=](client::Api& a, const std::string& n) {
        return post(a, path(n, "/kill" + std::string(sig->empty() ? "" : "?signal=" + urlEncode(*sig))));
      });
    };
  });
}

void addRm(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto force = state<bool>(), volumes = state<bool>(), link = state<bool>();
  c->add_flag("-f,--force", *force, "force the removal of a running container (uses SIGKILL)");
  c->add_flag("-v,--volumes", *volumes, "remove anonymous volumes associated with the container");
  c->add_flag("-l,--link", *link, "remove the specified link");
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(g, *names, [=](client::Api& a, const std::string& n) -> Result<void> {
        TRY(auto r, a.call("DELETE", path(n, std::string("?force=") + (*force ? "1" : "0") +
                                                 "&v=" + (*volumes ? "1" : "0"))));
        (void)r;
        return {};
      });
    };
  });
}

void addPause(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(g, *names,
                     [](client::Api& a, const std::string& n) { return post(a, path(n, "/pause")); });
    };
  });
}

void addUnpause(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(g, *names,
                     [](client::Api& a, const std::string& n) { return post(a, path(n, "/unpause")); });
    };
  });
}

void addWait(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  namesArg(c, *names);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(
          g, *names,
          [](client::Api& a, const std::string& n) -> Result<void> {
            TRY(json r, a.callJson("POST", path(n, "/wait")));
            std::printf("%lld\n", static_cast<long long>(r.value("StatusCode", int64_t(-1))));
            std::fflush(stdout);
            return {};
          },
          false);
    };
  });
}

void addRename(CLI::App* c, Globals& g, Runner& run) {
  auto from = state<std::string>(), to = state<std::string>();
  c->add_option("CONTAINER", *from, "container to rename")->required();
  c->add_option("NEW_NAME", *to, "its new name")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      return forEach(
          g, {*from},
          [=](client::Api& a, const std::string& n) {
            return post(a, path(n, "/rename?name=" + urlEncode(*to)));
          },
          false);
    };
  });
}

void addUpdate(CLI::App* c, Globals& g, Runner& run) {
  struct F {
    std::vector<std::string> names;
    std::string memory, memorySwap, memoryReservation, cpus, cpusetCpus, restart;
    int64_t cpuShares = 0, cpuPeriod = 0, cpuQuota = 0, pidsLimit = 0;
  };
  auto f = state<F>();
  c->add_option("-m,--memory", f->memory, "memory limit");
  c->add_option("--memory-swap", f->memorySwap, "swap limit equal to memory plus swap: -1 for unlimited");
  c->add_option("--memory-reservation", f->memoryReservation, "memory soft limit");
  c->add_option("--cpus", f->cpus, "number of CPUs");
  c->add_option("-c,--cpu-shares", f->cpuShares, "CPU shares (relative weight)");
  c->add_option("--cpu-period", f->cpuPeriod, "limit CPU CFS period");
  c->add_option("--cpu-quota", f->cpuQuota, "limit CPU CFS quota");
  c->add_option("--cpuset-cpus", f->cpusetCpus, "CPUs in which to allow execution (0-3, 0,1)");
  c->add_option("--pids-limit", f->pidsLimit, "tune container pids limit (-1 for unlimited)");
  c->add_option("--restart", f->restart, "restart policy to apply when a container exits");
  namesArg(c, f->names);
  c->callback([f, &g, &run] {
    run = [f, &g] {
      json body = json::object();
      auto bytes = [&](const std::string& v, const char* key) -> bool {
        if (v.empty()) return true;
        if (v == "-1") return body[key] = -1, true;
        auto b = parseBytes(v);
        if (!b) return false;
        body[key] = *b;
        return true;
      };
      if (!bytes(f->memory, "Memory") || !bytes(f->memorySwap, "MemorySwap") ||
          !bytes(f->memoryReservation, "MemoryReservation"))
        return usage("invalid size given to a memory flag", 1);
      if (!f->cpus.empty()) {
        char* end = nullptr;
        double v = std::strtod(f->cpus.c_str(), &end);
        if (!end || *end || v < 0)
          return usage("invalid argument \"" + f->cpus + "\" for \"--cpus\" flag", 1);
        body["NanoCpus"] = static_cast<int64_t>(v * 1e9);
      }
      if (f->cpuShares) body["CpuShares"] = f->cpuShares;
      if (f->cpuPeriod) body["CpuPeriod"] = f->cpuPeriod;
      if (f->cpuQuota) body["CpuQuota"] = f->cpuQuota;
      if (!f->cpusetCpus.empty()) body["CpusetCpus"] = f->cpusetCpus;
      if (f->pidsLimit) body["PidsLimit"] = f->pidsLimit;
      if (!f->restart.empty()) {
        std::string name = f->restart;
        int64_t count = 0;
        if (auto colon = name.find(':'); colon != std::string::npos) {
          count = std::atoll(name.c_str() + colon + 1);
          name = name.substr(0, colon);
        }
        body["RestartPolicy"] = {{"Name", name}, {"MaximumRetryCount", count}};
      }
      if (body.empty()) return usage("you must provide one or more flags when using this command", 1);
      return forEach(g, f->names, [&](client::Api& a, const std::string& n) -> Result<void> {
        TRY(json r, a.callJson("POST", path(n, "/update"), body.dump()));
        if (r.contains("Warnings") && r["Warnings"].is_array())
          for (auto& w : r["Warnings"])
            if (w.is_string()) std::fprintf(stderr, "WARNING: %s\n", w.get<std::string>().c_str());
        return {};
      });
    };
  });
}

void addInspect(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto format = state<std::string>(), type = state<std::string>();
  auto size = state<bool>();
  c->add_option("-f,--format", *format, "format output using a Go template or 'json'");
  c->add_option("--type", *type, "only inspect objects of the given type (container, image)");
  c->add_flag("-s,--size", *size, "display total file sizes if the type is container");
  c->add_option("NAME", *names, "names or IDs")->required();
  c->callback([=, &g, &run] { run = [=, &g] { return cmdInspect(g, *names, *format, *type, *size); }; });
}

void addContainerInspect(CLI::App* c, Globals& g, Runner& run) {
  auto names = state<std::vector<std::string>>();
  auto format = state<std::string>();
  auto size = state<bool>();
  c->add_option("-f,--format", *format, "format output using a Go template or 'json'");
  c->add_flag("-s,--size", *size, "display total file sizes");
  namesArg(c, *names);
  c->callback(
      [=, &g, &run] { run = [=, &g] { return cmdInspect(g, *names, *format, "container", *size); }; });
}

void addTop(CLI::App* c, Globals& g, Runner& run) {
  auto args = state<std::vector<std::string>>();
  c->add_option("CONTAINER", *args, "container [ps OPTIONS]")->required();
  c->prefix_command();
  c->callback([=, &g, &run] {
    for (auto& r : c->remaining()) args->push_back(r);
    run = [=, &g] {
      auto api = g.api();
      if (!api) return fail(api.error());
      std::string psArgs;
      for (size_t i = 1; i < args->size(); ++i) psArgs += (i > 1 ? " " : "") + (*args)[i];
      auto r = (*api)->callJson(
          "GET", path(args->front(), "/top" + (psArgs.empty() ? "" : "?ps_args=" + urlEncode(psArgs))));
      if (!r) return fail(r.error());
      std::string text;
      auto line = [&](const json& cells) {
        for (size_t i = 0; i < cells.size(); ++i)
          text += (i ? "\t" : "") + (cells[i].is_string() ? cells[i].get<std::string>() : cells[i].dump());
        text += "\n";
      };
      if (r->contains("Titles")) line((*r)["Titles"]);
      if (r->contains("Processes") && (*r)["Processes"].is_array())
        for (auto& p : (*r)["Processes"]) line(p);
      std::string out = client::tabwrite(text, 20, 3);
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    };
  });
}

void addContainerPrune(CLI::App* c, Globals& g, Runner& run) {
  auto force = state<bool>();
  auto filters = state<std::vector<std::string>>();
  c->add_flag("-f,--force", *force, "do not prompt for confirmation");
  c->add_option("--filter", *filters, "provide filter values (e.g. 'until=<timestamp>')")
      ->allow_extra_args(false);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      if (!*force &&
          !confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))
        return 0;
      auto api = g.api();
      if (!api) return fail(api.error());
      auto r = (*api)->callJson(
          "POST", "/containers/prune" + (filters->empty() ? "" : "?filters=" + filtersQuery(*filters)));
      if (!r) return fail(r.error());
      int64_t reclaimed = printDeleted(*r, "ContainersDeleted", "Containers");
      std::printf("Total reclaimed space: %s\n", client::humanSize(static_cast<double>(reclaimed)).c_str());
      return 0;
    };
  });
}

}  // namespace berth::cli
