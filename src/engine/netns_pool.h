// Network namespaces made ahead of need. Making one costs ~0.6 ms of kernel work (its devices, sysctl
// tables, per-namespace protocol state) at the moment a container starts; a thread of the daemon makes a
// few while nothing starts, and a start takes one: the container's init joins it by path.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/fd.h"

namespace berth::engine {

class NetnsPool {
 public:
  explicit NetnsPool(size_t size);
  ~NetnsPool();
  NetnsPool(const NetnsPool&) = delete;
  NetnsPool& operator=(const NetnsPool&) = delete;

  // A namespace no process has used, its loopback device up; empty when none is ready (the runtime then
  // makes one, as without a pool). The caller keeps it open until the container's init has joined it.
  UniqueFd take();

 private:
  void run();
  size_t size_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<UniqueFd> ready_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace berth::engine
