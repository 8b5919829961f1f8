#include "runtime/container.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <map>

#include "base/clock.h"
#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "runtime/spawn.h"
#include "sys/cgroup.h"
#include "sys/ns.h"
#include "sys/tty.h"

namespace berth::runtime {
namespace {

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

// Devices every container gets besides linux.resources.devices (runc's AllowedDevices).
std::vector<oci::DeviceRule> defaultDeviceRules() {
  auto c = [](int64_t maj, int64_t min, const char* acc) {
    return oci::DeviceRule{true, 'c', maj, min, acc};
  };
  return {
      c(-1, -1, "m"), {true, 'b', -1, -1, "m"}, c(1, 3, "rwm"),    c(1, 5, "rwm"),
      c(1, 7, "rwm"), c(1, 8, "rwm"),           c(1, 9, "rwm"),    c(5, 0, "rwm"),
      c(5, 1, "rwm"), c(5, 2, "rwm"),           c(136, -1, "rwm"),
  };
}

std::string cgroupPathFor(const oci::Config& c, const std::string& id) {
  return c.linux.cgroupsPath.empty() ? "/" + id : c.linux.cgroupsPath;
}

// The v1 hierarchies as the container sees them under /sys/fs/cgroup.
std::vector<CgroupMountPlan> cgroupMounts(const sys::cgroup::Layout& l, const std::string& path) {
  std::vector<CgroupMountPlan> out;
  std::map<std::string, std::vector<std::string>> byMount;
  std::vector<std::string> order;
  for (auto& c : l.v1) {
    if (!byMount.count(c.mountPoint)) order.push_back(c.mountPoint);
    byMount[c.mountPoint].push_back(c.controller);
  }
  for (auto& mp : order) {
    CgroupMountPlan p;
    p.name = mp.substr(mp.rfind('/') + 1);
    bool named = false;
    for (auto& c : byMount[mp]) {
      if (!p.options.empty()) p.options += ",";
      if (startsWith(c, "name=")) named = true;
      p.options += c;
    }
    if (named)
      p.options = "none," + p.options;
    else
      p.hostDir = mp + path;
    out.push_back(std::move(p));
  }
  return out;
}

Result<bool> pidAlive(const State& s) {
  bool zombie = false;
  uint64_t start = processStartTime(s.pid, &zombie);
  return start != 0 && !zombie && (!s.pidStartTime || start == s.pidStartTime);
}

Result<void> signalInit(const State& s, int sig) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, s.pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return fail(ErrorCategory::Conflict, "container not running");
    return sysFail("pidfd_open");
  }
  // The pidfd pins the process: re-check it is still ours before signalling.
  if (processStartTime(s.pid) != s.pidStartTime)
    return fail(ErrorCategory::Conflict, "container not running");
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) < 0) {
    if (errno == ESRCH) return fail(ErrorCategory::Conflict, "container not running");
    return sysFail("sending signal " + std::to_string(sig));
  }
  return {};
}

void waitGone(const State& s, int ms) {
  for (int i = 0; i < ms; ++i) {
    auto alive = pidAlive(s);
    if (!alive || !*alive) return;
    // Our own child (run, or a test harness) must be reaped by us.
    int st;
    ::waitpid(s.pid, &st, WNOHANG);
    sleepNs(1000 * 1000);
  }
}

}  // namespace

Result<oci::Config> Runtime::storedConfig(const std::string& id) const {
  TRY(State s, store_.load(id));
  if (s.config.empty()) {
    auto text = readFile(store_.dir(id) + "/config.json");
    if (!text) return std::unexpected(text.error().context("reading the config of container " + id));
    s.config = std::move(*text);
  }
  return oci::parseConfig(s.config, s.bundle);
}

namespace {

// Cgroup: made and limited before the child exists, so it never runs unconstrained.
struct ContainerCgroup {
  std::string path;
  sys::cgroup::Layout layout;
  std::unique_ptr<sys::cgroup::Manager> manager;
  oci::Resources resources;  // config.json's, with the default device rules
  UniqueFd dir;              // v2: the child is born in it (clone3 CLONE_INTO_CGROUP)
  bool adopted = false;      // a staged cgroup, the caller's own, became the container's (see place)

