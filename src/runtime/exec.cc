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
  plan.seccompCacheDir = store_.seccompCacheDir();
  plan.preserveFds = opts.preserveFds;
  UniqueFd console;
  TRYV(planProcess(plan, cfg, opts.process, opts.consoleSocket, opts.consoleSocketFd, console));
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

  TRY(auto cg, cgroupOf(s));

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
    TRYV(replaceFile(pf, std::to_string(pid), 0644));
  }
  return pid;
}

}  // namespace berth::runtime
