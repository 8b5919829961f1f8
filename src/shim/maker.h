// The shim's maker: a forked child that makes the container's init (or an exec'd process) for the shim and
// exits. What making it allocates, parses and caches (the OCI config, the seccomp filter, the cgroup layout)
// goes with the child instead of pinning pages of the shim's heap for as long as the container runs (the
// shim's PSS budget is 0.1 MiB). The process made is reparented to the shim, a subreaper, when the maker
// exits.
#pragma once

#include <sys/types.h>

#include <functional>
#include <span>
#include <string>
#include <utility>

#include "base/error.h"
#include "base/fd.h"

namespace berth::shim {

// What a maker sends back: "ok <pid>" or "err <category> <message>", and its reading.
std::string madeMessage(const Result<pid_t>& made);
Result<pid_t> parseMade(const std::string& msg);

// Runs `make` in a child forked now and returns its result once the child is gone.
Result<pid_t> inChild(const std::function<Result<pid_t>()>& make);

// A maker forked ahead of need (by a shim waiting for its container, off the start path), told later what
// to create (and start): the container `id` of `bundle` under `runtimeRoot`, with the shim's fds 0-2 as its
// stdio and `consoleFd` (or -1) as the console socket.
class Maker {
 public:
  // `title` is the memory of our command line (empty: left alone): the child shows "berth-shim --maker"
  // there, for ps, and for the tests and the benchmark that count shims by their command line.
  // `stageCgroupParent` (cgroup v1 hosts): the maker moves itself into a cgroup staged under that parent
  // while it waits, and the container's cgroup is that one renamed (sys::cgroup::stageV1).
  static Result<Maker> fork(std::span<char> title = {}, const std::string& stageCgroupParent = "");
  Maker(Maker&& o) noexcept : sock_(std::move(o.sock_)), pid_(std::exchange(o.pid_, -1)) {}
  Maker& operator=(Maker&& o) noexcept {
    if (this != &o) {
      this->~Maker();
      sock_ = std::move(o.sock_);
      pid_ = std::exchange(o.pid_, -1);
    }
    return *this;
  }
  ~Maker();
  // `start`: the container is started right after it is created (one step fewer for the daemon's start).
  Result<pid_t> create(const std::string& runtimeRoot, const std::string& id, const std::string& bundle,
                       int consoleFd, bool start);

 private:
  Maker(UniqueFd sock, pid_t pid) : sock_(std::move(sock)), pid_(pid) {}
  UniqueFd sock_;
  pid_t pid_ = -1;
};

}  // namespace berth::shim
