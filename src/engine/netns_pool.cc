#include "engine/netns_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "sys/netdev.h"

namespace berth::engine {

NetnsPool::NetnsPool(size_t size) : size_(size) {
  if (size_ > 0) worker_ = std::thread([this] { run(); });
}

NetnsPool::~NetnsPool() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

UniqueFd NetnsPool::take() {
  std::lock_guard lock(m_);
  if (ready_.empty()) return UniqueFd();
  UniqueFd fd = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  return fd;
}

void NetnsPool::run() {
  // This thread alone changes its network namespace (unshare and setns act on the calling thread), and
  // returns to the daemon's own after each one.
  // Refilling is nobody's critical path: starting containers have the CPU first.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) {
    log::warn(std::string("network namespace pool disabled: ") + std::strerror(errno));
    return;
  }
  for (;;) {
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < size_; });
      if (stop_) return;
    }
    if (::unshare(CLONE_NEWNET) < 0) {
      log::warn(std::string("network namespace pool disabled: unshare: ") + std::strerror(errno));
      return;
    }
    int err = sys::netdev::loopbackUp();
    UniqueFd ns(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (::setns(home.get(), CLONE_NEWNET) < 0) {
      log::warn(std::string("network namespace pool stopped: back to the daemon's namespace: ") +
                std::strerror(errno));
      return;
    }
    if (err || !ns) {
      log::warn(std::string("network namespace pool disabled: ") + std::strerror(err ? err : errno));
      return;
    }
    std::lock_guard lock(m_);
    ready_.push_back(std::move(ns));
  }
}

}  // namespace berth::engine
