// Engine: a container's start. The shim (berth-shim, the container's parent) is given its arguments and
// reports the container's pid once it runs; the engine's lock is let go for the slow steps (see spawnShim).
#include <unistd.h>

#include <chrono>

#include "base/file.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "image/runspec.h"

namespace berth::engine {

std::vector<std::string> Engine::shimArgs(const Container& c, int pendingAttach) const {
  std::string dir = containerDir(c.id);
  int64_t maxSize = opts_.logMaxSize;
  int maxFiles = opts_.logMaxFiles;
  logRotation(c.hostConfig.logConfig, maxSize, maxFiles);
  std::vector<std::string> args = {opts_.shimPath,
                                   "--id",
                                   c.id,
                                   "--bundle",
                                   dir,
                                   "--runtime-root",
                                   opts_.runRoot + "/runtime",
                                   "--socket",
                                   dir + "/shim.sock",
                                   "--exit-file",
                                   dir + "/exit",
                                   "--log",
                                   logPath(c.id),
                                   "--log-max-size",
                                   std::to_string(maxSize),
                                   "--log-max-file",
                                   std::to_string(maxFiles)};
  if (c.config.tty) args.push_back("--tty");
  if (c.config.openStdin) args.push_back("--stdin");
  if (c.config.stdinOnce) args.push_back("--stdin-once");
  // Created and started in one step; attach requests that came before the start connect to the shim once
  // it answers: it holds the process's output until they have (no output is lost), so the start need not
  // wait for their connections.
  args.push_back("--start");
  args.push_back(std::to_string(pendingAttach));
  return args;
}

// Called with the lock held and the container marked Starting (which keeps other operations on it
// waiting: see resolveSettledLocked); `c` is a copy of its record, which gets its endpoints and pid. The
// lock is let go for the slow steps: mounting its root, and the shim's creation and start of the container.
// The volumes' and network's set-up (registries shared with other containers) run under the lock; a
// volume's seeding from the image (a copy) does not.
Result<void> Engine::spawnShim(std::unique_lock<std::mutex>& lock, Container& c) {
  std::string dir = containerDir(c.id);
  log::phase("start: begin");
  auto cached = layerMounts_.find(c.id);
  if (cached == layerMounts_.end())
    return fail(ErrorCategory::NotFound, "the writable layer of container " + c.id + " is missing");
  auto icfgIt = imageConfigs_.find(c.imageId);
  if (icfgIt == imageConfigs_.end()) return fail(ErrorCategory::NotFound, "No such image: " + c.imageId);
  // Read without the lock below, not copied: a map's entries stay where they are, imageConfigs_'s are
  // never erased, and layerMounts_'s only by a removal, which waits while the container is Starting.
  const std::vector<snapshot::Mount>& mounts = cached->second;
  const image::ImageConfig& icfg = icfgIt->second;
  int pendingAttach = taskLocked(c.id)->pendingAttach;

  lock.unlock();
  Defer relockAtEnd([&] {
    if (!lock.owns_lock()) lock.lock();
  });
  TRYV(mkdirAll(dir + "/rootfs", 0700));
  ::unlink((dir + "/exit").c_str());
  TRYV(host_->mountRootfs(mounts, dir + "/rootfs", c.hostConfig.autoRemove));
  Defer unmount([&] { host_->unmountRootfs(dir + "/rootfs"); });
  log::phase("start: rootfs mounted");
  TRY(image::RunOptions o, runOptions(c, opts_.cgroupParent, opts_.initPath));

  lock.lock();
  std::vector<std::unique_ptr<StagedMount>> staged;  // volume subpaths, until the container exists
  std::vector<CopyUp> copyUps;
  TRYV(setupMountsLocked(c, dir + "/rootfs", o, staged, copyUps));
  Defer release([&] { releaseVolumesLocked(c); });
  // A network namespace made ahead (held open until the shim reports the container's init ready, which
  // has joined it by then).
  UniqueFd netns;
  if (const std::string& mode = c.hostConfig.networkMode; mode.starts_with("container:")) {
    // docker's container network mode: the other container's namespace and its files.
    auto other = containers_.find(mode.substr(10));
    if (other == containers_.end())
      return fail(ErrorCategory::NotFound,
                  "No such container: " + mode.substr(10) + " (its network namespace)");
    if (!hasProcess(other->second.state.status))
      return fail(ErrorCategory::Conflict,
                  "cannot join network of a non running container: " + other->second.name);
    o.netnsPath = "/proc/" + std::to_string(other->second.state.pid) + "/ns/net";
    if (!other->second.config.hostname.empty()) o.hostname = other->second.config.hostname;
    bindEtcFiles(o, containerDir(other->first));
  } else if (o.network != "host" && netns_) {
    netns = netns_->take();
  }
  TRYV(connectNetworkLocked(c, netns, o, icfg.config.exposedPorts));
  Defer disconnect([&] { disconnectNetworkLocked(c); });
  // In the record at once: other starts take their addresses and ports from the records.
  containers_.at(c.id).endpoints = c.endpoints;
  containers_.at(c.id).ports = c.ports;
  if (netns) o.netnsPath = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(netns.get());
  log::phase("start: options");

  lock.unlock();
  Defer relockForUndo([&] {  // runs before the undo steps above, which need the lock
    if (!lock.owns_lock()) lock.lock();
  });
  // Volumes seeded from the image: a volume a user removes meanwhile is refused (this container uses
  // it), and a copy-up into it by another start takes its turn.
  for (auto& cu : copyUps) TRYV(volumes_->copyUp(cu.volume, "", cu.imageDir.get()));
  log::phase("start: volumes seeded");
  TRY(std::string spec, image::makeRuntimeConfig(icfg, o, dir + "/rootfs"));
  log::phase("start: config made");
  TRYV(replaceFile(dir + "/config.json", spec, 0600));  // made anew at every start
  log::phase("start: config written");
  TRY(c.state.pid, host_->runShim(shimArgs(c, pendingAttach)));
  lock.lock();
  unmount.dismiss();
  disconnect.dismiss();
  release.dismiss();
  return {};
}

Result<void> Engine::start(const std::string& ref) {
  Result<void> r;
  {
    std::unique_lock lock(m_);
    TRY(std::string id, resolveSettledLocked(lock, ref));
    r = startLocked(lock, id);
  }
  (void)removeLayers();  // a failed --rm container's
  return r;
}

Result<void> Engine::startLocked(std::unique_lock<std::mutex>& lock, const std::string& id) {
  std::shared_ptr<Task> task = taskLocked(id);
  auto starting = [&] {
    auto it = containers_.find(id);
    return !stopping_ && it != containers_.end() && it->second.state.status == Status::Starting;
  };
  do {
    // Another start of it is under way (it lets the lock go for its slow steps); the previous shim of
    // this container reported its exit and may still be cleaning up (up to 10 s).
    changed_.wait(lock, [&] { return !starting(); });
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return !task->finishing() || stopping_; });
    if (!containers_.count(id)) return fail(ErrorCategory::NotFound, "No such container: " + id);
  } while (starting());
  Container c = containers_.at(id);
  if (hasProcess(c.state.status)) return fail(ErrorCategory::NotModified, "container already started");
  if (c.removalRequested)
    return fail(ErrorCategory::Conflict, "container is marked for removal and cannot be started");
  containers_[id].state.status = Status::Starting;
  // A failed start leaves the container as it was (and removes an --rm one, as docker does: its client
  // waits for condition=removed); pending attach requests are woken.
  auto failed = [&](const Error& e) -> Result<void> {
    task->startFailures++;
    task->shimReady = false;
    auto it = containers_.find(id);  // the lock was let go meanwhile: it may be gone
    if (it != containers_.end()) {
      it->second.state.status = c.hasBeenStarted ? Status::Exited : Status::Created;
      it->second.state.error = e.message();
      it->second.endpoints.clear();  // spawnShim's undo released them
      it->second.ports.clear();
      (void)save(it->second, db::Sync::Relaxed);
      if (c.hostConfig.autoRemove) (void)removeLocked(lock, id, true, true);
    }
    changed_.notify_all();
    return std::unexpected(e);
  };
  ++monitorsRunning_;  // a shutdown waits for the start's unlocked steps
  auto r = spawnShim(lock, c);
  --monitorsRunning_;
  if (!r) return failed(r.error());
  log::phase("start: shim answered");
  task->shimReady = true;  // attach requests that came before the start connect now
  changed_.notify_all();
  Container& live = containers_[id];
  live.state.status = Status::Running;
  live.state.pid = c.state.pid;
  live.endpoints = c.endpoints;
  live.ports = c.ports;
  // Its names answer once its record has the endpoint (spawnShim worked on a copy).
  for (auto& [name, ep] : live.endpoints)
    if (auto n = networks_->find(ep.networkId); n && !n->predefined()) refreshNamesLocked(*n);
  live.state.exitCode = 0;
  live.state.oomKilled = false;
  live.state.error.clear();
  live.state.startedAt = log::nowRfc3339();
  live.state.finishedAt = "0001-01-01T00:00:00Z";
  live.hasBeenStarted = true;
  live.manuallyStopped = false;
  TRYV(save(live, db::Sync::Relaxed));
  emitLocked("container", "start", id);
  if (!stopping_) startMonitor(id);  // else the next daemon's start finds it running
  changed_.notify_all();
  log::phase("start: done");
  return {};
}

}  // namespace berth::engine
