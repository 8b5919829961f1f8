// exec: a new process inside a running container's namespaces and cgroup.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/fd.h"
#include "base/file.h"
#include "runtime/container.h"
#include "runtime/spawn.h"
#include "sys/ns.h"
#include "sys/tty.h"

namespace berth::runtime {

namespace {
bool sameNamespace(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (::stat(a.c_str(), &sa) < 0 || ::stat(b.c_str(), &sb) < 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
}  // namespace

Result<pid_t> Runtime::exec(const ExecOptions& opts) {
  TRY(State s, store_.load(opts.id));
  Status st = store_.status(s);
  if (st == Status::Stopped) return fail(ErrorCategory::Conflict, "cannot exec in a stopped container");
  if (st == Status::Paused) return fail(ErrorCategory::Conflict, "cannot exec in a paused container");
  TRY(oci::Config cfg, storedConfig(opts.id));
  if (opts.process.args.empty()) return invalid("exec: no command was given");
  if (opts.process.terminal && opts.consoleSocket.empty() && opts.consoleSocketFd < 0)
    return invalid("exec: a terminal was requested but no --console-socket was given");

  InitPlan plan;
  plan.exec = true;
  plan.config = &cfg;
  plan.process = &opts.process;
  plan.preserveFds = opts.preserveFds;
  if (cfg.linux.seccomp) {
    auto prog = sys::seccomp::compile(*cfg.linux.seccomp);
    if (!prog) return std::unexpected(prog.error().context("config.json: linux.seccomp"));
    plan.seccomp = std::move(*prog);
    plan.hasSeccomp = true;
  }
  if (opts.process.capabilities) {
    auto& c = *opts.process.capabilities;
    plan.caps = {c.bounding, c.effective, c.inheritable, c.permitted, c.ambient};
    plan.hasCaps = true;
  }
  plan.argv = cStrings(opts.process.args);
  plan.envp = cStrings(opts.process.env);
  for (auto& e : opts.process.env)
    if (startsWith(e, "PATH=")) plan.pathEnv = e.c_str() + 5;
  plan.newUserNs = cfg.linux.hasNamespace(CLONE_NEWUSER);

  // Join the init's namespaces through /proc/<pid>/ns: user first, mount last.
  std::vector<UniqueFd> nsFds;
  UniqueFd pidNs;
  std::string base = "/proc/" + std::to_string(s.pid) + "/ns/";
  for (auto& k : sys::ns::kinds()) {
    if (!cfg.linux.hasNamespace(k.flag)) continue;
    std::string path = base + k.proc;
    if (sameNamespace(path, std::string("/proc/self/ns/") + k.proc)) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sysFail("opening " + path);
    if (k.flag == CLONE_NEWPID) {
      pidNs = std::move(fd);
      continue;
    }
    plan.joins.push_back({k.flag, fd.get()});
    nsFds.push_back(std::move(fd));
  }
  // The init may have died while we looked: refuse rather than join a recycled pid's namespaces.
  if (processStartTime(s.pid) != s.pidStartTime)
    return fail(ErrorCategory::Conflict, "container not running");

  std::unique_ptr<sys::cgroup::Manager> cg;
  if (!s.cgroupPath.empty()) {
    if (!s.cgroupV2Root.empty())
      cg = sys::cgroup::makeV2(s.cgroupV2Root, s.cgroupPath);
    else {
      TRY(cg, sys::cgroup::open(s.cgroupPath));
    }
  }

  UniqueFd console;
  if (opts.process.terminal) {
    if (opts.consoleSocketFd >= 0) {
      plan.consoleSockFd = opts.consoleSocketFd;
    } else {
      TRY(console, sys::tty::connectUnix(opts.consoleSocket));
      plan.consoleSockFd = console.get();
    }
  }

  SpawnRequest req;
  req.plan = &plan;
  req.pidNsFd = pidNs ? pidNs.get() : -1;
  req.cgroup = cg.get();
  req.oomScoreAdj = opts.process.oomScoreAdj;
  req.waitForExec = true;
  TRY(pid_t pid, spawn(req));
  if (!opts.pidFile.empty()) {
    char buf[PATH_MAX];
    std::string pf = ::realpath(opts.pidFile.c_str(), buf) ? buf : opts.pidFile;
    TRYV(writeFileAtomic(pf, std::to_string(pid), 0644));
  }
  return pid;
}

}  // namespace berth::runtime
