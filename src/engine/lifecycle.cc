// Engine: tasks. stop/kill/pause talk to the shim, a monitor thread per running container records its exit,
// restart policies start it again; wait and remove.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/rules.h"
#include "engine/shim_client.h"
#include "engine/spec_validate.h"
#include "image/runspec.h"
#include "runtime/shim_protocol.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

using nlohmann::json;

namespace {

using shimio::readLine;
using shimio::sendAll;
Result<UniqueFd> connectTo(const std::string& path) {
  return shimio::connect(path);
}

bool pathExists(const std::string& p) {
  return ::access(p.c_str(), F_OK) == 0;
}

}  // namespace

Result<std::string> Engine::resolveSettledLocked(std::unique_lock<std::mutex>& lock, const std::string& ref) {
  TRY(std::string id, resolveId(ref));
  changed_.wait(lock, [&] {
    auto it = containers_.find(id);
    return stopping_ || it == containers_.end() || it->second.state.status != Status::Starting;
  });
  if (!containers_.count(id)) return fail(ErrorCategory::NotFound, "No such container: " + ref);
  return id;
}

std::shared_ptr<Task> Engine::taskLocked(const std::string& id) {
  if (auto it = tasks_.find(id); it != tasks_.end()) return it->second;
  auto t = std::make_shared<Task>();
  if (containers_.count(id)) tasks_[id] = t;
  return t;
}

Result<std::string> Engine::shimRequest(const std::string& id, const runtime::shim::Request& req) {
  TRY(UniqueFd fd, connectTo(containerDir(id) + "/shim.sock"));
  if (!sendAll(fd.get(), runtime::shim::encode(req) + "\n"))
    return sysFail("talking to the container's shim");
  TRY(std::string answer, readLine(fd.get()));
  return runtime::shim::decodeAnswer(answer);
}

void Engine::startMonitor(const std::string& id) {
  ++monitorsRunning_;
  std::thread([this, id] { monitor(id); }).detach();
  startHealthLocked(id);
}

void Engine::monitor(std::string id) {
  std::shared_ptr<Task> task;
  {
    std::lock_guard lock(m_);
    task = taskLocked(id);
    monitored_.insert(task);
  }
  std::string line;
  auto fd = connectTo(containerDir(id) + "/shim.sock");
  bool ending = false;  // the shim reported the exit and is cleaning up
  if (fd &&
      sendAll(fd->get(),
              runtime::shim::encode(runtime::shim::Request::of(runtime::shim::Request::Kind::Wait)) + "\n")) {
    {
      std::lock_guard lock(m_);
      task->monitorFd = fd->get();
      // A shutdown that came since this monitor began did not see its connection: it would wait here
      // for the exit, past the engine's end.
      if (stopping_) ::shutdown(fd->get(), SHUT_RDWR);
    }
    log::phase("monitor: waiting");
    auto l = readLine(fd->get());
    if (l) line = *l;
    std::lock_guard lock(m_);
    if (l && !stopping_) {
      ending = true;
      task->shimEnding = true;
    } else {
      task->monitorFd = -1;
    }
  }
  {
    std::unique_lock lock(m_);
    if (!stopping_) {
      onExitLocked(lock, id, line, true);
    }
  }
  (void)removeLayers();  // an --rm container's
  // After the waiters had their answer: the rootfs mount and the run directory (a start of the same
  // container waits for this; a crash before it leaves them to the next daemon start's sweep).
  bool deferred;
  {
    std::lock_guard lock(m_);
    deferred = task->cleanupPending;
  }
  if (deferred) {
    cleanupRuntime(id);
    std::lock_guard lock(m_);
    task->cleanupPending = false;
    changed_.notify_all();
  }
  if (ending) {
    // The shim closes the connection when its clean-up is done (or a shutdown shuts it).
    struct pollfd p = {fd->get(), POLLIN, 0};
    char buf[256];
    for (int rounds = 0; rounds < 100; ++rounds) {
      int n = ::poll(&p, 1, 100);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) continue;
      if (n < 0 || ::recv(fd->get(), buf, sizeof buf, 0) <= 0) break;
    }
    std::lock_guard lock(m_);
    task->monitorFd = -1;
    task->shimEnding = false;
  }
  std::lock_guard lock(m_);
  monitored_.erase(task);
  --monitorsRunning_;
  changed_.notify_all();
}

