#include "runtime/spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "runtime/sync.h"
#include "sys/tty.h"

namespace berth::runtime {

std::vector<const char*> cStrings(const std::vector<std::string>& v) {
  std::vector<const char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v) out.push_back(s.c_str());
  out.push_back(nullptr);
  return out;
}

Result<void> planProcess(InitPlan& plan, const oci::Config& cfg, const oci::Process& proc,
                         const std::string& consoleSocket, int consoleSocketFd, UniqueFd& console) {
  plan.config = &cfg;
  plan.process = &proc;
  if (cfg.linux.seccomp) {
    auto prog = sys::seccomp::compileCached(*cfg.linux.seccomp, plan.seccompCacheDir);
    if (!prog) return std::unexpected(prog.error().context("config.json: linux.seccomp"));
    plan.seccomp = std::move(*prog);
    plan.hasSeccomp = true;
  }
  if (proc.capabilities) {
    auto& c = *proc.capabilities;
    plan.caps = {c.bounding, c.effective, c.inheritable, c.permitted, c.ambient};
  }
  plan.argv = cStrings(proc.args);
  plan.envp = cStrings(proc.env);
  for (auto& e : proc.env)
    if (startsWith(e, "PATH=")) plan.pathEnv = e.c_str() + 5;
  if (proc.terminal) {
    if (consoleSocketFd >= 0) {
      plan.consoleSockFd = consoleSocketFd;
    } else {
      TRY(console, sys::tty::connectUnix(consoleSocket));
      plan.consoleSockFd = console.get();
    }
  }
  return {};
}

std::vector<HookPlan> hookPlans(const std::vector<oci::Hook>& hooks) {
  std::vector<HookPlan> out;
  for (auto& h : hooks) {
    HookPlan p;
    p.path = h.path;
    p.argv = cStrings(h.args);
    if (h.args.empty()) p.argv.insert(p.argv.begin(), h.path.c_str());
    p.envp = cStrings(h.env);
    p.timeout = h.timeout.value_or(0);
    out.push_back(std::move(p));
  }
  return out;
}

Result<void> runHooks(const std::vector<oci::Hook>& hooks, const std::string& state, const char* phase) {
  auto plans = hookPlans(hooks);
  for (auto& p : plans) {
    int rc = runHookChild(p, state.data(), state.size());
    if (rc == -ECHILD) return fail(std::string(phase) + " hook " + p.path + " failed");
    if (rc == -ETIMEDOUT) return fail(std::string(phase) + " hook " + p.path + " timed out");
    if (rc < 0) return sysFail(std::string("running ") + phase + " hook " + p.path, -rc);
  }
  return {};
}

