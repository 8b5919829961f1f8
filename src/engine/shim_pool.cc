#include "engine/shim_pool.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

extern char** environ;

namespace berth::engine {

ShimPool::ShimPool(std::string exe, size_t size) : exe_(std::move(exe)), size_(size) {
  if (size_ > 0) worker_ = std::thread([this] { run(); });
}

ShimPool::~ShimPool() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // The waiting shims see EOF when the sockets close, and exit.
}

UniqueFd ShimPool::take() {
  std::lock_guard lock(m_);
  if (ready_.empty()) return UniqueFd();
  UniqueFd fd = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  return fd;
}

UniqueFd ShimPool::spawnOne() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return UniqueFd();
  UniqueFd ours(sv[0]), theirs(sv[1]);
  char arg0[] = "berth-shim", arg1[] = "--standby";
  char* argv[] = {arg0, arg1, nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs.get(), 3);  // the copy loses O_CLOEXEC
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
  int rc = ::posix_spawn(&pid, exe_.c_str(), &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    log::warn(std::string("shim pool: starting a shim: ") + std::strerror(rc));
    return UniqueFd();
  }
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }  // it forks and its first process exits at once
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return UniqueFd();
  return ours;
}

void ShimPool::run() {
  // Refilling is nobody's critical path (the shims it starts inherit this; they take the normal priority
  // back when they get their container).
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  int failures = 0;
  for (;;) {
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < size_; });
      if (stop_) return;
    }
    UniqueFd fd = spawnOne();
    if (!fd) {
      if (++failures >= 3) {
        log::warn("shim pool disabled: shims cannot be started ahead");
        return;
      }
      continue;
    }
    failures = 0;
    std::lock_guard lock(m_);
    ready_.push_back(std::move(fd));
  }
}

}  // namespace berth::engine