// The shim reported an exit (or is gone: then its exit file says how it ended).
void Engine::onExitLocked(std::unique_lock<std::mutex>& lock, const std::string& idRef, std::string exitLine,
                          bool deferCleanup) {
  const std::string id = idRef;  // idRef may be the record's own id, which an --rm removal erases
  log::phase("exit: begin");
  host_->busy();  // the exit's cgroup and namespace clean-up goes first
  if (netns_) netns_->busy();
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  std::string dir = containerDir(id);
  if (exitLine.empty()) {
    // The shim may still be finishing: give it a moment to write its exit file.
    for (int i = 0; i < 50 && !pathExists(dir + "/exit") && pathExists(dir + "/shim.sock"); ++i) {
      lock.unlock();
      ::usleep(20000);
      lock.lock();
    }
    auto text = readFile(dir + "/exit");
    if (text) exitLine = trim(*text);
  }
  Container& c = it->second;
  if (!hasProcess(c.state.status) && c.state.status != Status::Starting) return;
  // The monitor's "exit <status>", or the exit file's "<status>".
  auto exit = exitLine.starts_with("exit ") ? runtime::shim::decodeExitLine(exitLine)
                                            : runtime::shim::decodeExit(exitLine);
  if (exit && !exit->finishedAt.empty()) {
    c.state.exitCode = exit->code;
    c.state.oomKilled = exit->oom;
    c.state.finishedAt = exit->finishedAt;
  } else {
    c.state.exitCode = 255;
    c.state.error = "the container's shim disappeared without recording an exit status";
    c.state.finishedAt = log::nowRfc3339();
  }
  c.state.status = Status::Exited;
  c.state.pid = 0;
  std::shared_ptr<Task> task = taskLocked(id);
  task->shimReady = false;
  if (deferCleanup)
    task->cleanupPending = true;
  else
    cleanupRuntime(id);
  log::phase("exit: runtime cleaned");
  disconnectNetworkLocked(c);
  releaseVolumesLocked(c);
  log::phase("exit: network, volumes");
  // An --rm container (never restarted: create and update refuse a restart policy with AutoRemove) has its
  // record deleted below, so its exit is not written first: a crash between leaves a running record without
  // a shim, which the next daemon start finds exited and removes.
  bool autoRemove = c.hostConfig.autoRemove;
  if (!autoRemove) (void)save(c, db::Sync::Relaxed);
  log::phase("exit: saved");
  task->exits++;
  if (c.state.oomKilled) emitLocked("container", "oom", id);
  emitLocked("container", "die", id, {{"exitCode", std::to_string(c.state.exitCode)}});
  if (!autoRemove && maybeRestartLocked(c, false)) {
    (void)save(c, db::Sync::Relaxed);
    changed_.notify_all();
    return;
  }
  changed_.notify_all();
  if (autoRemove)
    if (auto r = removeLocked(lock, id, true, true); !r) {
      log::warn("removing --rm container " + id + ": " + r.error().message());
      if (auto left = containers_.find(id); left != containers_.end())
        (void)save(left->second, db::Sync::Relaxed);
    }
}

