// libberth-runtime: the OCI lifecycle (create, start, state, kill, delete, exec, pause, resume, update).
// The library never prints; the CLI in cmd/berth-runtime formats results and errors.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "oci/config.h"
#include "runtime/state.h"

namespace berth::runtime {

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string pidFile;
  std::string consoleSocket;  // path of a unix socket that receives the pty master
  int consoleSocketFd = -1;   // or an already connected socket (foreground run)
  int preserveFds = 0;
  bool noPivot = false;
  bool noNewKeyring = false;
  // cgroup v1: a cgroup the calling process has staged (sys::cgroup::stageV1) under the container's parent
  // cgroup; it becomes the container's (renamed) and the init is born in it. Left alone if it cannot be.
  std::string stagedCgroup;
};

struct ExecOptions {
  std::string id;
  oci::Process process;
  std::string pidFile;
  std::string consoleSocket;
  int consoleSocketFd = -1;
  int preserveFds = 0;
};

struct ContainerInfo {
  State state;
  Status status;
};

class Runtime {
 public:
  explicit Runtime(std::string root) : store_(std::move(root)) {}
  const StateStore& store() const { return store_; }

  // Creates the container and returns its init pid; the caller stays its parent until it exits.
  Result<pid_t> create(const CreateOptions& opts);
  Result<void> start(const std::string& id);
  Result<ContainerInfo> state(const std::string& id) const;
  Result<std::vector<ContainerInfo>> list() const;
  Result<void> kill(const std::string& id, int sig, bool all);
  Result<void> remove(const std::string& id, bool force);
  Result<void> pause(const std::string& id);
  Result<void> resume(const std::string& id);
  Result<std::vector<pid_t>> processes(const std::string& id);
  Result<void> update(const std::string& id, const oci::Resources& r);
  // Starts a process in the running container; returns its pid (the caller is its parent).
  Result<pid_t> exec(const ExecOptions& opts);
  // The container's process spec from its stored config (the base for `exec`).
  Result<oci::Config> storedConfig(const std::string& id) const;

 private:
  StateStore store_;
};

// Host path of the runtime's default state root.
inline constexpr const char* kDefaultRoot = "/run/berth-runtime";

}  // namespace berth::runtime
