// What a container's start and exit do outside the engine's own state: its root mounted from its layers and
// unmounted, and a shim run for it. berthd's engine uses the kernel's and berth-shim (kernelTaskHost); the
// engine's unit tests pass a fake, which serves the shim protocol in-process on the shim's socket, so that
// every rule of the engine (create, start, exits, restart policies, waits, removal) runs as it does in
// berthd.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

class TaskHost {
 public:
  virtual ~TaskHost() = default;
  // The container's layers (`mounts`) at `rootfs`; `autoRemove`: its writable layer goes at its exit.
  virtual Result<void> mountRootfs(const std::vector<snapshot::Mount>& mounts, const std::string& rootfs,
                                   bool autoRemove) = 0;
  virtual void unmountRootfs(const std::string& rootfs) = 0;
  // Runs a shim with berth-shim's command line `args` (args[0] its path): once it reports the container
  // started, the container's pid. It then serves the shim protocol on its --socket.
  virtual Result<int> runShim(std::vector<std::string> args) = 0;
  // A container is starting or ending (what is made ahead of starts waits).
  virtual void busy() {}
};

struct KernelHostOptions {
  std::string shimPath;      // berth-shim
  std::string cgroupParent;  // where shims started ahead stage their container's cgroup
  int shimPool = 2;          // shims started ahead of container starts (0: each start starts its own)
};
// Mounts with the kernel, and berth-shim run from a read-only copy of its executable (no CVE-2019-5736
// re-exec per shim), `shimPool` of them started ahead.
std::unique_ptr<TaskHost> kernelTaskHost(const KernelHostOptions& o);

}  // namespace berth::engine