bool Engine::maybeRestartLocked(Container& c, bool daemonStart) {
  if (stopping_ || c.removalRequested) return false;
  std::shared_ptr<Task> task = taskLocked(c.id);
  ExitFacts f;
  f.manuallyStopped = c.manuallyStopped;
  f.exitCode = c.state.exitCode;
  f.restartCount = c.restartCount;
  f.startedAt = c.state.startedAt;
  f.finishedAt = c.state.finishedAt;
  f.daemonStart = daemonStart;
  RestartDecision d = decideRestart(c.hostConfig.restartPolicy, f, task->backoffMs);
  if (!d.restart) return false;
  task->backoffMs = d.backoffMs;
  c.state.status = Status::Restarting;
  restartLater(c.id, d.delayMs);
  return true;
}

void Engine::restartLater(std::string id, int64_t delayMs) {
  ++monitorsRunning_;
  std::thread([this, id, delayMs] {
    std::unique_lock lock(m_);
    changed_.wait_for(lock, std::chrono::milliseconds(delayMs), [&] { return stopping_; });
    auto it = containers_.find(id);
    if (!stopping_ && it != containers_.end() && it->second.state.status == Status::Restarting) {
      it->second.restartCount++;
      it->second.state.status = Status::Exited;
      auto r = startLocked(lock, id);
      if (!r) {
        auto again = containers_.find(id);
        if (again != containers_.end()) {
          again->second.state.error = r.error().message();
          (void)save(again->second, db::Sync::Relaxed);
        }
      }
    }
    --monitorsRunning_;
    changed_.notify_all();
  }).detach();
}

