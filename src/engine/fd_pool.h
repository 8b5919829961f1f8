// Things made ahead of need and handed out as file descriptors (network namespaces, waiting shims): a
// thread at nice 19 keeps `size` of them ready; take() hands one out, or nothing when none is ready and the
// caller then makes its own on its path. Making one can hold a kernel lock that starting and ending
// containers need (a shim's maker stages its cgroup holding `cgroup_mutex` through an RCU grace period), so
// while some are still ready the pool refills only after `quiet` without a take() or a busy(); an empty
// pool, or one taken from twice within 100 ms (starts in a row), refills at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/fd.h"

namespace berth::engine {

// How long the engine's pools (network namespaces, standby shims) wait after a container's start or exit
// before making what a start took (unless they ran empty): a shim's maker stages its cgroup holding the
// kernel's cgroup_mutex through an RCU grace period (13-16 ms here), which a start's cgroup rename or an
// exit's rmdir running then would wait for.
inline constexpr std::chrono::milliseconds kPoolQuiet{20};

class FdPool {
 public:
  // `make` runs on the pool's thread; three failures in a row stop the pool (logged with `what`).
  FdPool(std::string what, size_t size, std::function<Result<UniqueFd>()> make,
         std::chrono::milliseconds quiet = std::chrono::milliseconds(0));
  ~FdPool();
  FdPool(const FdPool&) = delete;
  FdPool& operator=(const FdPool&) = delete;

  UniqueFd take();
  // A container is starting or ending: a refill that is not needed yet waits.
  void busy();

 private:
  void run();
  std::string what_;
  size_t size_;
  std::function<Result<UniqueFd>()> make_;
  std::chrono::milliseconds quiet_;
  std::chrono::steady_clock::time_point lastBusy_, lastTake_, prevTake_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<UniqueFd> ready_;
  bool stop_ = false;
  std::thread worker_;
};

// Network namespaces no process has used, their loopback device up (making one is ~0.6 ms of kernel work:
// devices, sysctl tables). Run on the pool's thread: it unshares and returns to the daemon's namespace.
Result<UniqueFd> makeNetworkNamespace();

// A shim started ahead (`berth-shim --standby`, the executable `exe`), waiting on the returned socket for
// its arguments: its vfork and exec, its start-up and its fork out of the daemon's way were ~0.5 ms of
// every container start. `cgroupParent`: its maker stages the container's cgroup under it (cgroup v1).
Result<UniqueFd> startStandbyShim(const std::string& exe, const std::string& cgroupParent);

// posix_spawn of a shim (a vfork, not a copy of the daemon's page tables) with `fd3` as its fd 3, /dev/null
// as 0-2, in a session of its own; waits for its first process, which forks and exits at once. Returns
// that process's wait status.
Result<int> spawnShimProcess(const std::string& exe, const std::vector<std::string>& args, int fd3);

}  // namespace berth::engine
