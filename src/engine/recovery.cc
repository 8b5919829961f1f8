// What a daemon start finds of the containers it did not see end: run directories, live shims.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "base/file.h"
#include "base/log.h"
#include "base/unix_socket.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/shim_client.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

namespace {

using shimio::sendAll;

Result<UniqueFd> connectTo(const std::string& path) {
  return shimio::connect(path);
}

bool pathExists(const std::string& p) {
  return ::access(p.c_str(), F_OK) == 0;
}

// Waits until the peer closes fd (or the time is up); false on timeout.
bool awaitClose(int fd, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  char buf[256];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return false;
    if (n < 0 || ::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

}  // namespace

void Engine::cleanupRuntime(const std::string& id) {
  std::string dir = containerDir(id);
  host_->unmountRootfs(dir + "/rootfs");
  (void)removeAll(dir);
}

void Engine::reconcile(Container& c) {
  if (c.state.status == Status::Starting)
    c.state.status = c.hasBeenStarted ? Status::Exited : Status::Created;
  if (!hasProcess(c.state.status)) return;
  std::string dir = containerDir(c.id);
  if (pathExists(dir + "/shim.sock")) {
    auto fd = connectTo(dir + "/shim.sock");
    if (fd) {
      taskLocked(c.id)->shimReady = true;
      startMonitor(c.id);
      return;
    }
  }
  // The shim is gone: its exit file (or nothing, after a reboot) says how the container ended.
  std::unique_lock lock(m_, std::adopt_lock);
  onExitLocked(lock, c.id, "");
  lock.release();
}

void Engine::endUnrecordedStart(const std::string& id) {
  std::string sock = containerDir(id) + "/shim.sock";
  if (!pathExists(sock)) return;
  auto waiter = connectTo(sock);
  if (!waiter) return;  // no shim listens: only files are left
  log::warn("container " + id.substr(0, 12) +
            ": a start the daemon did not live to record left its process running; killing it");
  if (!sendAll(waiter->get(),
               runtime::shim::encode(runtime::shim::Request::of(runtime::shim::Request::Kind::Wait)) + "\n"))
    return;
  if (auto r = shimRequest(id, runtime::shim::Request::kill(9, true)); !r)
    log::warn("killing the unrecorded start of " + id.substr(0, 12) + ": " + r.error().message());
  // The exit line, then the shim's clean-up (cgroups, namespaces) ends with the connection's close.
  if (!awaitClose(waiter->get(), std::chrono::seconds(20)))
    log::warn("the shim of " + id.substr(0, 12) + " did not end within 20 s");
}

}  // namespace berth::engine
