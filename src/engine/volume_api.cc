// docker's volume API and the mounts of containers: volumes made at create, mounted and seeded at start,
// released at exit, anonymous ones removed with `rm -v` and `--rm`.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "base/file.h"
#include "base/log.h"
#include "base/openat2.h"
#include "base/random_id.h"
#include "engine/engine.h"
#include "engine/internal.h"

namespace berth::engine {

using json = nlohmann::json;

namespace {

bool truthy(const std::string& v) {
  return v == "1" || v == "true" || v == "True";
}

Result<bool> boolFilter(const std::string& key, const std::string& v) {
  if (v == "1" || v == "true" || v == "True") return true;
  if (v == "0" || v == "false" || v == "False") return false;
  return invalid("invalid filter '" + key + "=" + v + "'");
}

bool labelMatches(const std::map<std::string, std::string>& labels, const std::string& f) {
  auto eq = f.find('=');
  auto it = labels.find(f.substr(0, eq));
  if (it == labels.end()) return false;
  return eq == std::string::npos || it->second == f.substr(eq + 1);
}

}  // namespace

std::vector<std::string> Engine::volumeUsersLocked(const std::string& name, const std::string& except) {
  std::vector<std::string> out;
  for (auto& [id, c] : containers_) {
    if (id == except) continue;
    for (auto& m : c.mounts)
      if (m.type == "volume" && m.name == name) {
        out.push_back(id);
        break;
      }
  }
  return out;
}

Result<std::vector<MountPoint>> Engine::resolveMountsLocked(const spec::Config& cfg,
                                                            const spec::HostConfig& hc,
                                                            const std::vector<std::string>& imageVolumes) {
  std::vector<MountPoint> from;
  for (const std::string& entry : hc.volumesFrom) {
    std::string ref = entry, mode;
    if (ref.empty()) return invalid("volumes-from specification cannot be an empty string");
    if (auto colon = ref.find(':'); colon != std::string::npos) {
      mode = ref.substr(colon + 1);
      ref = ref.substr(0, colon);
    }
    if (!mode.empty() && mode != "ro" && mode != "rw") return invalid("invalid mode: " + mode);
    {
      auto found = resolveId(ref);
      if (!found && found.error().category() == ErrorCategory::NotFound)  // docker: a 400, not a 404
        return invalid(found.error().message());
      TRY(std::string id, std::move(found));
      for (MountPoint m : containers_.at(id).mounts) {
        if (m.type == "tmpfs") continue;  // docker shares volumes and binds, not tmpfs mounts
        if (!mode.empty()) {
          m.rw = mode == "rw";
          m.mode = mode;
        }
        m.copyData = false;  // seeded by its first user
        from.push_back(m);
      }
    }
  }
  TRY(std::vector<MountPoint> mounts, mountsOf(cfg, hc, from, imageVolumes));
  std::vector<std::string> made;  // anonymous volumes made here, removed again when a later one fails
  Defer undo([&] {
    for (auto& n : made) (void)volumes_->remove(n, {});
  });
  for (auto& m : mounts) {
    if (m.type != "volume") continue;
    if (m.name.empty()) {
      TRY(Volume v, volumes_->createAnonymous());
      m.name = v.name;
      made.push_back(v.name);
      emitLocked("volume", "create", v.name, {{"driver", v.driver}});
    } else {
      bool created = false;
      TRY(Volume v, volumes_->create(m.name, m.volumeDriver, m.volumeLabels, m.volumeOptions, &created));
      if (created) emitLocked("volume", "create", v.name, {{"driver", v.driver}});
    }
    m.source = volumes_->dataDir(m.name);
  }
  undo.dismiss();
  return mounts;
}

Result<void> Engine::setupMountsLocked(const Container& c, const std::string& rootfs, image::RunOptions& o,
                                       std::vector<std::unique_ptr<StagedMount>>& staged,
                                       std::vector<CopyUp>& copyUps) {
  if (c.mounts.empty()) return {};
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysFail("opening the container's root " + rootfs);
  for (auto& m : c.mounts) {
    image::RunOptions::Bind b;
    b.destination = m.destination;
    b.readOnly = !m.rw;
    if (m.type == "tmpfs") {
      b.tmpfs = true;
      b.data = m.tmpfsOptions;
    } else if (m.type == "bind") {
      b.source = m.source;
      b.propagation = m.propagation;
      if (!pathExists(m.source)) {
        if (!m.createSource)
          return invalid("invalid mount config for type \"bind\": bind source path does not exist: " +
                         m.source);
        TRYV(mkdirAll(m.source, 0755));
      }
    } else {
      auto v = volumes_->find(m.name);
      if (!v) return std::unexpected(v.error().context("the volume of " + m.destination));
      TRYV(volumes_->mountIfNeeded(*v));
      if (m.copyData && m.subpath.empty()) {
        // The image's content at the destination, resolved inside the container's root (its symlinks
        // cannot lead out of it).
        UniqueFd imageDir(openInRoot(root.get(), m.destination.c_str(), O_PATH | O_DIRECTORY));
        if (imageDir) copyUps.push_back({m.name, std::move(imageDir)});
      }
      b.source = volumes_->dataDir(m.name);
      if (!m.subpath.empty()) {
        // Below the volume with no symlink on the way (a container could have planted one), bound in the
        // container's run directory for the runtime to take.
        UniqueFd data(::open(b.source.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!data) return sysFail("opening volume " + m.name);
        UniqueFd sub(openBeneathNoSymlinks(data.get(), m.subpath.c_str(), O_PATH));
        if (!sub)
          return sysFail("cannot access path " + b.source + "/" + m.subpath +
                         " (a volume-subpath must exist " + "and hold no symlink) for " + m.destination);
        TRY(auto s,
            StagedMount::bind(sub.get(), containerDir(c.id) + "/subpath-" + std::to_string(staged.size())));
        b.source = s->path();
        staged.push_back(std::move(s));
      }
      emitLocked("volume", "mount", m.name,
                 {{"container", c.id},
                  {"destination", m.destination},
                  {"driver", "local"},
                  {"propagation", m.propagation},
                  {"read/write", m.rw ? "true" : "false"}});
    }
    o.binds.push_back(b);
  }
  return {};
}

void Engine::releaseVolumesLocked(const Container& c) {
  for (auto& m : c.mounts) {
    if (m.type != "volume") continue;
    auto v = volumes_->find(m.name);
    if (!v || v->options.empty()) continue;
    bool inUse = false;
    for (auto& id : volumeUsersLocked(m.name, c.id)) {
      auto& st = containers_.at(id).state.status;
      inUse |= hasProcess(st) || st == Status::Restarting;
    }
    if (!inUse) {
      volumes_->unmountIfMounted(*v);
      emitLocked("volume", "unmount", m.name, {{"container", c.id}, {"driver", "local"}});
    }
  }
}

void Engine::removeAnonymousVolumesLocked(const Container& c) {
  for (auto& m : c.mounts) {
    if (m.type != "volume" || m.name.empty()) continue;
    auto v = volumes_->find(m.name);
    if (!v || !v->anonymous() || !volumeUsersLocked(m.name, c.id).empty()) continue;
    if (auto r = volumes_->remove(m.name, {}); !r)
      log::warn("removing anonymous volume " + m.name + ": " + r.error().message());
    else
      emitLocked("volume", "destroy", m.name, {{"driver", "local"}});
  }
}

Result<json> Engine::volumeList(const std::map<std::string, std::vector<std::string>>& filters) {
  std::lock_guard lock(m_);
  for (auto& [k, vals] : filters) {
    if (k != "name" && k != "driver" && k != "label" && k != "dangling" && k != "label!")
      return invalid("invalid filter '" + k + "'");
    if (k == "dangling")
      for (auto& v : vals) TRYV(boolFilter(k, v));
  }
  json out = json::array();
  for (auto& v : volumes_->list()) {
    bool ok = true;
    for (auto& [k, vals] : filters) {
      if (k == "label") {  // every label given must match
        ok &= std::all_of(vals.begin(), vals.end(), [&](auto& f) { return labelMatches(v.labels, f); });
        continue;
      }
      bool any = false;
      for (auto& f : vals) {
        if (k == "name")
          any |= v.name.find(f) != std::string::npos;
        else if (k == "driver")
          any |= v.driver == f;
        else if (k == "label!")
          any |= !labelMatches(v.labels, f);
        else if (k == "dangling")
          any |= volumeUsersLocked(v.name).empty() == truthy(f);
      }
      ok &= any;
    }
    if (ok) out.push_back(volumes_->toJson(v));
  }
  return json{{"Volumes", out}, {"Warnings", nullptr}};
}

Result<json> Engine::volumeInspect(const std::string& name) {
  std::lock_guard lock(m_);
  TRY(Volume v, volumes_->find(name));
  return volumes_->toJson(v);
}

Result<json> Engine::volumeCreate(const spec::VolumeCreateRequest& req) {
  std::map<std::string, std::string> labels(req.labels.begin(), req.labels.end());
  std::map<std::string, std::string> opts(req.driverOpts.begin(), req.driverOpts.end());
  std::string name = req.name;
  const std::string& driver = req.driver;
  std::unique_lock lock(m_);
  if (name.empty()) {
    do name = randomHexId();
    while (volumes_->find(name));
  }
  bool created = false;
  TRY(Volume v, volumes_->create(name, driver, labels, opts, &created));
  if (created) emitLocked("volume", "create", v.name, {{"driver", v.driver}});
  json out = volumes_->toJson(v);
  lock.unlock();
  if (created) TRYV_CTX(syncRecords(), "recording the volume");
  return out;
}

Result<void> Engine::volumeRemove(const std::string& name, bool force) {
  std::lock_guard lock(m_);
  auto v = volumes_->find(name);
  if (!v) {
    if (force && v.error().category() == ErrorCategory::NotFound) return {};
    return std::unexpected(v.error());
  }
  TRYV(volumes_->remove(name, volumeUsersLocked(name)));
  emitLocked("volume", "destroy", name, {{"driver", v->driver}});
  return {};
}

Result<json> Engine::volumePrune(const std::map<std::string, std::vector<std::string>>& filters) {
  bool all = false;
  for (auto& [k, vals] : filters) {
    if (k != "label" && k != "label!" && k != "all") return invalid("invalid filter '" + k + "'");
    if (k == "all")
      for (auto& v : vals) {
        TRY(bool b, boolFilter(k, v));
        all |= b;
      }
  }
  std::lock_guard lock(m_);
  json deleted = json::array();
  int64_t reclaimed = 0;
  for (auto& v : volumes_->list()) {
    if (!all && !v.anonymous()) continue;  // API 1.42+: named volumes only with all=true
    if (!volumeUsersLocked(v.name).empty()) continue;
    bool ok = true;
    if (auto it = filters.find("label"); it != filters.end())
      for (auto& f : it->second) ok &= labelMatches(v.labels, f);
    if (auto it = filters.find("label!"); it != filters.end())
      for (auto& f : it->second) ok &= !labelMatches(v.labels, f);
    if (!ok) continue;
    int64_t size = volumes_->sizeOf(v.name);
    if (auto r = volumes_->remove(v.name, {}); !r) {
      log::warn("pruning volume " + v.name + ": " + r.error().message());
      continue;
    }
    emitLocked("volume", "destroy", v.name, {{"driver", v.driver}});
    deleted.push_back(v.name);
    reclaimed += size;
  }
  emitLocked("volume", "prune", "", {{"reclaimed", std::to_string(reclaimed)}});
  return json{{"VolumesDeleted", deleted}, {"SpaceReclaimed", reclaimed}};
}

Result<json> Engine::volumeUsage() {
  std::vector<std::pair<json, std::string>> rows;  // (volume, its directory)
  {
    std::lock_guard lock(m_);
    for (auto& v : volumes_->list()) {
      json j = volumes_->toJson(v);
      j["UsageData"] = {{"Size", 0}, {"RefCount", static_cast<int64_t>(volumeUsersLocked(v.name).size())}};
      rows.emplace_back(std::move(j), v.name);
    }
  }
  // Sizes outside the lock: walking a large volume must not stop the engine.
  json out = json::array();
  for (auto& [j, name] : rows) {
    j["UsageData"]["Size"] = volumes_->sizeOf(name);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace berth::engine
