// /_ping, /version, /info, /system/df.
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>

#include "base/log.h"
#include "image/reference.h"
#include "server/http.h"
#include "server/json_body.h"

namespace berth::server {

using nlohmann::json;

Result<std::map<std::string, std::vector<std::string>>> parseFilters(const std::string& raw) {
  std::map<std::string, std::vector<std::string>> out;
  if (raw.empty()) return out;
  auto parsed = parseJsonBody(raw, JsonLimits{.maxDepth = 4, .maxValues = 10'000, .maxBytes = 64 << 10});
  if (!parsed || !parsed->is_object()) return invalid("invalid filters: " + raw.substr(0, 200));
  auto& j = *parsed;
  for (auto& [k, v] : j.items()) {
    if (v.is_array()) {
      for (auto& x : v)
        if (x.is_string()) out[k].push_back(x.get<std::string>());
    } else if (v.is_object()) {
      for (auto& [name, on] : v.items())
        if (!on.is_boolean() || on.get<bool>()) out[k].push_back(name);
    } else {
      return invalid("invalid filter '" + k + "'");
    }
  }
  return out;
}

namespace {

std::string kernelVersion() {
  struct utsname u;
  ::uname(&u);
  return u.release;
}

std::string arch() {
  struct utsname u;
  ::uname(&u);
  std::string m = u.machine;
  return m == "x86_64" ? "amd64" : m == "aarch64" ? "arm64" : m;
}

void ping(Request& req, Responder& r) {
  (void)req;
  // As dockerd: clients poll _ping to learn the API version, so no cache may answer for the daemon.
  r.header("Cache-Control", "no-cache, no-store, must-revalidate");
  r.header("Pragma", "no-cache");
  r.text(200, "text/plain; charset=utf-8", "OK");
}

// A daemon with no plugins that is not a swarm node, answered as dockerd answers then: clients' set-up
// lists plugins, and their clean-up leaves a swarm (a 404 there fails them before they do anything).
void addSwarmAndPluginRoutes(Router& router) {
  router.add("GET", "/plugins", [](Request&, Responder& r) { r.json(200, json::array()); });
  router.add("POST", "/swarm/leave", [](Request&, Responder& r) {
    r.error(Error(ErrorCategory::Unavailable, "This node is not part of a swarm"));
  });
  auto notManager = [](Request&, Responder& r) {
    r.error(Error(ErrorCategory::Unavailable,
                  "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to "
                  "connect this node to swarm and try again."));
  };
  for (const char* path : {"/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"})
    router.add("GET", path, notManager);
}

// _ping, version, info.
void addDaemonRoutes(Router& router, engine::Engine& e, const std::string& version) {
  router.add("GET", "/_ping", ping);
  router.add("HEAD", "/_ping", ping);
  router.add("GET", "/version", [version](Request&, Responder& r) {
    std::string k = kernelVersion();
    r.json(200, {{"Platform", {{"Name", "berth"}}},
                 {"Components", json::array({{{"Name", "Engine"},
                                              {"Version", version},
                                              {"Details",
                                               {{"ApiVersion", kApiVersion},
                                                {"MinAPIVersion", kMinApiVersion},
                                                {"Os", "linux"},
                                                {"Arch", arch()},
                                                {"KernelVersion", k}}}}})},
                 {"Version", version},
                 {"ApiVersion", kApiVersion},
                 {"MinAPIVersion", kMinApiVersion},
                 {"GitCommit", "berth"},
                 {"GoVersion", "none (C++)"},
                 {"Os", "linux"},
                 {"Arch", arch()},
                 {"KernelVersion", k},
                 {"BuildTime", ""}});
  });
  router.add("GET", "/info", [&e, version](Request&, Responder& r) {
    int running = 0, paused = 0, stopped = 0, total = 0;
    engine::ListOptions lo;
    lo.all = true;
    if (auto all = e.list(lo))
      for (auto& c : *all) {
        ++total;
        if (c.state.status == engine::Status::Running)
          ++running;
        else if (c.state.status == engine::Status::Paused)
          ++paused;
        else
          ++stopped;
      }
    int64_t images = 0;
    if (auto l = e.images().list()) images = static_cast<int64_t>(l->size());
    struct sysinfo si {};
    ::sysinfo(&si);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    bool v2 = ::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
    r.json(200,
           {{"ID", "berth"},
            {"Containers", total},
            {"ContainersRunning", running},
            {"ContainersPaused", paused},
            {"ContainersStopped", stopped},
            {"Images", images},
            {"Driver", e.options().driver},
            {"DriverStatus", json::array()},
            {"Plugins",
             {{"Volume", json::array()},
              {"Network", json::array({"host", "null"})},
              {"Log", json::array({"json-file"})}}},
            {"MemoryLimit", true},
            {"SwapLimit", true},
            {"CpuCfsPeriod", true},
            {"CpuCfsQuota", true},
            {"CPUShares", true},
            {"CPUSet", true},
            {"PidsLimit", true},
            {"IPv4Forwarding", false},
            {"Debug", false},
            {"NFd", 0},
            {"NGoroutines", 0},
            {"SystemTime", log::nowRfc3339()},
            {"LoggingDriver", "json-file"},
            {"CgroupDriver", "cgroupfs"},
            {"CgroupVersion", v2 ? "2" : "1"},
            {"KernelVersion", kernelVersion()},
            {"OperatingSystem", "Linux"},
            {"OSType", "linux"},
            {"Architecture", arch()},
            {"NCPU", ::sysconf(_SC_NPROCESSORS_ONLN)},
            {"MemTotal", static_cast<int64_t>(si.totalram) * si.mem_unit},
            {"DockerRootDir", e.options().dataRoot},
            {"Name", host},
            {"Labels", json::array()},
            {"ExperimentalBuild", false},
            {"ServerVersion", version},
            {"Runtimes", {{"berth", {{"path", "berth-shim"}}}}},
            {"DefaultRuntime", "berth"},
            {"Swarm",
             {{"LocalNodeState", "inactive"}, {"ControlAvailable", false}, {"NodeID", ""}, {"NodeAddr", ""}}},
            {"LiveRestoreEnabled", true},
            {"Isolation", ""},
            {"InitBinary", ""},
            {"SecurityOptions", json::array({"name=seccomp,profile=builtin"})},
            {"Warnings", json::array()}});
  });
}

// events, system df.
void addSystemDataRoutes(Router& router, engine::Engine& e) {
  router.add("GET", "/events", [&e](Request& req, Responder& r) {
    auto f = parseFilters(req.queryStr("filters"));
    if (!f) return r.error(f.error());
    auto timeNs = [](const std::string& v) -> int64_t {
      if (v.empty()) return 0;
      char* end = nullptr;
      double secs = std::strtod(v.c_str(), &end);
      if (end && *end == 0) return static_cast<int64_t>(secs * 1e9);
      struct tm tm {};
      if (strptime(v.c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
        return static_cast<int64_t>(timegm(&tm)) * 1000000000LL;
      return -1;
    };
    int64_t since = timeNs(req.queryStr("since")), until = timeNs(req.queryStr("until"));
    if (since < 0 || until < 0)
      return r.error(Error(ErrorCategory::InvalidArgument, "invalid time in since/until"));
    bool started = false;
    auto sink = [&](const json& ev) {
      if (!started) {
        r.beginStream("application/json");
        started = true;
      }
      if (ev.is_null()) return r.chunk({});
      return r.chunk(ev.dump() + "\n");
    };
    auto res = e.events(since, until, *f, sink, [&r] { return r.clientGone(); });
    if (!res) return r.error(res.error());
    if (!started) r.beginStream("application/json");
  });
  router.add("GET", "/system/df", [&e](Request&, Responder& r) {
    engine::ListOptions lo;
    lo.all = true;
    auto containers = e.list(lo);
    if (!containers) return r.error(containers.error());
    std::map<std::string, int> users;
    json cs = json::array();
    for (auto& c : *containers) {
      users[c.imageId]++;
      json j = e.summaryJson(c);
      auto u = e.images().snapshotter().usage("container-" + c.id);
      j["SizeRw"] = u ? static_cast<int64_t>(u->size) : 0;
      j["SizeRootFs"] = 0;
      cs.push_back(j);
    }
    auto usage = e.images().diskUsage([&](const image::Digest& d) { return users.count(d.str()) > 0; });
    if (!usage) return r.error(usage.error());
    auto images = e.images().list();
    if (!images) return r.error(images.error());
    json is = json::array();
    for (auto& img : *images) {
      json tags = json::array();
      for (auto& t : img.tags)
        if (auto ref = image::parseReference(t)) tags.push_back(ref->familiar());
      struct tm tm {};
      int64_t created = strptime(img.created.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) ? timegm(&tm) : 0;
      is.push_back({{"Id", img.id.str()},
                    {"ParentId", ""},
                    {"RepoTags", tags},
                    {"RepoDigests", json::array()},
                    {"Created", created},
                    {"Size", img.size},
                    {"SharedSize", 0},
                    {"VirtualSize", img.size},
                    {"Labels", json::object()},
                    {"Containers", users.count(img.id.str()) ? users[img.id.str()] : 0}});
    }
    r.json(200, {{"LayersSize", usage->imagesSize},
                 {"Images", is},
                 {"Containers", cs},
                 {"Volumes", e.volumeUsage().value_or(json::array())},
                 {"BuildCache", json::array()}});
  });
}

}  // namespace

void addSystemRoutes(Router& router, engine::Engine& e, const std::string& version) {
  addDaemonRoutes(router, e, version);
  addSystemDataRoutes(router, e);
  addSwarmAndPluginRoutes(router);
}

}  // namespace berth::server