  Result<void> open(const std::string& cgroupPath, const oci::Config& cfg) {
    path = cgroupPath;
    auto m = sys::cgroup::open(path, &layout);
    if (!m) return std::unexpected(m.error().context("config.json: linux.cgroupsPath"));
    manager = std::move(*m);
    resources = cfg.linux.resources.value_or(oci::Resources{});
    for (auto& d : defaultDeviceRules()) resources.devices.push_back(d);
    return {};
  }
  Result<void> setUp() {
    TRYV_CTX(manager->create(), "creating cgroup " + path);
    TRYV_CTX(manager->setResources(resources), "config.json: linux.resources");
    return {};
  }
  // v2: made and limited now, no migration at all. v1 and a cgroup staged by the caller under the same
  // parent: renamed to the container's, the child is born in it (see sys::cgroup::stageV1); limited before
  // the child exists, as a v2 one: the child's mknods must not meet the devices list half written (it is
  // cleared first, then allowed entry by entry). Else (v1) the spawn makes it while the child sets up.
  Result<void> place(const std::string& staged) {
    if (manager->version() == 2) {
      TRYV(setUp());
      dir.reset(::open(manager->hostDirs().front().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir) return sysFail("opening cgroup " + manager->hostDirs().front());
      return {};
    }
    if (staged.empty()) return {};
    adopted = manager->adopt(staged).has_value();  // else made and joined by the spawn, as without one
    if (adopted)
      if (auto r = manager->setResources(resources); !r) {
        // Back to its staged name: the caller, still in it, moves out and removes it (unstageV1).
        (void)sys::cgroup::makeV1(layout, staged)->adopt(manager->path());
        adopted = false;
        return std::unexpected(r.error().context("config.json: linux.resources"));
      }
    return {};
  }
};

// The bundle's config.json, with what a create needs of it checked.
Result<oci::Config> bundleConfig(const std::string& text, const std::string& bundle,
                                 const CreateOptions& opts) {
  TRY(oci::Config cfg, oci::parseConfig(text, bundle));
  if (!cfg.process) return invalid("config.json: process: is required to create a container");
  if (cfg.process->args.empty()) return invalid("config.json: process.args: must not be empty");
  if (!cfg.linux.hasNamespace(CLONE_NEWNS))
    return invalid("config.json: linux.namespaces: a mount namespace is required");
  struct stat st;
  if (::stat(cfg.rootPath.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    return invalid("config.json: root.path: " + cfg.rootPath + " is not a directory");
  if (cfg.process->terminal && opts.consoleSocket.empty() && opts.consoleSocketFd < 0)
    return invalid("process.terminal is set but no --console-socket was given");
  return cfg;
}

// Namespaces: new ones at clone (cgroup after the move into the cgroup), paths joined in the child (into
// `plan`; their fds are kept here until the child has joined them).
struct NamespacePlan {
  int cloneFlags = 0;
  std::vector<UniqueFd> fds;
  UniqueFd pidNs;
  bool newUser = false;
};
Result<NamespacePlan> planNamespaces(const oci::Config& cfg, InitPlan& plan) {
  NamespacePlan ns;
  bool joinsOther = false;
  for (auto& k : sys::ns::kinds()) {
    const oci::Namespace* n = cfg.linux.findNamespace(k.flag);
    if (!n) continue;
    if (n->path.empty()) {
      if (k.flag == CLONE_NEWCGROUP)
        plan.unshareCgroupNs = true;
      else
        ns.cloneFlags |= k.flag;
      if (k.flag == CLONE_NEWUSER) ns.newUser = true;
      continue;
    }
    UniqueFd fd(::open(n->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
      return sysFail(std::string("config.json: linux.namespaces: opening ") + k.oci + " namespace " +
                     n->path);
    if (k.flag == CLONE_NEWPID) {
      ns.pidNs = std::move(fd);
      continue;
    }
    if (k.flag != CLONE_NEWUSER) joinsOther = true;
    plan.joins.push_back({k.flag, fd.get()});
    ns.fds.push_back(std::move(fd));
  }
  if (ns.newUser && (joinsOther || ns.pidNs))
    return invalid(
        "config.json: linux.namespaces: joining a namespace by path together with a new user namespace "
        "is not supported");
  plan.newUserNs = ns.newUser;
  plan.loopbackUp = (ns.cloneFlags & CLONE_NEWNET) != 0;
  return ns;
}

}  // namespace

Result<pid_t> Runtime::create(const CreateOptions& opts) {
  log::phase("create: start");
  TRYV(validateId(opts.id));
  std::string bundle = absolute(opts.bundle.empty() ? "." : opts.bundle);
  auto text = readFile(bundle + "/config.json");
  if (!text) return std::unexpected(text.error().context("reading the bundle's config.json"));
  TRY(oci::Config cfg, bundleConfig(*text, bundle, opts));

  TRYV(store_.claim(opts.id));
  bool keepState = false;
  ContainerCgroup cgroup;
  Defer undo([&] {
    if (keepState) return;
    auto& cg = cgroup.manager;
    if (cg && cgroup.adopted)  // the caller is in it: out first, else the rmdir is EBUSY and the cgroup stays
      for (auto& d : cg->hostDirs())
        (void)writeFile(d.substr(0, d.rfind('/')) + "/cgroup.procs", std::to_string(::getpid()));
    if (cg) (void)cg->destroy();
    (void)store_.remove(opts.id);
  });

  InitPlan plan;
  plan.preserveFds = opts.preserveFds;
  plan.noPivot = opts.noPivot;
  plan.newKeyring = !opts.noNewKeyring;
  plan.seccompCacheDir = store_.seccompCacheDir();
  UniqueFd console;
  TRYV(planProcess(plan, cfg, *cfg.process, opts.consoleSocket, opts.consoleSocketFd, console));

  TRY(NamespacePlan ns, planNamespaces(cfg, plan));
  State s;
  s.id = opts.id;
  s.bundle = bundle;
  s.rootfs = cfg.rootPath;
  s.created = log::nowRfc3339();
  s.annotations = cfg.annotations;
  s.config = *text;
  s.hasPoststart = !cfg.hooks.poststart.empty();
  s.hasPoststop = !cfg.hooks.poststop.empty();
  s.cgroupPath = cgroupPathFor(cfg, opts.id);
  TRYV(cgroup.open(s.cgroupPath, cfg));
  s.cgroupVersion = cgroup.manager->version();
  if (const char* forced = std::getenv("BERTH_CGROUP_V2_ROOT"); forced && *forced) s.cgroupV2Root = forced;
  log::phase("create: config parsed");
  TRYV(cgroup.place(opts.stagedCgroup));
  plan.cgroupV2 = cgroup.manager->version() == 2;
  if (plan.cgroupV2) {
    plan.cgroupMounts.push_back({"", "", cgroup.manager->hostDirs().front()});
  } else {
    plan.cgroupMounts = cgroupMounts(cgroup.layout, s.cgroupPath);
  }
  plan.createContainerHooks = hookPlans(cfg.hooks.createContainer);
  plan.startContainerHooks = hookPlans(cfg.hooks.startContainer);
  plan.hasRuntimeHooks = !cfg.hooks.prestart.empty() || !cfg.hooks.createRuntime.empty();

  // The exec fifo: init blocks reading it until `start` writes one byte.
  std::string fifo = store_.fifo(opts.id);
  if (::mkfifo(fifo.c_str(), 0600) < 0) return sysFail("mkfifo " + fifo);
  UniqueFd fifoFd(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  if (!fifoFd) return sysFail("open " + fifo);
  plan.fifoFd = fifoFd.get();

  SpawnRequest req;
  req.plan = &plan;
  req.cloneFlags = ns.cloneFlags;
  req.pidNsFd = ns.pidNs ? ns.pidNs.get() : -1;
  if (ns.newUser) {
    req.uidMappings = cfg.linux.uidMappings;
    req.gidMappings = cfg.linux.gidMappings;
  }
  req.cgroup = cgroup.manager.get();
  req.cgroupDirFd = cgroup.dir ? cgroup.dir.get() : -1;
  // v1: made and limited while the child sets up its mounts; the child runs nothing of the user's before.
  req.inCallersCgroup = cgroup.adopted;
  if (!cgroup.dir && !cgroup.adopted) req.prepareCgroup = [&] { return cgroup.setUp(); };
  req.oomScoreAdj = cfg.process->oomScoreAdj;
  req.stateFor = [&](pid_t pid) {
    s.pid = pid;
    return stateJson(s, Status::Creating, false);
  };
  req.runtimeHooks = [&](pid_t) -> Result<void> {
    std::string st = stateJson(s, Status::Creating, false);
    TRYV(runHooks(cfg.hooks.prestart, st, "prestart"));
    return runHooks(cfg.hooks.createRuntime, st, "createRuntime");
  };
  log::phase("create: cloning");
  // The state file is written while the child finishes its set-up (it is removed again if that fails).
  req.whilePreparing = [&](pid_t pid) -> Result<void> {
    s.pid = pid;
    s.pidStartTime = processStartTime(pid);
    TRYV(store_.save(s));
    if (!opts.pidFile.empty()) TRYV(replaceFile(absolute(opts.pidFile), std::to_string(pid), 0644));
    return {};
  };
  TRY(pid_t pid, spawn(req));
  log::phase("create: init ready");
  keepState = true;
  return pid;
}

Result<void> Runtime::start(const std::string& id) {
  TRY(State s, store_.load(id));
  Status st = store_.status(s);
  if (st == Status::Stopped)
    return fail(ErrorCategory::Conflict, "cannot start a container that has stopped");
  if (st != Status::Created)
    return fail(ErrorCategory::Conflict, "cannot start an already running container");
  std::string fifo = store_.fifo(id);
  UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENXIO || errno == ENOENT)
      return fail(ErrorCategory::Conflict, "cannot start a container that has stopped");
    return sysFail("opening the exec fifo");
  }
  if (::write(fd.get(), "0", 1) != 1) return sysFail("writing the exec fifo");
  fd.reset();
  ::unlink(fifo.c_str());
  if (!s.hasPoststart) return {};
  auto cfg = storedConfig(id);
  if (cfg && !cfg->hooks.poststart.empty()) {
    if (auto r = runHooks(cfg->hooks.poststart, stateJson(s, Status::Running, false), "poststart"); !r)
      log::warn(r.error().message());
  }
  return {};
}

Result<ContainerInfo> Runtime::state(const std::string& id) const {
  TRY(State s, store_.load(id));
  Status st = store_.status(s);
  return ContainerInfo{std::move(s), st};
}

Result<std::vector<ContainerInfo>> Runtime::list() const {
  TRY(auto ids, store_.list());
  std::vector<ContainerInfo> out;
  for (auto& id : ids) {
    auto info = state(id);
    if (info) out.push_back(std::move(*info));
  }
  return out;
}

Result<void> Runtime::kill(const std::string& id, int sig, bool all) {
  TRY(State s, store_.load(id));
  Status st = store_.status(s);
  if (st == Status::Stopped) return fail(ErrorCategory::Conflict, "container not running");
  if (all) {
    TRY(auto cg, cgroupOf(s));
    if (cg) return cg->killAll(sig);
  }
  return signalInit(s, sig);
}

Result<void> Runtime::remove(const std::string& id, bool force) {
  auto loaded = store_.load(id);
  if (!loaded) {
    if (loaded.error().category() == ErrorCategory::NotFound && force) {
      if (validateId(id)) (void)store_.remove(id);
      return {};
    }
    return std::unexpected(loaded.error());
  }
  State s = std::move(*loaded);
  Status st = store_.status(s);
  if ((st == Status::Running || st == Status::Paused) && !force)
    return fail(ErrorCategory::Conflict,
                "cannot delete container " + id + " that is not stopped: " + statusName(st));
  TRY(auto cg, cgroupOf(s));
  if (st != Status::Stopped) {
    (void)signalInit(s, SIGKILL);
    if (cg && st == Status::Paused) (void)cg->freeze(false);
    waitGone(s, 10000);
  }
  if (cg) {
    // Processes that outlived init (no pid namespace) go too.
    auto procs = cg->processes();
    if (procs && !procs->empty()) {
      (void)cg->killAll(SIGKILL);
      for (int i = 0; i < 2000; ++i) {
        auto p = cg->processes();
        if (!p || p->empty()) break;
        sleepNs(1000 * 1000);
      }
    }
    // Keep the state when the cgroup cannot go: dropping it would leak the cgroup with nothing left to retry.
    TRYV_CTX(cg->destroy(), "deleting container " + id);
  }
  if (s.hasPoststop) {
    auto cfg = storedConfig(id);
    if (cfg && !cfg->hooks.poststop.empty()) {
      if (auto r = runHooks(cfg->hooks.poststop, stateJson(s, Status::Stopped, false), "poststop"); !r)
        log::warn(r.error().message());
    }
  }
  return store_.remove(id);
}

Result<void> Runtime::pause(const std::string& id) {
  TRY(State s, store_.load(id));
  Status st = store_.status(s);
  if (st != Status::Running && st != Status::Created)
    return fail(ErrorCategory::Conflict, "container not running");
  TRY(auto cg, cgroupOf(s));
  if (!cg) return fail(ErrorCategory::Unavailable, "container has no cgroup to freeze");
  return cg->freeze(true);
}

Result<void> Runtime::resume(const std::string& id) {
  TRY(State s, store_.load(id));
  if (store_.status(s) != Status::Paused) return fail(ErrorCategory::Conflict, "container not paused");
  TRY(auto cg, cgroupOf(s));
  return cg->freeze(false);
}

Result<std::vector<pid_t>> Runtime::processes(const std::string& id) {
  TRY(State s, store_.load(id));
  TRY(auto cg, cgroupOf(s));
  if (!cg) return std::vector<pid_t>{};
  return cg->processes();
}

Result<void> Runtime::update(const std::string& id, const oci::Resources& r) {
  TRY(State s, store_.load(id));
  if (store_.status(s) == Status::Stopped) return fail(ErrorCategory::Conflict, "container not running");
  TRY(auto cg, cgroupOf(s));
  if (!cg) return fail(ErrorCategory::Unavailable, "container has no cgroup");
  return cg->setResources(r);
}

}  // namespace berth::runtime
