// Engine: opening, container records in SQLite, create, lookup, list, rename, prune.
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/spec_validate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "base/file.h"
#include "base/log.h"
#include "base/random_id.h"
#include "image/reference.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

using nlohmann::json;

namespace {

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data TEXT NOT NULL
);
)";

json toJson(const Container& c) {
  return {{"id", c.id},
          {"name", c.name},
          {"image", c.image},
          {"imageId", c.imageId},
          {"created", c.created},
          {"config", spec::encode(c.config)},
          {"hostConfig", spec::encode(c.hostConfig)},
          {"path", c.path},
          {"args", c.args},
          {"state",
           {{"status", statusName(c.state.status)},
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
  std::vector<std::string> skipped, skippedHost;
  c.config = spec::decodeConfig(j.value("config", json::object()), &skipped);
  c.hostConfig = spec::decodeHostConfig(j.value("hostConfig", json::object()), &skippedHost);
  skipped.insert(skipped.end(), skippedHost.begin(), skippedHost.end());
  spec::applyCreateDefaults(c.hostConfig);
  for (auto& f : skipped)  // an older version took values of any type
    log::warn("container " + c.id.substr(0, 12) + ": its record's " + f +
              " is not what docker's API allows; ignored");
  c.path = j.value("path", "");
  c.args = j.value("args", std::vector<std::string>{});
  auto s = j.value("state", json::object());
  c.state.status = parseStatus(s.value("status", "created")).value_or(Status::Dead);
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
    const std::string& mode = c.hostConfig.networkMode;
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

}  // namespace

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

bool isNotModified(const Error& e) {
  return e.category() == ErrorCategory::NotModified;
}

Result<std::unique_ptr<Engine>> Engine::open(const EngineOptions& opts, std::unique_ptr<TaskHost> host) {
  std::unique_ptr<Engine> e(new Engine());
  e->opts_ = opts;
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
  e->host_ =
      host ? std::move(host)
           : kernelTaskHost(
                 {.shimPath = opts.shimPath, .cgroupParent = opts.cgroupParent, .shimPool = opts.shimPool});
  TRY(e->networks_, Networks::open(*e->db_, opts.bridge));
  TRY(e->volumes_, Volumes::open(*e->db_, opts.dataRoot + "/volumes", *e->trash_));
  TRYV(e->loadAll());
  (void)e->removeLayers();  // of --rm containers that ended while the daemon was down
  return e;
}

Engine::~Engine() {
  shutdown();
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
  for (auto& c : all) {
    containers_[c.id] = c;
    cacheImageViewsLocked(c);
  }
  // Writable layers whose container is gone: a crash between a removal's two commits, or a creation's.
  if (auto snaps = images_->snapshotter().list()) {
    for (auto& sn : *snaps) {
      if (!sn.key.starts_with("container-") || containers_.count(sn.key.substr(10))) continue;
      if (auto r = images_->snapshotter().remove(sn.key); !r)
        log::warn("removing the orphaned writable layer " + sn.key + ": " + r.error().message());
    }
  }
  // Run directories (and rootfs mounts) of containers that are gone or not running: a daemon killed after an
  // exit's answers and before their clean-up (see Task::cleanupPending), or during a start, before it
  // recorded the container running: then its shim may run it still, and it is ended first.
  if (UniqueFd dir(::open((opts_.runRoot + "/containers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir)
    if (auto names = dirEntries(dir.get(), opts_.runRoot + "/containers"))
      for (auto& n : *names)
        if (auto it = containers_.find(n); it == containers_.end() || !hasProcess(it->second.state.status)) {
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
    bool running = hasProcess(c.state.status);
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
    if (hasProcess(it->second.state.status)) continue;
    std::unique_lock ul(m_, std::adopt_lock);
    if (auto r = removeLocked(ul, id, true, false); !r)
      log::warn("finishing the removal of " + id.substr(0, 12) + ": " + r.error().message());
    ul.release();
  }
  // docker restarts `always` containers when the daemon starts, `unless-stopped` ones unless a user stopped
  // them.
  for (auto& id : ids) {
    auto it = containers_.find(id);
    if (it == containers_.end() || it->second.state.status != Status::Exited || !it->second.hasBeenStarted)
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

void Engine::cacheImageViewsLocked(const Container& c) {
  if (auto m = images_->snapshotter().mounts("container-" + c.id))
    layerMounts_[c.id] = std::move(*m);
  else
    log::warn("container " + c.id.substr(0, 12) + ": its writable layer: " + m.error().message());
  if (imageConfigs_.count(c.imageId)) return;
  auto id = image::Digest::parse(c.imageId);
  if (auto cfg = id ? images_->config(*id) : Result<image::ImageConfig>(fail("not a digest")))
    imageConfigs_.emplace(c.imageId, std::move(*cfg));
  else
    log::warn("container " + c.id.substr(0, 12) + ": its image " + c.imageId + ": " + cfg.error().message());
}

Result<std::vector<Container>> Engine::list(const ListOptions& o) {
  // The images that ancestor= names, looked up first (not under the engine's lock).
  std::map<std::string, std::string> ancestors;
  if (auto f = o.filters.find("ancestor"); f != o.filters.end())
    for (auto& v : f->second)
      if (auto r = images().resolve(v)) ancestors[v] = r->id.str();
  std::lock_guard lock(m_);
  std::vector<Container> out;
  for (auto& [id, c] : containers_) {
    bool running = hasProcess(c.state.status) || c.state.status == Status::Restarting;
    bool hasStatus = o.filters.count("status") > 0;
    if (!o.all && !running && !hasStatus) continue;
    bool ok = true;
    for (auto& [key, values] : o.filters) {
      bool any = key == "label";  // docker: every label filter must match, any one of the others' values
      for (auto& v : values) {
        if (key == "status")
          any |= publicStatus(c.state.status) == v;
        else if (key == "name")
          any |= c.name.find(v[0] == '/' ? v.substr(1) : v) != std::string::npos;
        else if (key == "id")
          any |= c.id.starts_with(v);
        else if (key == "exited")
          any |= c.state.status == Status::Exited && std::to_string(c.state.exitCode) == v;
        else if (key == "ancestor") {
          auto r = ancestors.find(v);
          any |= c.image == v || (r != ancestors.end() && r->second == c.imageId);
        } else if (key == "label") {
          auto eq = v.find('=');
          auto label = c.config.labels.find(v.substr(0, eq));
          any = any && label != c.config.labels.end() &&
                (eq == std::string::npos || label->second == v.substr(eq + 1));
        } else if (key == "network") {
          auto n = networks_->find(v);
          std::string name = n ? n->name : v;
          any |= std::find(c.networks.begin(), c.networks.end(), name) != c.networks.end() ||
                 c.endpoints.count(name) || c.hostConfig.networkMode == name;
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
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  for (auto& [other, c] : containers_)
    if (c.name == newName && other != id)
      return fail(ErrorCategory::Conflict, "Conflict. The container name \"/" + newName +
                                               "\" is already in use by container \"" + other +
                                               "\". You have to remove (or rename) that container to be able "
                                               "to reuse that name.");
  Container c = containers_.at(id);
  std::string oldName = c.name;
  c.name = newName;
  TRYV(save(c, db::Sync::Relaxed));
  containers_[id] = c;
  emitLocked("container", "rename", id, {{"oldName", "/" + oldName}});
  lock.unlock();
  return syncRecords();
}

bool Engine::imageInUse(const image::Digest& id) {
  std::lock_guard lock(m_);
  for (auto& [cid, c] : containers_)
    if (c.imageId == id.str()) return true;
  return false;
}

Result<std::vector<std::string>> Engine::prune(int64_t* reclaimed) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(m_);
    for (auto& [id, c] : containers_)
      if (c.state.status == Status::Exited || c.state.status == Status::Created ||
          c.state.status == Status::Dead)
        ids.push_back(id);
  }
  std::vector<std::string> removed;
  int64_t bytes = 0;
  for (auto& id : ids) {
    auto u = images().snapshotter().usage("container-" + id);
    if (remove(id, false)) {
      removed.push_back(id);
      if (u) bytes += static_cast<int64_t>(u->size);
    }
  }
  if (reclaimed) *reclaimed = bytes;
  return removed;
}

}  // namespace berth::engine
