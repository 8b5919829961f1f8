// The kernel's TaskHost: overlay (or bind) mounts of a container's layers, and berth-shim processes.
#include "engine/task_host.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "base/fd.h"
#include "base/self_exe.h"
#include "engine/fd_pool.h"
#include "engine/shim_client.h"
#include "runtime/shim_protocol.h"
#include "sys/cgroup.h"

namespace berth::engine {
namespace {

// The shim's report on `fd`: one line, "ok <pid>" or "err <message>" (EOF when it died; `st` is its wait
// status when it was spawned here).
Result<int> readShimReport(int fd, int st, const std::string& shimPath) {
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  line = line.substr(0, line.find('\n'));
  if (line.empty()) {
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return fail("cannot run the shim " + shimPath);
    return fail("the shim exited without creating the container");
  }
  TRY(std::string pid, runtime::shim::decodeAnswer(line));
  int n = std::atoi(pid.c_str());
  if (n <= 0) return fail("the shim answered: " + line);
  return n;
}

class KernelHost final : public TaskHost {
 public:
  explicit KernelHost(const KernelHostOptions& o) : opts_(o) {
    // One read-only copy of the shim for all containers: each shim starts protected and needs no re-exec.
    shimExe_.reset(readOnlyExecutable(o.shimPath.c_str()));
    exe_ = shimExe_ ? "/proc/self/fd/" + std::to_string(shimExe_.get()) : o.shimPath;
    if (o.shimPool > 0) {
      // Staged cgroups of makers killed before they could remove them (cgroup v1; see
      // sys::cgroup::stageV1).
      if (auto layout = sys::cgroup::detect(); layout && layout->version == 1)
        sys::cgroup::removeStaleStagedV1(*layout, o.cgroupParent);
      pool_ = std::make_unique<FdPool>(
          "shims", static_cast<size_t>(o.shimPool),
          [exe = exe_, parent = o.cgroupParent] { return startStandbyShim(exe, parent); }, kPoolQuiet);
    }
  }
  ~KernelHost() override { pool_.reset(); }  // its thread executes shimExe_

  // An --rm container's writable layer is deleted when it exits: overlay's `volatile` spares it the sync
  // of the upper filesystem at unmount (a journal commit, ~1 ms on ext4), as podman does for --rm.
  Result<void> mountRootfs(const std::vector<snapshot::Mount>& mounts, const std::string& rootfs,
                           bool autoRemove) override {
    auto withVolatile = mounts;
    bool isVolatile = false;
    if (autoRemove)
      for (auto& m : withVolatile)
        if (m.type == "overlay" && std::any_of(m.options.begin(), m.options.end(),
                                               [](auto& o) { return o.starts_with("upperdir="); })) {
          m.options.push_back("volatile");
          isVolatile = true;
        }
    if (isVolatile && snapshot::mountAll(withVolatile, rootfs)) return {};
    return snapshot::mountAll(mounts, rootfs);  // kernels before 5.10: plain
  }

  void unmountRootfs(const std::string& rootfs) override { (void)snapshot::unmountAll(rootfs); }

  Result<int> runShim(std::vector<std::string> args) override {
    // A shim started ahead takes its arguments on its socket, and reports there.
    UniqueFd standby = pool_ ? pool_->take() : UniqueFd();
    if (standby) {
      std::string msg;
      for (size_t i = 1; i < args.size(); ++i) msg += args[i] + '\0';
      msg += '\0';
      if (!shimio::sendAll(standby.get(), msg)) standby.reset();  // it died: start one here
    }
    if (standby) return readShimReport(standby.get(), 0, opts_.shimPath);
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) < 0) return sysFail("pipe");
    UniqueFd readEnd(ready[0]);
    UniqueFd writeEnd(ready[1]);
    args.push_back("--ready");
    args.push_back("3");
    TRY(int st, spawnShimProcess(exe_, args, writeEnd.get()));
    writeEnd.reset();
    return readShimReport(readEnd.get(), st, opts_.shimPath);
  }

  void busy() override {
    if (pool_) pool_->busy();  // the exit's cgroup and namespace clean-up goes first
  }

 private:
  KernelHostOptions opts_;
  UniqueFd shimExe_;
  std::string exe_;  // what a shim is run from: the read-only copy when there is one (readOnlyExecutable)
  std::unique_ptr<FdPool> pool_;
};

}  // namespace

std::unique_ptr<TaskHost> kernelTaskHost(const KernelHostOptions& o) {
  return std::make_unique<KernelHost>(o);
}

}  // namespace berth::engine