Result<void> Engine::signalLocked(const std::string& id, int sig) {
  auto r = shimRequest(id, runtime::shim::Request::kill(sig));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> Engine::kill(const std::string& ref, const std::string& signal) {
  int sig = SIGKILL;
  if (!signal.empty()) {
    auto s = parseSignal(signal);
    if (!s) return invalid("Invalid signal: " + signal);
    sig = *s;
  }
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  auto& c = containers_.at(id);
  if (!hasProcess(c.state.status))
    return fail(ErrorCategory::Conflict,
                "Cannot kill container: " + ref + ": Container " + id + " is not running");
  bool stopped = sig == SIGKILL || sig == SIGTERM || sig == SIGINT;
  if (stopped) {  // as docker: the user ended it, no restart
    c.manuallyStopped = true;
    (void)save(c, db::Sync::Relaxed);
  }
  TRYV(signalLocked(id, sig));
  emitLocked("container", "kill", id, {{"signal", std::to_string(sig)}});
  lock.unlock();
  if (stopped) TRYV_CTX(syncRecords(), "recording the kill");
  return {};
}

Result<void> Engine::stop(const std::string& ref, std::optional<int> timeout, const std::string& signal) {
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  Container& c = containers_.at(id);
  if (c.state.status == Status::Restarting) {  // a pending restart is cancelled
    c.manuallyStopped = true;
    c.state.status = Status::Exited;
    TRYV(save(c, db::Sync::Relaxed));
    changed_.notify_all();
    lock.unlock();
    return syncRecords();
  }
  if (!hasProcess(c.state.status)) return fail(ErrorCategory::NotModified, "container already stopped");
  c.manuallyStopped = true;
  (void)save(c, db::Sync::Relaxed);  // synced below, once the lock is let go
  std::string sigName = !signal.empty()               ? signal
                        : c.config.stopSignal.empty() ? "SIGTERM"
                                                      : c.config.stopSignal;
  int sig = parseSignal(sigName).value_or(SIGTERM);
  int secs = timeout ? *timeout : c.config.stopTimeout.value_or(10);
  std::shared_ptr<Task> task = taskLocked(id);
  uint64_t seq = task->exits;
  if (c.state.status == Status::Paused)
    (void)shimRequest(id, runtime::shim::Request::of(runtime::shim::Request::Kind::Resume));
  if (auto r = signalLocked(id, sig); !r) log::warn("stop " + id + ": " + r.error().message());
  auto exited = [&] { return task->exits != seq || !containers_.count(id); };
  if (secs < 0 || !changed_.wait_for(lock, std::chrono::seconds(secs), exited)) {
    (void)signalLocked(id, SIGKILL);
    if (!changed_.wait_for(lock, std::chrono::seconds(30), exited))
      return fail("container " + id + " did not exit after SIGKILL");
  }
  if (containers_.count(id)) emitLocked("container", "stop", id);
  lock.unlock();
  return syncRecords();
}

Result<void> Engine::restart(const std::string& ref, std::optional<int> timeout) {
  auto r = stop(ref, timeout);
  if (!r && !isNotModified(r.error())) return r;
  return start(ref);
}

Result<void> Engine::pause(const std::string& ref) {
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  auto& c = containers_.at(id);
  if (c.state.status == Status::Paused)
    return fail(ErrorCategory::Conflict, "Container " + id + " is already paused");
  if (c.state.status != Status::Running)
    return fail(ErrorCategory::Conflict, "Container " + id + " is not running");
  TRYV(shimRequest(id, runtime::shim::Request::of(runtime::shim::Request::Kind::Pause)));
  c.state.status = Status::Paused;
  emitLocked("container", "pause", id);
  return save(c, db::Sync::Relaxed);
}

Result<void> Engine::unpause(const std::string& ref) {
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  auto& c = containers_.at(id);
  if (c.state.status != Status::Paused)
    return fail(ErrorCategory::Conflict, "Container " + id + " is not paused");
  TRYV(shimRequest(id, runtime::shim::Request::of(runtime::shim::Request::Kind::Resume)));
  c.state.status = Status::Running;
  emitLocked("container", "unpause", id);
  return save(c, db::Sync::Relaxed);
}

Result<std::vector<std::string>> Engine::update(const std::string& ref, const spec::UpdateRequest& u) {
  std::vector<std::string> warnings;
  const spec::Resources& n = u.resources;
  TRYV(spec::validateResources(n, spec::HostFacts::cached(), true, &warnings));
  if (u.restartPolicy && !u.restartPolicy->name.empty()) TRYV(spec::validateRestartPolicy(*u.restartPolicy));
  std::unique_lock lock(m_);
  TRY(std::string id, resolveSettledLocked(lock, ref));
  Container c = containers_.at(id);
  spec::Resources& r = c.hostConfig.resources;
  // docker's rule: a zero (or absent) value leaves the setting as it is.
  for (auto [mine, given] :
       {std::pair{&r.memory, n.memory}, std::pair{&r.memorySwap, n.memorySwap},
        std::pair{&r.memoryReservation, n.memoryReservation}, std::pair{&r.cpuShares, n.cpuShares}})
    if (given) *mine = given;
  if (n.nanoCpus) {
    r.nanoCpus = n.nanoCpus;
    r.cpuQuota = r.cpuPeriod = 0;
  }
  for (auto [mine, given] : {std::pair{&r.cpuQuota, n.cpuQuota}, std::pair{&r.cpuPeriod, n.cpuPeriod}})
    if (given) {
      *mine = given;
      r.nanoCpus = 0;
    }
  if (n.pidsLimit) r.pidsLimit = *n.pidsLimit <= 0 ? -1 : *n.pidsLimit;
  if (!n.cpusetCpus.empty()) r.cpusetCpus = n.cpusetCpus;
  if (n.memory && !n.memorySwap && r.memorySwap > 0 && r.memorySwap < r.memory) r.memorySwap = 2 * r.memory;
  if (r.memorySwap > 0 && r.memory > 0 && r.memorySwap < r.memory)
    return invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (r.memorySwap > 0 && r.memory == 0)
    return invalid("You should always set the Memory limit when using Memoryswap limit");
  if (u.restartPolicy && !u.restartPolicy->name.empty()) {
    if (u.restartPolicy->name != "no" && c.hostConfig.autoRemove)
      return invalid("Restart policy cannot be updated because AutoRemove is enabled for the container");
    c.hostConfig.restartPolicy = *u.restartPolicy;
  }
  Status st = c.state.status;
  if (hasProcess(st)) {
    TRY(image::RunOptions o, runOptions(c, opts_.cgroupParent, opts_.initPath));
    if (auto r = shimRequest(id, runtime::shim::Request::update(image::resourceLimitsJson(o))); !r)
      return std::unexpected(r.error().context("Cannot update container " + id));
  }
  containers_[id] = c;
  TRYV(save(c, db::Sync::Relaxed));
  emitLocked("container", "update", id);
  lock.unlock();
  TRYV(syncRecords());
  return warnings;
}

Result<void> Engine::resize(const std::string& ref, int rows, int cols) {
  std::lock_guard lock(m_);
  TRY(std::string id, resolveId(ref));
  auto& c = containers_.at(id);
  if (!hasProcess(c.state.status))
    return fail(ErrorCategory::Conflict, "Container " + id + " is not running");
  TRYV(shimRequest(id,
                   runtime::shim::Request::resize(static_cast<unsigned>(rows), static_cast<unsigned>(cols))));
  return {};
}

uint64_t Engine::exitSequence(const std::string& id) {
  std::lock_guard lock(m_);
  auto it = tasks_.find(id);
  return it == tasks_.end() ? 0 : it->second->exits;
}

Result<int> Engine::wait(const std::string& ref, const std::string& condition,
                         const std::function<bool()>& cancelled, std::optional<uint64_t> since) {
  std::unique_lock lock(m_);
  TRY(std::string id, resolveId(ref));
  TRY(WaitCondition cond, parseWaitCondition(condition));
  std::shared_ptr<Task> task = taskLocked(id);
  WaitView v;
  v.since = since ? *since : task->exits;
  for (;;) {
    auto it = containers_.find(id);
    v.status = it == containers_.end() ? std::nullopt : std::optional(it->second.state.status);
    v.exitCode = it == containers_.end() ? 0 : it->second.state.exitCode;
    if (auto r = removedExit_.find(id); r != removedExit_.end()) v.removedExit = r->second;
    v.exits = task->exits;
    if (auto code = waitOutcome(cond, v)) return *code;
    if (stopping_) return fail(ErrorCategory::Unavailable, "the daemon is shutting down");
    changed_.wait_for(lock, std::chrono::milliseconds(500));
    if (cancelled && cancelled()) return fail(ErrorCategory::Unavailable, "the client went away");
  }
}

Result<void> Engine::remove(const std::string& ref, bool force, bool removeVolumes) {
  Result<void> r;
  std::string id;
  {
    std::unique_lock lock(m_);
    TRY(id, resolveSettledLocked(lock, ref));
    r = removeLocked(lock, id, force, removeVolumes);
  }
  // The record's deletion is synced (here, or by whoever drained the queue first) before its layer goes.
  auto removed = removeLayers();
  // Whoever drained the queue first (a killed container's monitor) may still be removing the layer: the
  // answer waits for it, so that an rmi of the image right after finds no layer on top of its own.
  {
    std::unique_lock lock(m_);
    changed_.wait(lock, [&] { return !layersRemoving_.count(id); });
  }
  if (r && !removed) return std::unexpected(removed.error());
  return r;
}

Result<void> Engine::syncRecords() {
  return db::syncCommitted(db_->path());
}

Result<void> Engine::removeLayers() {
  std::vector<std::string> ids;
  bool sync = false;
  {
    std::lock_guard lock(m_);
    ids.swap(layersToRemove_);
    std::swap(sync, layersNeedSync_);
    layersRemoving_.insert(ids.begin(), ids.end());
  }
  if (ids.empty()) return {};
  Defer done([&] {
    std::lock_guard lock(m_);
    for (auto& id : ids) layersRemoving_.erase(id);
    changed_.notify_all();
  });
  if (sync)
    if (auto r = syncRecords(); !r) {
      // Never a layer gone with its record still on the disk: they wait for the next start's sweep.
      log::warn("removing containers' layers: " + r.error().message());
      return std::unexpected(r.error());
    }
  for (auto& id : ids) {
    auto r = images_->snapshotter().remove("container-" + id, db::Sync::Relaxed);
    if (!r && r.error().category() != ErrorCategory::NotFound)
      log::warn("removing the writable layer of container " + id + ": " + r.error().message());
  }
  log::phase("remove: layers removed");
  return {};
}

Result<void> Engine::removeLocked(std::unique_lock<std::mutex>& lock, const std::string& idRef, bool force,
                                  bool removeVolumes) {
  const std::string id = idRef;  // idRef may be the record's own id, erased below
  auto it = containers_.find(id);
  if (it == containers_.end()) return fail(ErrorCategory::NotFound, "No such container: " + id);
  auto& st = it->second.state.status;
  bool running = hasProcess(st) || st == Status::Starting;
  if (running && !force)
    return fail(ErrorCategory::Conflict,
                "You cannot remove a " + std::string(st == Status::Paused ? "paused" : "running") +
                    " container " + id + ". Stop the container before attempting removal or force remove");
  std::shared_ptr<Task> task = taskLocked(id);
  if (running) {
    uint64_t seq = task->exits;
    it->second.removalRequested = true;
    if (st == Status::Paused)
      (void)shimRequest(id, runtime::shim::Request::of(runtime::shim::Request::Kind::Resume));
    (void)signalLocked(id, SIGKILL);
    if (!changed_.wait_for(lock, std::chrono::seconds(30),
                           [&] { return task->exits != seq || !containers_.count(id); }))
      return fail("container " + id + " did not exit after SIGKILL");
    if (!containers_.count(id)) return {};  // AutoRemove got there first
  }
  int code = containers_.at(id).state.exitCode;
  bool autoRemove = containers_.at(id).hostConfig.autoRemove;
  if (!task->cleanupPending) cleanupRuntime(id);  // else its monitor does it, after the answers
  // The record first, then the writable layer (its commit rides on the next synced one): a crash between
  // the two leaves a layer without a container, which loadAll() removes; never a container without its
  // layer. The deletion is committed relaxed here and synced by removeLayers() before any layer goes,
  // outside the lock (so the user's removal survives a power cut once it is answered); an --rm
  // container's needs no sync (a power cut ends it anyway).
  log::phase("remove: begin");
  TRYV(deleteRecord(id, db::Sync::Relaxed));
  log::phase("remove: record deleted");
  layersToRemove_.push_back(id);  // by removeLayers(), once the caller let go of the lock
  if (!autoRemove) layersNeedSync_ = true;
  layerMounts_.erase(id);
  emitLocked("container", "destroy", id);
  if (removeVolumes) removeAnonymousVolumesLocked(containers_.at(id));
  (void)trash_->discard(opts_.dataRoot + "/containers/" + id);
  containers_.erase(id);
  std::erase_if(execs_, [&](const auto& e) { return e.second.containerId == id; });
  tasks_.erase(id);  // its monitor and health loop, if any, hold it until they end
  // For `wait?condition=removed` that comes after the removal: the last ones are enough (a daemon that
  // runs --rm containers all day must not grow by one entry each).
  removedExit_[id] = code;
  removedOrder_.push_back(id);
  while (removedOrder_.size() > 1024) {
    removedExit_.erase(removedOrder_.front());
    removedOrder_.pop_front();
  }
  changed_.notify_all();
  log::phase("remove: done");
  return {};
}

void Engine::shutdown() {
  std::unique_lock lock(m_);
  if (stopping_) return;
  stopping_ = true;
  for (auto& t : monitored_)
    if (t->monitorFd >= 0) ::shutdown(t->monitorFd, SHUT_RDWR);
  for (int fd : waiterFds_) ::shutdown(fd, SHUT_RDWR);
  changed_.notify_all();
  changed_.wait_for(lock, std::chrono::seconds(5), [&] { return monitorsRunning_ == 0; });
}

}  // namespace berth::engine
