// Engine: opening, container records in SQLite, create, lookup, list, rename, prune.
#include "engine/engine.h"
#include "engine/internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "base/file.h"
#include "base/log.h"
#include "base/random_id.h"
#include "base/self_exe.h"
#include "image/reference.h"
#include "snapshot/snapshotter.h"
#include "sys/cgroup.h"

namespace berth::engine {

using nlohmann::json;

namespace {

// How long the pools wait after a container's start or exit before making what a start took (unless they ran
// empty): a shim's maker stages its cgroup holding the kernel's cgroup_mutex through an RCU grace period
// (13-16 ms here), which a start's cgroup rename or an exit's rmdir running then would wait for.
constexpr std::chrono::milliseconds kPoolQuiet{20};

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL
);
)";

// docker's names-generator flavour: adjective_surname.
std::string randomName() {
  static const char* adj[] = {"admiring", "brave", "calm",  "eager",  "focused", "gallant", "happy",
                              "jolly",    "keen",  "lucid", "modest", "nifty",   "quirky",  "relaxed",
                              "serene",   "sharp", "stoic", "tender", "vibrant", "zealous"};
  static const char* who[] = {"hopper",    "lovelace", "turing",   "ritchie",  "thompson",
                              "torvalds",  "knuth",    "dijkstra", "hamilton", "liskov",
                              "kernighan", "pike",     "cerf",     "perlman",  "wozniak",
                              "noether",   "curie",    "shannon",  "babbage",  "goldberg"};
  auto r = randomBytes<2>();
  return std::string(adj[r[0] % std::size(adj)]) + "_" + who[r[1] % std::size(who)];
}

json toJson(const Container& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"image", c.image},
          {"imageId", c.imageId},
          {"created", c.created},
          {"config", c.config},
          {"hostConfig", c.hostConfig},
          {"path", c.path},
          {"args", c.args},
          {"state",
           {{"status", c.state.status},
            {"pid", c.state.pid},
            {"exitCode", c.state.exitCode},
            {"oomKilled", c.state.oomKilled},
            {"error", c.state.error},
            {"startedAt", c.state.startedAt},
            {"finishedAt", c.state.finishedAt},
            {"health", c.state.health}}},
          {"restartCount", c.restartCount},
          {"hasBeenStarted", c.hasBeenStarted},
          {"removalRequested", c.removalRequested},
          {"manuallyStopped", c.manuallyStopped},
          {"endpoints",
           [&] {
             json e = json::object();
             for (auto& [name, ep] : c.endpoints) e[name] = ep.toJson();
             return e;
           }()},
          {"aliases", c.aliases},
          {"networks", c.networks},
          {"ips", c.ips},
          {"mounts",
           [&] {
             json m = json::array();
             for (auto& x : c.mounts) m.push_back(x.toJson());
             return m;
           }()},
          {"ports", [&] {
             json p = json::array();
             for (auto& b : c.ports) p.push_back(b.toJson());
             return p;
           }()}};
}

