// Shims started ahead of need. Starting one (a vfork and exec of a static binary, its start-up, the fork
// that takes it out of the daemon's way) took ~0.5 ms of every container start; a thread of the daemon
// keeps a few waiting, each on a socket, and a start hands one its arguments (berth-shim --standby).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "base/fd.h"

namespace berth::engine {

class ShimPool {
 public:
  // `exe`: what to execute (the read-only copy of berth-shim).
  ShimPool(std::string exe, size_t size);
  ~ShimPool();
  ShimPool(const ShimPool&) = delete;
  ShimPool& operator=(const ShimPool&) = delete;

  // A waiting shim's socket, or an empty fd when none is ready (the caller starts one as without a pool).
  UniqueFd take();

 private:
  void run();
  UniqueFd spawnOne();
  std::string exe_;
  size_t size_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<UniqueFd> ready_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace berth::engine
