// Parent side of the clone handshake, shared by create and exec.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "runtime/init.h"
#include "sys/cgroup.h"

namespace berth::runtime {

struct SpawnRequest {
  InitPlan* plan = nullptr;  // syncFd is filled in by spawn
  int cloneFlags = 0;        // CLONE_NEW* created at clone time
  int pidNsFd = -1;          // a pid namespace to start the child in (joined around clone)
  std::vector<oci::IdMapping> uidMappings, gidMappings;
  sys::cgroup::Manager* cgroup = nullptr;
  int cgroupDirFd = -1;  // v2: clone3 straight into this cgroup (falls back to a move if the kernel refuses)
  // Makes and limits the cgroup; runs after Go, while the child sets up its mounts.
  std::function<Result<void>()> prepareCgroup;
  bool inCallersCgroup = false;  // the caller's cgroup is the container's (an adopted v1 cgroup): no move
  std::optional<int> oomScoreAdj;
  // The state JSON given to hooks, once the pid is known.
  std::function<std::string(pid_t)> stateFor;
  // Runs prestart/createRuntime hooks when the child asks.
  std::function<Result<void>(pid_t)> runtimeHooks;
  // Parent-side work done after Placed, while the child completes its set-up.
  std::function<Result<void>(pid_t)> whilePreparing;
  // For exec: after Ready, also wait until execve closes the sync socket.
  bool waitForExec = false;
};

// Clones the child, completes the handshake and returns its pid once it is ready.
// On failure the child is killed and reaped; the caller undoes its own resources.
Result<pid_t> spawn(SpawnRequest& req);

// Fills the process part of a plan (seccomp program, capabilities, argv/envp, PATH) and connects the
// console socket when the process wants a terminal (`console` keeps that connection open).
Result<void> planProcess(InitPlan& plan, const oci::Config& cfg, const oci::Process& proc,
                         const std::string& consoleSocket, int consoleSocketFd, UniqueFd& console);

// Null-terminated pointer arrays into strings that outlive them.
std::vector<const char*> cStrings(const std::vector<std::string>& v);
std::vector<HookPlan> hookPlans(const std::vector<oci::Hook>& hooks);
// Runs hooks in the runtime's namespaces with `state` on stdin.
Result<void> runHooks(const std::vector<oci::Hook>& hooks, const std::string& state, const char* phase);

}  // namespace berth::runtime
