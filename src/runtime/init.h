// The container's init: what runs in the child between clone and execve.
// The parent prepares an InitPlan (all allocation happens there); the child only reads it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "oci/config.h"
#include "sys/caps.h"
#include "sys/seccomp.h"

namespace berth::runtime {

struct CgroupMountPlan {
  std::string name;     // directory under the cgroup mount target ("memory", "cpu,cpuacct", "" for v2)
  std::string options;  // mount data for a v1 hierarchy ("memory", "none,name=systemd")
  std::string hostDir;  // the container's cgroup dir on the host (bind source without a cgroup ns)
};

struct HookPlan {
  std::string path;
  std::vector<const char*> argv, envp;  // null-terminated, pointing into the config
  int timeout = 0;
};

struct InitPlan {
  const oci::Config* config = nullptr;
  const oci::Process* process = nullptr;
  bool exec = false;            // joining an existing container (no rootfs setup, no start fifo)
  std::string seccompCacheDir;  // compiled seccomp programs (parent side only)
  int syncFd = -1;
  int parentSyncFd = -1;   // the parent's end: closed first thing in the child
  int fifoFd = -1;         // exec fifo, read once on start
  int consoleSockFd = -1;  // where the pty master goes, or -1
  int preserveFds = 0;
  bool noPivot = false;
  bool newKeyring = false;  // a fresh session keyring, so containers do not share the host's (runc's default)
  struct Join {
    int flag;
    int fd;
  };
  std::vector<Join> joins;  // in join order (user first)
  bool unshareCgroupNs = false;
  bool newUserNs = false;
  bool loopbackUp = false;  // a new network namespace: its `lo` is set up (runc, crun)
  std::vector<const char*> argv, envp;
  const char* pathEnv = nullptr;  // PATH value for looking up argv[0]
  bool hasSeccomp = false;
  sys::seccomp::Program seccomp;
  sys::caps::Sets caps;
  std::vector<CgroupMountPlan> cgroupMounts;
  bool cgroupV2 = false;
  std::vector<HookPlan> createContainerHooks, startContainerHooks;
  bool hasRuntimeHooks = false;  // prestart/createRuntime: ask the parent
};

// Child entry point: never returns. Reports failure over plan.syncFd and exits 1.
[[noreturn]] void runInit(const InitPlan& plan);

// The joiner, for a child born into an existing pid namespace (exec, or a shared pid namespace): a plain
// fork of the caller that becomes non-dumpable, joins that pid namespace and every namespace of
// plan.joins (user first, mount included), and only then clones the child (CLONE_PARENT: the caller's
// child, with `cloneFlags`; into `cgroupDirFd` by clone3 when >= 0). The child is thus in the container's
// mount namespace and non-dumpable before anything in the container can see it (runc's nsexec order). It
// sends Sync::Pid (or Sync::Error) over plan.syncFd and exits.
[[noreturn]] void runJoiner(const InitPlan& plan, int pidNsFd, int cloneFlags, int cgroupDirFd);

// Child-safe hook runner: feeds `state` on stdin; returns 0 or -errno (ETIMEDOUT, ECHILD for non-zero exit).
int runHookChild(const HookPlan& hook, const char* state, size_t stateLen);

}  // namespace berth::runtime