Container fromJson(const json& j) {
  Container c;
  c.id = j.at("id").get<std::string>();
  c.name = j.at("name").get<std::string>();
  c.image = j.value("image", "");
  c.imageId = j.value("imageId", "");
  c.created = j.value("created", "");
  c.config = j.value("config", json::object());
  c.hostConfig = j.value("hostConfig", json::object());
  c.path = j.value("path", "");
  c.args = j.value("args", std::vector<std::string>{});
  auto s = j.value("state", json::object());
  c.state.status = s.value("status", "created");
  c.state.pid = s.value("pid", 0);
  c.state.exitCode = s.value("exitCode", 0);
  c.state.oomKilled = s.value("oomKilled", false);
  c.state.error = s.value("error", "");
  c.state.startedAt = s.value("startedAt", c.state.startedAt);
  c.state.finishedAt = s.value("finishedAt", c.state.finishedAt);
  c.state.health = s.value("health", json(nullptr));
  c.restartCount = j.value("restartCount", 0);
  c.hasBeenStarted = j.value("hasBeenStarted", false);
  c.removalRequested = j.value("removalRequested", false);
  c.manuallyStopped = j.value("manuallyStopped", false);
  if (auto it = j.find("endpoints"); it != j.end() && it->is_object())
    for (auto& [name, ep] : it->items()) c.endpoints[name] = Endpoint::fromJson(ep);
  c.aliases = j.value("aliases", std::map<std::string, std::vector<std::string>>{});
  c.ips = j.value("ips", std::map<std::string, std::string>{});
  if (j.contains("networks")) {
    c.networks = j.value("networks", std::vector<std::string>{});
  } else {  // a record of an earlier daemon: its NetworkMode alone
    std::string mode = c.hostConfig.value("NetworkMode", "");
    if (!mode.empty() && mode != "none" && mode != "host" && mode != "default" &&
        !mode.starts_with("container:"))
      c.networks.push_back(mode);
  }
  if (auto it = j.find("ports"); it != j.end() && it->is_array())
    for (auto& b : *it) c.ports.push_back(PortBinding::fromJson(b));
  if (auto it = j.find("mounts"); it != j.end() && it->is_array())
    for (auto& m : *it) c.mounts.push_back(MountPoint::fromJson(m));
  return c;
}

// docker's [a-zA-Z0-9][a-zA-Z0-9_.-]+ (by hand: std::regex recurses per character, and names come from
// the query string).
bool validContainerName(std::string_view n) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (n.size() < 2 || !alnum(n[0])) return false;
  for (char c : n.substr(1))
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