namespace {

Result<void> writeIdMap(pid_t pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  std::string text;
  for (auto& m : maps)
    text +=
        std::to_string(m.containerId) + " " + std::to_string(m.hostId) + " " + std::to_string(m.size) + "\n";
  return writeFile("/proc/" + std::to_string(pid) + "/" + file, text);
}

Result<void> sendMsg(int fd, Sync type, const std::string& payload) {
  static SyncMsg msg;
  msg.type = type;
  msg.err = 0;
  if (payload.size() + 1 > sizeof msg.text)
    return fail("container state is too large for the init handshake");
  std::memcpy(msg.text, payload.c_str(), payload.size() + 1);
  if (::send(fd, &msg, offsetof(SyncMsg, text) + payload.size() + 1, MSG_NOSIGNAL) < 0)
    return sysFail("talking to the container init");
  return {};
}

// Receives one message; returns false at EOF.
Result<bool> recvMsg(int fd, SyncMsg& msg, int flags = 0) {
  for (;;) {
    ssize_t n = ::recv(fd, &msg, sizeof msg, flags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("reading from the container init");
    if (n == 0) return false;
    if (static_cast<size_t>(n) < offsetof(SyncMsg, text))
      return fail("short message from the container init");
    msg.text[sizeof msg.text - 1] = 0;
    if (static_cast<size_t>(n) == offsetof(SyncMsg, text)) msg.text[0] = 0;
    return true;
  }
}

Error childError(const SyncMsg& msg) {
  ErrorCategory cat = ErrorCategory::Internal;
  if (msg.err == ENOENT) cat = ErrorCategory::NotFound;
  if (msg.err == EPERM || msg.err == EACCES) cat = ErrorCategory::PermissionDenied;
  return Error(cat, msg.text, msg.err);
}

void reap(pid_t pid) {
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

// Forks the joiner (runJoiner), waits for it, and returns the pid of the child it cloned.
Result<pid_t> cloneThroughJoiner(SpawnRequest& req, int parentFd, bool& bornInCgroup) {
  pid_t joiner = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (joiner == 0) runJoiner(*req.plan, req.pidNsFd, req.cloneFlags, req.cgroupDirFd);
  if (joiner < 0) return sysFail("clone");
  // It exits right after its message, so once it is reaped the message (if any) is queued.
  reap(joiner);
  static SyncMsg msg;
  auto got = recvMsg(parentFd, msg, MSG_DONTWAIT);
  if (!got || !*got) return fail("the runtime's namespace joiner exited before it started the process");
  if (msg.type == Sync::Error) return std::unexpected(childError(msg));
  if (msg.type != Sync::Pid || msg.err <= 0) return fail("unexpected message from the namespace joiner");
  bornInCgroup = msg.text[0] == '1';
  return static_cast<pid_t>(msg.err);
}

}  // namespace

Result<pid_t> spawn(SpawnRequest& req) {
  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return sysFail("socketpair");
  UniqueFd parentEnd(sp[0]), childEnd(sp[1]);
  req.plan->syncFd = childEnd.get();
  req.plan->parentSyncFd = parentEnd.get();

  pid_t pid = -1;
  bool bornInCgroup = false;
  int cloneErr = 0;
  if (req.pidNsFd >= 0) {
    // Born into an existing pid namespace, the child is seen there at once: a joiner enters the
    // container's namespaces (mount included) and becomes non-dumpable before it clones it.
    TRY(pid, cloneThroughJoiner(req, parentEnd.get(), bornInCgroup));
  } else {
    if (req.cgroupDirFd >= 0) {
      struct clone_args args {};
      args.flags = static_cast<uint64_t>(req.cloneFlags) | CLONE_INTO_CGROUP;
      args.exit_signal = SIGCHLD;
      args.cgroup = static_cast<uint64_t>(req.cgroupDirFd);
      pid = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
      if (pid == 0) runInit(*req.plan);
      bornInCgroup = pid > 0;
    }
    if (pid < 0) {
      pid = static_cast<pid_t>(::syscall(SYS_clone, req.cloneFlags | SIGCHLD, 0, 0, 0, 0));
      if (pid == 0) runInit(*req.plan);
    }
    cloneErr = errno;
    if (pid < 0) return sysFail("clone", cloneErr);
  }
  childEnd.reset();

  auto killChild = [&] {
    ::kill(pid, SIGKILL);
    reap(pid);
  };
  auto failed = [&](Error e) -> Result<pid_t> {
    killChild();
    return std::unexpected(std::move(e));
  };

  if (!req.uidMappings.empty()) {
    if (auto r = writeIdMap(pid, "uid_map", req.uidMappings); !r)
      return failed(r.error().context("writing uid_map"));
  }
  if (!req.gidMappings.empty()) {
    if (auto r = writeIdMap(pid, "gid_map", req.gidMappings); !r)
      return failed(r.error().context("writing gid_map"));
  }
  std::string state = req.stateFor ? req.stateFor(pid) : std::string();
  log::phase("spawn: sending Go");
  if (auto r = sendMsg(parentEnd.get(), Sync::Go, state); !r) return failed(r.error());
  // The child sets up its mounts while we move it into its cgroups and set oom_score_adj; it waits for
  // Placed before it unshares its cgroup namespace and before it can run anything of the user's.
  if (req.prepareCgroup) {
    if (auto r = req.prepareCgroup(); !r) return failed(r.error());
    log::phase("spawn: cgroup made and limited");
  }
  if (req.cgroup && !bornInCgroup && !req.inCallersCgroup) {
    if (auto r = req.cgroup->addProcess(pid); !r) return failed(r.error());
  }
  if (req.oomScoreAdj) {
    auto r = writeFile("/proc/" + std::to_string(pid) + "/oom_score_adj", std::to_string(*req.oomScoreAdj));
    if (!r) return failed(r.error().context("setting oom_score_adj"));
  }
  log::phase("spawn: child placed");
  if (auto r = sendMsg(parentEnd.get(), Sync::Placed, ""); !r) return failed(r.error());
  if (req.whilePreparing) {
    if (auto r = req.whilePreparing(pid); !r) return failed(r.error());
    log::phase("spawn: state saved");
  }

  static SyncMsg msg;
  for (;;) {
    auto got = recvMsg(parentEnd.get(), msg);
    if (!got) return failed(got.error());
    if (!*got) return failed(Error(ErrorCategory::Internal, "container init exited before it was ready"));
    if (msg.type == Sync::Error) return failed(childError(msg));
    if (msg.type == Sync::Hooks) {
      if (req.runtimeHooks) {
        if (auto r = req.runtimeHooks(pid); !r) return failed(r.error());
      }
      if (auto r = sendMsg(parentEnd.get(), Sync::HooksDone, ""); !r) return failed(r.error());
      continue;
    }
    if (msg.type == Sync::Ready) break;
    return failed(Error(ErrorCategory::Internal, "unexpected message from the container init"));
  }
  if (req.waitForExec) {
    // The sync socket is close-on-exec: EOF means execve succeeded, an Error message that it did not.
    auto got = recvMsg(parentEnd.get(), msg);
    if (!got) return failed(got.error());
    if (*got && msg.type == Sync::Error) {
      Error e = childError(msg);
      reap(pid);
      return std::unexpected(e);
    }
  }
  return pid;
}

}  // namespace berth::runtime
