// A fake of what the engine runs containers with (engine::TaskHost): no mounts, and for each start an
// in-process shim that serves berth-shim's protocol (runtime/shim_protocol.h, with its encoder and decoder)
// on the socket the engine gave it, and whose "container" runs until a signal ends it or the test says it
// exits. Like berth-shim it writes its exit file, answers its waiters and goes, and it outlives the engine
// (a daemon restart), so the engine's rules run as they do in berthd, without the kernel.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "engine/task_host.h"
#include "runtime/shim_protocol.h"
#include "shim/args.h"

namespace berth::test {

class FakeShim {
 public:
  FakeShim(shim::Args args, int pid);
  ~FakeShim();  // a container still running is killed (137)
  FakeShim(const FakeShim&) = delete;
  FakeShim& operator=(const FakeShim&) = delete;

  // The container's process ends on its own.
  void exit(int code, bool oom = false);
  // Signals the process survives (besides 0, SIGCHLD, SIGCONT, SIGWINCH and SIGURG); the others end it
  // with 128 + the signal.
  void ignore(int sig);
  bool exited();
  // The signals of its kill requests, and every request's kind, in order.
  std::vector<int> signals();
  std::vector<runtime::shim::Request::Kind> requests();
  // Waits (up to 5 s) until the shim has gone: its exit answered and its socket closed.
  bool awaitGone();
  const shim::Args& args() const { return args_; }
  int pid() const { return pid_; }

 private:
  void serve();
  void handle(UniqueFd conn);
  void exitLocked(int code, bool oom);
  void finishLocked();

  shim::Args args_;
  int pid_;
  UniqueFd listen_, wakeRead_, wakeWrite_;
  std::mutex mu_;
  std::condition_variable gone_;
  bool exited_ = false, finished_ = false;
  runtime::shim::Exit exit_;
  std::set<int> ignored_;
  std::vector<int> signals_;
  std::vector<runtime::shim::Request::Kind> requests_;
  std::vector<UniqueFd> waiters_, streams_;  // wait requests, attach streams: answered at the exit
  std::thread thread_;
};

// What the engine did through its host, shared by the FakeHost it owns and the test.
struct FakeHostState {
  std::mutex mu;
  std::set<std::string> mounted;                           // rootfs paths
  std::map<std::string, std::shared_ptr<FakeShim>> shims;  // by container id: its last start's
  std::string failNextStart;                               // the next runShim fails with this message
  int starts = 0;

  std::shared_ptr<FakeShim> shim(const std::string& id);
};

class FakeHost final : public engine::TaskHost {
 public:
  explicit FakeHost(std::shared_ptr<FakeHostState> s) : s_(std::move(s)) {}
  Result<void> mountRootfs(const std::vector<snapshot::Mount>& mounts, const std::string& rootfs,
                           bool autoRemove) override;
  void unmountRootfs(const std::string& rootfs) override;
  Result<int> runShim(std::vector<std::string> args) override;

 private:
  std::shared_ptr<FakeHostState> s_;
};

}  // namespace berth::test