Result<std::vector<std::string>> stringList(const json& body, const char* key, bool allowString) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::vector<std::string>{};
  if (allowString && it->is_string()) return std::vector<std::string>{it->get<std::string>()};
  if (!it->is_array()) return invalid(std::string(key) + ": expected an array of strings");
  std::vector<std::string> out;
  for (auto& v : *it) {
    if (!v.is_string()) return invalid(std::string(key) + ": expected an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

bool isNotModified(const Error& e) {
  return e.category() == ErrorCategory::NotModified;
}

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts) {
  std::unique_ptr<Engine> e(new Engine());
  e->opts_ = opts;
  // One read-only copy of the shim for all containers: each shim starts protected and needs no re-exec.
  e->shimExe_.reset(readOnlyExecutable(opts.shimPath.c_str()));
  TRY(auto images, image::ImageService::open({opts.dataRoot, opts.driver}));
  e->images_ = std::move(images);
  TRY(auto db, db::Database::open(opts.dataRoot + "/metadata.db"));
  e->db_.emplace(std::move(db));
  TRYV(e->db_->migrate("containers", {kSchemaV1}));
  TRYV(ensureDir(opts.runRoot + "/containers", 0700));
  TRYV(ensureDir(opts.runRoot + "/runtime", 0700));
  // Filesystems that cp/export requests of a killed daemon mounted for stopped containers.
  if (UniqueFd tmp(::open((opts.runRoot + "/tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); tmp)
    if (auto names = dirEntries(tmp.get(), opts.runRoot + "/tmp"))
      for (auto& n : *names)
        if (n.starts_with("fs-")) {
          std::string path = opts.runRoot + "/tmp/" + n;
          (void)snapshot::unmountAll(path);
          ::rmdir(path.c_str());
        }
  TRYV(ensureDir(opts.dataRoot + "/containers", 0700));
  TRY(e->trash_, Trash::open(opts.dataRoot + "/trash"));
  if (opts.netnsPool > 0)
    e->netns_ = std::make_unique<FdPool>("network namespaces", static_cast<size_t>(opts.netnsPool),
                                         makeNetworkNamespace, kPoolQuiet);
  if (opts.shimPool > 0) {
    std::string exe = e->shimExe_ ? "/proc/self/fd/" + std::to_string(e->shimExe_.get()) : opts.shimPath;
    // Staged cgroups of makers killed before they could remove them (cgroup v1; see sys::cgroup::stageV1).
    if (auto layout = sys::cgroup::detect(); layout && layout->version == 1)
      sys::cgroup::removeStaleStagedV1(*layout, opts.cgroupParent);
    e->shimPool_ = std::make_unique<FdPool>(
        "shims", static_cast<size_t>(opts.shimPool),
        [exe, parent = opts.cgroupParent] { return startStandbyShim(exe, parent); }, kPoolQuiet);
  }
  TRY(e->networks_, Networks::open(*e->db_, opts.bridge));
  TRY(e->volumes_, Volumes::open(*e->db_, opts.dataRoot + "/volumes", *e->trash_));
  TRYV(e->loadAll());
  return e;
}

Engine::~Engine() {
  shutdown();
  shimPool_.reset();  // its thread executes shimExe_, which goes before it among the members
  netns_.reset();
}

Result<void> Engine::loadAll() {
  TRY(auto st, db_->prepare("SELECT data FROM containers"));
  std::vector<Container> all;
  for (;;) {
    TRY(bool row, st.step());
    if (!row) break;
    auto j = json::parse(st.text(0), nullptr, false);
    if (j.is_discarded()) continue;
    try {
      all.push_back(fromJson(j));
    } catch (const json::exception& ex) {
      log::warn(std::string("skipping an unreadable container record: ") + ex.what());
    }
  }
  std::lock_guard lock(m_);
  for (auto& c : all) containers_[c.id] = c;
  // Writable layers whose container is gone: a crash between a removal's two commits, or a creation's.
  if (auto snaps = images_->snapshotter().list()) {
    for (auto& sn : *snaps) {
      if (!sn.key.starts_with("container-") || containers_.count(sn.key.substr(10))) continue;
      if (auto r = images_->snapshotter().remove(sn.key); !r)
        log::warn("removing the orphaned writable layer " + sn.key + ": " + r.error().message());
    }
  }
  // Run directories (and rootfs mounts) of containers that are gone or not running: a daemon killed after an
  // exit's answers and before their clean-up (see cleanupPending_), or during a start, before it recorded
  // the container running: then its shim may run it still, and it is ended first.
  if (UniqueFd dir(::open((opts_.runRoot + "/containers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir)
    if (auto names = dirEntries(dir.get(), opts_.runRoot + "/containers"))
      for (auto& n : *names)
        if (auto it = containers_.find(n); it == containers_.end() || (it->second.state.status != "running" &&
                                                                       it->second.state.status != "paused")) {
          endUnrecordedStart(n);
          cleanupRuntime(n);
        }
  std::vector<std::string> ids;
  for (auto& [id, c] : containers_) ids.push_back(id);
  for (auto& id : ids)  // reconcile may remove an --rm container that ended meanwhile
    if (containers_.count(id)) reconcile(containers_.at(id));
  // Endpoints live as long as their container runs: the others' are stale (a daemon killed around an
  // exit), and ports of our bridges that no running container owns are removed.
  std::set<std::string> live;
  for (auto& [id, c] : containers_) {
    bool running = c.state.status == "running" || c.state.status == "paused";
    if (!running && (!c.endpoints.empty() || !c.ports.empty())) {
      for (auto& [name, ep] : c.endpoints) networks_->detach(ep, true);
      c.endpoints.clear();
      c.ports.clear();
      (void)save(c, db::Sync::Relaxed);
    }
    for (auto& [name, ep] : c.endpoints) live.insert(ep.veth);
    if (!c.ports.empty() && !c.endpoints.empty())
      if (auto r = networks_->setPublished(c.id, portRules(c)); !r)
        log::warn("the published ports of " + c.name + ": " + r.error().message());
  }
  networks_->reconcile(live);
  for (auto& n : networks_->list())
    if (n.driver == "bridge" && !n.predefined()) refreshNamesLocked(n);
  // A removal the daemon did not live to finish (killed between the container's exit and its record's
  // deletion) is finished now, as docker's restore does; a start would only be refused.
  for (auto& id : ids) {
    auto it = containers_.find(id);
    if (it == containers_.end() || !it->second.removalRequested) continue;
    if (it->second.state.status == "running" || it->second.state.status == "paused") continue;
    std::unique_lock ul(m_, std::adopt_lock);
    if (auto r = removeLocked(ul, id, true, false); !r)
      log::warn("finishing the removal of " + id.substr(0, 12) + ": " + r.error().message());
    ul.release();
  }
  // docker restarts `always` containers when the daemon starts, `unless-stopped` ones unless a user stopped
  // them.
  for (auto& id : ids) {
    auto it = containers_.find(id);
    if (it == containers_.end() || it->second.state.status != "exited" || !it->second.hasBeenStarted)
      continue;
    maybeRestartLocked(it->second, true);
  }
  return {};
}

Result<void> Engine::save(const Container& c, db::Sync sync) {
  TRY(auto tx, db::Transaction::begin(*db_, sync));
  TRY(auto st, db_->prepare("INSERT OR REPLACE INTO containers (id, name, data) VALUES (?, ?, ?)"));
  TRYV(st.bind(1, c.id).bind(2, c.name).bind(3, toJson(c).dump()).run());
  return tx.commit();
}

Result<void> Engine::deleteRecord(const std::string& id, db::Sync sync) {
  TRY(auto tx, db::Transaction::begin(*db_, sync));
  TRY(auto st, db_->prepare("DELETE FROM containers WHERE id = ?"));
  TRYV(st.bind(1, id).run());
  return tx.commit();
}

std::string Engine::logPath(const std::string& id) const {
  return opts_.dataRoot + "/containers/" + id + "/" + id + "-json.log";
}

Result<std::string> Engine::resolveId(const std::string& refIn) {
  std::string ref = refIn;
  if (ref.empty()) return fail(ErrorCategory::NotFound, "No such container: " + refIn);
  if (containers_.count(ref)) return ref;
  std::string name = ref[0] == '/' ? ref.substr(1) : ref;
  for (auto& [id, c] : containers_)
    if (c.name == name) return id;
  std::string match;
  for (auto& [id, c] : containers_) {
    if (id.starts_with(ref)) {
      if (!match.empty())
        return fail(ErrorCategory::InvalidArgument, "multiple IDs found with provided prefix: " + ref);
      match = id;
    }
  }
  if (match.empty()) return fail(ErrorCategory::NotFound, "No such container: " + refIn);
  return match;
}

Result<Container> Engine::get(const std::string& ref) {
  std::lock_guard lock(m_);
  TRY(std::string id, resolveId(ref));
  return containers_.at(id);
}

Result<std::string> Engine::create(const std::string& nameIn, const json& body,
                                   std::vector<std::string>* warnings) {
  log::phase("create: begin");
  (void)warnings;
  if (!body.is_object()) return invalid("the request body must be a JSON object");
  std::string name = nameIn;
  if (!name.empty() && name[0] == '/') name = name.substr(1);
  if (!name.empty() && !validContainerName(name))
    return invalid("Invalid container name (" + nameIn + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  if (!body.contains("Image") || !body["Image"].is_string() || body["Image"].get<std::string>().empty())
    return invalid("config.Image: an image is required");
  std::string imageRef = body["Image"].get<std::string>();
  json hc = body.value("HostConfig", json::object());
  if (!hc.is_object()) hc = json::object();
  // What the later issues bring, refused clearly rather than ignored.
  for (const char* key : {"Links", "Devices"}) {
    auto it = hc.find(key);
    if (it != hc.end() && !it->is_null() && !it->empty())
      return invalid(std::string("HostConfig.") + key +
                     " is not supported yet (volumes and networking come later)");
  }
  // docker's default: a memory limit without a swap limit allows as much swap again (MemorySwap = 2 x
  // Memory); -1 is unlimited swap.
  if (auto m = hc.find("Memory"); m != hc.end() && m->is_number_integer() && m->get<int64_t>() > 0) {
    auto sw = hc.find("MemorySwap");
    if (sw == hc.end() || sw->is_null() || (sw->is_number_integer() && sw->get<int64_t>() == 0))
      hc["MemorySwap"] = 2 * m->get<int64_t>();
  }
  std::string netMode = hc.value("NetworkMode", "default");
  if (netMode.starts_with("container:")) {
    // Another container's network namespace (and its /etc/hosts, resolv.conf, hostname), by its id.
    std::string other = netMode.substr(10);
    if (other.empty()) return invalid("invalid network mode: " + netMode);
    if (body.contains("Hostname") && body["Hostname"].is_string() &&
        !body["Hostname"].get<std::string>().empty())
      return invalid("conflicting options: hostname and the network mode");
    if (hc.contains("PortBindings") && hc["PortBindings"].is_object() && !hc["PortBindings"].empty())
      return invalid("conflicting options: port publishing and the container type network mode");
    for (const char* key : {"Dns", "ExtraHosts"})
      if (hc.contains(key) && hc[key].is_array() && !hc[key].empty())
        return invalid(std::string("conflicting options: ") +
                       (key == std::string("Dns") ? "dns" : "custom host-to-IP mapping") +
                       " and the network mode");
    std::lock_guard lock(m_);
    TRY(std::string id, resolveId(other));
    hc["NetworkMode"] = "container:" + id;
  } else if (netMode != "default" && !netMode.empty()) {
    std::lock_guard lock(m_);
    TRYV(networks_->find(netMode));
  }
  TRYV(extraHosts(hc));
  TRYV(portBindingsOf(hc, json::object()));
  if (auto rp = hc.find("RestartPolicy"); rp != hc.end() && rp->is_object()) {
    std::string n = rp->value("Name", "");
    if (!n.empty() && n != "no" && n != "always" && n != "on-failure" && n != "unless-stopped")
      return invalid("invalid restart policy '" + n + "'");
    if (!n.empty() && n != "no" && hc.value("AutoRemove", false))
      return invalid("can't create 'AutoRemove' container with restart policy");
    if (rp->value("MaximumRetryCount", 0) != 0 && n != "on-failure")
      return invalid("maximum retry count cannot be used with restart policy '" + n + "'");
  }
  for (const char* key : {"Cmd", "Entrypoint"}) TRYV(stringList(body, key, true));
  TRYV(stringList(body, "Env"));
  TRY(json healthcheck, validateHealthcheck(body.value("Healthcheck", json(nullptr))));

  std::unique_lock lock(m_);
  log::phase("create: checked");
  auto img = images_->resolve(imageRef);
  if (!img) {
    if (img.error().category() == ErrorCategory::NotFound)
      return fail(ErrorCategory::NotFound, "No such image: " + imageRef);
    return std::unexpected(img.error());
  }
  TRY(image::ImageConfig icfg, images_->config(img->id));
  log::phase("create: image");
  if (name.empty()) {
    do name = randomName();
    while (std::any_of(containers_.begin(), containers_.end(),
                       [&](auto& kv) { return kv.second.name == name; }));
  }
  for (auto& [id, c] : containers_)
    if (c.name == name)
      return fail(ErrorCategory::Conflict, "Conflict. The container name \"/" + name +
                                               "\" is already in use by container \"" + id +
                                               "\". You have to remove (or rename) that container to be able "
                                               "to reuse that name.");
  Container c;
  c.id = randomHexId();
  c.name = name;
  c.image = imageRef;
  c.imageId = img->id.str();
  c.created = log::nowRfc3339();
  c.config = body;
  c.config.erase("HostConfig");
  c.config.erase("NetworkingConfig");
  c.config["Image"] = imageRef;
  if (!c.config.contains("Hostname") || c.config["Hostname"].get<std::string>().empty())
    c.config["Hostname"] = c.id.substr(0, 12);
  // The command as docker shows it: the image's Entrypoint/Cmd unless the request has its own.
  std::vector<std::string> ep = body.contains("Entrypoint") && !body["Entrypoint"].is_null()
                                    ? *stringList(body, "Entrypoint", true)
                                    : icfg.config.entrypoint;
  std::vector<std::string> cmd = body.contains("Cmd") && !body["Cmd"].is_null() && !body["Cmd"].empty()
                                     ? *stringList(body, "Cmd", true)
                                     : icfg.config.cmd;
  if (body.contains("Entrypoint") && !body["Entrypoint"].is_null() &&
      (!body.contains("Cmd") || body["Cmd"].is_null()))
    cmd.clear();  // docker: a new entrypoint drops the image's Cmd
  std::vector<std::string> full = ep;
  full.insert(full.end(), cmd.begin(), cmd.end());
  if (full.empty()) return invalid("No command specified");
  c.path = full[0];
  c.args.assign(full.begin() + 1, full.end());
  if (!c.config.contains("Cmd") || c.config["Cmd"].is_null()) c.config["Cmd"] = cmd;
  if (!c.config.contains("Entrypoint") || c.config["Entrypoint"].is_null())
    c.config["Entrypoint"] = ep.empty() ? json(nullptr) : json(ep);
  std::vector<std::string> env = icfg.config.env;
  auto userEnv = stringList(body, "Env");
  for (auto& e : *userEnv) env.push_back(e);
  c.config["Env"] = env;
  if (!c.config.contains("WorkingDir") || c.config["WorkingDir"].get<std::string>().empty())
    c.config["WorkingDir"] = icfg.config.workingDir;
  if (!c.config.contains("User") || c.config["User"].get<std::string>().empty())
    c.config["User"] = icfg.config.user;
  json labels = json::object();
  for (auto& [k, v] : icfg.config.labels) labels[k] = v;
  if (body.contains("Labels") && body["Labels"].is_object())
    for (auto& [k, v] : body["Labels"].items()) labels[k] = v;
  c.config["Labels"] = labels;
  // The check: the request's, with the image's HEALTHCHECK filling what it leaves out (docker's merge).
  if (const auto& ih = icfg.config.healthcheck; ih.set || healthcheck.is_object()) {
    json h = healthcheck.is_object() ? healthcheck : json::object();
    if (!h.contains("Test") || h["Test"].is_null() || h["Test"].empty()) h["Test"] = ih.test;
    for (auto [k, v] :
         {std::pair{"Interval", ih.interval}, std::pair{"Timeout", ih.timeout},
          std::pair{"StartPeriod", ih.startPeriod}, std::pair{"StartInterval", ih.startInterval}})
      if (!h.contains(k) || !h[k].is_number_integer() || h[k].get<int64_t>() == 0) h[k] = v;
    if (!h.contains("Retries") || !h["Retries"].is_number_integer() || h["Retries"].get<int64_t>() == 0)
      h["Retries"] = ih.retries;
    if (h["Test"].empty())
      c.config.erase("Healthcheck");
    else
      c.config["Healthcheck"] = h;
  }
  if (!c.config.contains("StopSignal") && !icfg.config.stopSignal.empty())
    c.config["StopSignal"] = icfg.config.stopSignal;
  // docker's default network: the bridge.
  if (hc.value("NetworkMode", "").empty() || hc["NetworkMode"] == "default") hc["NetworkMode"] = "bridge";
  c.hostConfig = hc;
  // Its networks: NetworkMode's when that is a bridge network, then NetworkingConfig's others (API 1.44
  // takes several), each with its aliases (--network-alias, compose's service names) and --ip.
  {
    std::string primary = hc["NetworkMode"].get<std::string>();
    std::optional<Network> first;
    if (primary != "none" && primary != "host" && !primary.starts_with("container:")) {
      TRY(first, networks_->find(primary));
      if (first->driver == "bridge") c.networks.push_back(first->name);
    }
    json ecs = json::object();
    if (auto nc = body.find("NetworkingConfig"); nc != body.end() && nc->is_object())
      if (auto ec = nc->find("EndpointsConfig"); ec != nc->end() && ec->is_object()) ecs = *ec;
    for (auto& [key, cfg] : ecs.items()) {
      std::string net = key == "default" ? "bridge" : key;  // the docker CLI names NetworkMode's as it is
      TRY(Network n, networks_->find(net));
      bool isPrimary = n.name == primary || n.id == primary || (first && first->id == n.id);
      if (!isPrimary && (n.driver != "bridge" || c.networks.empty()))
        return invalid("Container cannot be connected to network endpoints: " + primary + ", " + n.name);
      if (n.driver != "bridge") continue;
      if (std::find(c.networks.begin(), c.networks.end(), n.name) == c.networks.end())
        c.networks.push_back(n.name);
      TRYV(endpointConfigLocked(c, n, cfg));
    }
  }

  // Its mounts, with the volumes they name made now (docker makes them at create, not at start).
  TRY(c.mounts, resolveMountsLocked(body, hc, icfg.config.volumes));
  Defer dropVolumes([&] { removeAnonymousVolumesLocked(c); });
  log::phase("create: record made");
  // The container's writable layer on the image's top layer.
  std::string parent = img->layers.empty() ? "" : img->layers.back().chainId.str();
  // Relaxed: the record's synced commit below carries it to the disk; a crash between the two leaves a
  // layer without a container, which loadAll() removes.
  auto mounts = images_->snapshotter().prepare("container-" + c.id, parent, {{"berth.container", c.id}},
                                               db::Sync::Relaxed);
  if (!mounts) return std::unexpected(mounts.error().context("preparing the container's filesystem"));
  log::phase("create: layer prepared");
  if (auto r = mkdirAll(opts_.dataRoot + "/containers/" + c.id, 0700); !r) {
    (void)images_->snapshotter().remove("container-" + c.id);
    return std::unexpected(r.error());
  }
  // An --rm container is not meant to outlive its process: after a power cut it is gone either way (its
  // record lost with the relaxed commit, or found exited and removed at the daemon's start).
  if (auto r = save(c, c.hostConfig.value("AutoRemove", false) ? db::Sync::Relaxed : db::Sync::Full); !r) {
    (void)images_->snapshotter().remove("container-" + c.id);
    return std::unexpected(r.error());
  }
  dropVolumes.dismiss();
  log::phase("create: saved");
  containers_[c.id] = c;
  emitLocked("container", "create", c.id);
  log::phase("create: done");
  return c.id;
}

Result<std::vector<Container>> Engine::list(const ListOptions& o) {
  std::lock_guard lock(m_);
  std::vector<Container> out;
  for (auto& [id, c] : containers_) {
    bool running =
        c.state.status == "running" || c.state.status == "paused" || c.state.status == "restarting";
    bool hasStatus = o.filters.count("status") > 0;
    if (!o.all && !running && !hasStatus) continue;
    bool ok = true;
    for (auto& [key, values] : o.filters) {
      bool any = key == "label";  // docker: every label filter must match, any one of the others' values
      for (auto& v : values) {
        if (key == "status")
          any |= c.state.status == v;
        else if (key == "name")
          any |= c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
        else if (key == "id")
          any |= c.id.starts_with(v);
        else if (key == "exited")
          any |= c.state.status == "exited" && std::to_string(c.state.exitCode) == v;
        else if (key == "ancestor") {
          auto r = images_->resolve(v);
          any |= c.image == v || (r && r->id.str() == c.imageId);
        } else if (key == "label") {
          auto eq = v.find('=');
          auto labels = c.config.value("Labels", json::object());
          std::string k = v.substr(0, eq);
          any = any && labels.contains(k) && labels[k].is_string() &&
                (eq == std::string::npos || labels[k].get<std::string>() == v.substr(eq + 1));
        } else if (key == "network") {
          auto n = networks_->find(v);
          std::string name = n ? n->name : v;
          any |= std::find(c.networks.begin(), c.networks.end(), name) != c.networks.end() ||
                 c.endpoints.count(name) || c.hostConfig.value("NetworkMode", "") == name;
        } else if (key == "volume") {
          any |= std::any_of(c.mounts.begin(), c.mounts.end(),
                             [&](auto& m) { return m.name == v || m.destination == v || m.source == v; });
        } else {
          return invalid("invalid filter '" + key + "'");
        }
      }
      ok &= any;
    }
    if (ok) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.created > b.created; });
  if (o.limit > 0 && out.size() > static_cast<size_t>(o.limit)) out.resize(static_cast<size_t>(o.limit));
  return out;
}

Result<void> Engine::rename(const std::string& ref, const std::string& newNameIn) {
  std::string newName = !newNameIn.empty() && newNameIn[0] == '/' ? newNameIn.substr(1) : newNameIn;
  if (!validContainerName(newName))
    return invalid("Invalid container name (" + newNameIn + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  std::lock_guard lock(m_);
  TRY(std::string id, resolveId(ref));
  for (auto& [other, c] : containers_)
    if (c.name == newName && other != id)
      return fail(ErrorCategory::Conflict, "Conflict. The container name \"/" + newName +
                                               "\" is already in use by container \"" + other +
                                               "\". You have to remove (or rename) that container to be able "
                                               "to reuse that name.");
  Container c = containers_.at(id);
  std::string oldName = c.name;
  c.name = newName;
  TRYV(save(c));
  containers_[id] = c;
  emitLocked("container", "rename", id, {{"oldName", "/" + oldName}});
  return {};
}

bool Engine::imageInUseLocked(const image::Digest& id) {
  for (auto& [cid, c] : containers_)
    if (c.imageId == id.str()) return true;
  return false;
}

Result<std::vector<std::string>> Engine::prune(int64_t* reclaimed) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(m_);
    for (auto& [id, c] : containers_)
      if (c.state.status == "exited" || c.state.status == "created" || c.state.status == "dead")
        ids.push_back(id);
  }
  std::vector<std::string> removed;
  int64_t bytes = 0;
  for (auto& id : ids) {
    auto u = withImages([&](image::ImageService& s) { return s.snapshotter().usage("container-" + id); });
    if (remove(id, false)) {
      removed.push_back(id);
      if (u) bytes += static_cast<int64_t>(u->size);
    }
  }
  if (reclaimed) *reclaimed = bytes;
  return removed;
}

std::optional<int> parseSignal(const std::string& sIn) {
  if (sIn.empty()) return std::nullopt;
  std::string s = sIn;
  if (std::all_of(s.begin(), s.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); })) {
    int n = std::atoi(s.c_str());
    if (n <= 0 || n > 64) return std::nullopt;
    return n;
  }
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (s.starts_with("SIG")) s = s.substr(3);
  static const std::map<std::string, int> names = {
      {"HUP", 1},    {"INT", 2},   {"QUIT", 3},    {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},    {"IOT", 6},
      {"BUS", 7},    {"FPE", 8},   {"KILL", 9},    {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},   {"PIPE", 13},
      {"ALRM", 14},  {"TERM", 15}, {"STKFLT", 16}, {"CHLD", 17}, {"CONT", 18}, {"STOP", 19},   {"TSTP", 20},
      {"TTIN", 21},  {"TTOU", 22}, {"URG", 23},    {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27},
      {"WINCH", 28}, {"IO", 29},   {"POLL", 29},   {"PWR", 30},  {"SYS", 31}};
  auto it = names.find(s);
  if (it != names.end()) return it->second;
  if (s.starts_with("RTMIN+")) {
    int n = std::atoi(s.c_str() + 6);
    if (n >= 0 && 34 + n <= 64) return 34 + n;
  }
  return std::nullopt;
}

}  // namespace berth::engine
