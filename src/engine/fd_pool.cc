#include "engine/fd_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.h"
#include "sys/netdev.h"

extern char** environ;

namespace berth::engine {

FdPool::FdPool(std::string what, size_t size, std::function<Result<UniqueFd>()> make,
               std::chrono::milliseconds quiet)
    : what_(std::move(what)), size_(size), make_(std::move(make)), quiet_(quiet) {
  if (size_ > 0) worker_ = std::thread([this] { run(); });
}

FdPool::~FdPool() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

UniqueFd FdPool::take() {
  std::lock_guard lock(m_);
  if (ready_.empty()) return UniqueFd();
  UniqueFd fd = std::move(ready_.front());
  ready_.pop_front();
  prevTake_ = lastTake_;
  lastTake_ = lastBusy_ = std::chrono::steady_clock::now();
  cv_.notify_all();
  return fd;
}

void FdPool::busy() {
  std::lock_guard lock(m_);
  lastBusy_ = std::chrono::steady_clock::now();
}

void FdPool::run() {
  // Refilling is nobody's critical path: starting containers have the CPU first.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  int failures = 0;
  // Starts in a row (two takes within 100 ms): a refill would meet one of them whenever it runs, and the next
  // ones need what it makes, so it runs at once.
  auto burst = [&] { return lastTake_ - prevTake_ < std::chrono::milliseconds(100); };
  for (;;) {
    std::string why;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < size_; });
      if (stop_) return;
      // Not needed yet: wait for a moment without starts and exits (each take() or busy() moves it).
      if (!ready_.empty() && !burst() && std::chrono::steady_clock::now() < lastBusy_ + quiet_) {
        cv_.wait_until(lock, lastBusy_ + quiet_, [&] { return stop_ || ready_.empty() || burst(); });
        continue;
      }
      why = std::to_string(ready_.size()) + " ready, " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - lastBusy_)
                               .count()) +
            " ms since the last take or exit" + (burst() ? ", starts in a row" : "");
    }
    log::debug(what_ + ": making one (" + why + ")");
    auto fd = make_();
    if (!fd) {
      if (++failures >= 3) {
        log::warn(what_ + " made ahead: disabled after " + fd.error().message());
        return;
      }
      continue;
    }
    failures = 0;
    std::lock_guard lock(m_);
    ready_.push_back(std::move(*fd));
  }
}

Result<UniqueFd> makeNetworkNamespace() {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return sysFail("opening this thread's network namespace");
  if (::unshare(CLONE_NEWNET) < 0) return sysFail("making a network namespace");
  int err = sys::netdev::loopbackUp();
  UniqueFd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  int openErr = errno;
  // (This thread does nothing else: should the way back fail, it only makes namespaces from another one.)
  if (::setns(home.get(), CLONE_NEWNET) < 0) return sysFail("returning to the daemon's network namespace");
  if (err) return sysFail("setting lo up in a new network namespace", err);
  if (!ns) return sysFail("opening a new network namespace", openErr);
  return ns;
}

Result<int> spawnShimProcess(const std::string& exe, const std::vector<std::string>& args, int fd3) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd3, 3);  // the copy loses O_CLOEXEC
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&fa, 0, 1);
  posix_spawn_file_actions_adddup2(&fa, 0, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sysFail("starting the shim " + exe, rc);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

Result<UniqueFd> startStandbyShim(const std::string& exe, const std::string& cgroupParent) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return sysFail("socketpair");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  // The padding is room for the command line the shim writes once it has its container (ps shows it).
  TRY(int st, spawnShimProcess(
                  exe, {"berth-shim", "--standby", "--stage-cgroup", cgroupParent, std::string(1536, ' ')},
                  theirs.get()));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return fail("a waiting shim exited at its start");
  return ours;
}

}  // namespace berth::engine
