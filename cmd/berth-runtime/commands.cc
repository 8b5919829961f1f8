#include "commands.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/log.h"
#include "oci/config.h"
#include "runtime/container.h"
#include "runtime/foreground.h"
#include "sys/caps.h"
#include "sys/seccomp.h"
#include "sys/tty.h"

namespace berth::cli {

using nlohmann::ordered_json;
using runtime::Runtime;

int reportError(const std::string& msg) {
  // The --log file (JSON for containerd/podman) gets it, and stderr always does: shells and go-runc read it.
  if (log::toFile()) log::error(msg);
  std::fprintf(stderr, "berth-runtime: %s\n", msg.c_str());
  return 1;
}

namespace {

int report(const Error& e) {
  return reportError(e.message());
}

template <typename T>
bool failed(const Result<T>& r, int& code) {
  if (r) return false;
  code = report(r.error());
  return true;
}

Result<void> preserveFdsCheck(int n) {
  if (n < 0) return invalid("--preserve-fds must not be negative");
  for (int fd = 3; fd < 3 + n; ++fd)
    if (::fcntl(fd, F_GETFD) < 0) return invalid("--preserve-fds: fd " + std::to_string(fd) + " is not open");
  return {};
}

// A socketpair standing in for --console-socket when we relay the pty ourselves.
struct LocalConsole {
  UniqueFd ours, theirs;
  static Result<LocalConsole> make() {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) return sysFail("socketpair");
    return LocalConsole{UniqueFd(sp[0]), UniqueFd(sp[1])};
  }
};

struct CreateFlags {
  runtime::CreateOptions opts;
  void add(CLI::App* c) {
    c->add_option("-b,--bundle", opts.bundle, "path to the bundle (default: current directory)");
    c->add_option("--pid-file", opts.pidFile, "file to write the container's init pid to");
    c->add_option("--console-socket", opts.consoleSocket, "unix socket that receives the pty master");
    c->add_option("--preserve-fds", opts.preserveFds, "pass N extra fds (from 3) to the container");
    c->add_flag("--no-pivot", opts.noPivot, "use MS_MOVE and chroot instead of pivot_root");
    c->add_flag("--no-new-keyring", opts.noNewKeyring, "keep the caller's session keyring");
    c->add_option("id", opts.id, "container id")->required();
  }
};

}  // namespace

std::string_view commandName(int argc, char** argv) {
  static constexpr std::string_view kCommands[] = {"spec", "create", "run",   "start",   "state",
                                                   "kill", "delete", "pause", "resume",  "list",
                                                   "ps",   "update", "exec",  "features"};
  static constexpr std::string_view kTakesValue[] = {"--root",      "--log",      "--log-format",
                                                     "--log-level", "--rootless", "--criu"};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("-")) {
      for (auto v : kTakesValue)
        if (a == v) ++i;
      continue;
    }
    for (auto c : kCommands)
      if (a == c) return c;
    return {};
  }
  return {};
}

namespace {

// spec
void addSpec(CLI::App& app, Globals&, std::function<int()>& run) {
  auto* c = app.add_subcommand("spec", "write a default config.json");
  auto rootless = std::make_shared<bool>(false);
  auto bundle = std::make_shared<std::string>(".");
  c->add_flag("--rootless", *rootless, "a spec for a rootless container");
  c->add_option("-b,--bundle", *bundle, "where to write config.json");
  c->callback([=, &run] {
    run = [=] {
      std::string path = *bundle + "/config.json";
      if (pathExists(path)) return reportError("File " + path + " exists. Remove it first");
      auto r = writeFileAtomic(path, oci::defaultSpec(*rootless, ::getuid(), ::getgid()), 0644);
      if (!r) return report(r.error());
      return 0;
    };
  });
}

// create
void addCreate(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("create", "create a container");
  auto f = std::make_shared<CreateFlags>();
  f->add(c);
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      if (failed(preserveFdsCheck(f->opts.preserveFds), code)) return code;
      Runtime rt(g.root);
      auto pid = rt.create(f->opts);
      if (failed(pid, code)) return code;
      return 0;
    };
  });
}

// run
void addRun(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("run", "create and start a container");
  auto f = std::make_shared<CreateFlags>();
  auto detach = std::make_shared<bool>(false);
  auto keep = std::make_shared<bool>(false);
  f->add(c);
  c->add_flag("-d,--detach", *detach, "detach from the container's process");
  c->add_flag("--keep", *keep, "keep the container's state after it exits");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      if (failed(preserveFdsCheck(f->opts.preserveFds), code)) return code;
      Runtime rt(g.root);
      runtime::CreateOptions opts = f->opts;
      // A local console socket is always offered in the foreground; it is used only when the process
      // wants a terminal (the master arrives before create returns).
      std::optional<LocalConsole> console;
      if (!*detach && opts.consoleSocket.empty()) {
        auto lc = LocalConsole::make();
        if (failed(lc, code)) return code;
        console = std::move(*lc);
        opts.consoleSocketFd = console->theirs.get();
      }
      if (!*detach) runtime::blockForwardedSignals();
      auto pid = rt.create(opts);
      if (failed(pid, code)) return code;
      UniqueFd master;
      if (console) {
        console->theirs.reset();
        auto m = sys::tty::recvFd(console->ours.get(), /*dontWait=*/true);
        if (failed(m, code)) {
          (void)rt.remove(opts.id, true);
          return code;
        }
        master = std::move(*m);
      }
      if (auto r = rt.start(opts.id); !r) {
        (void)rt.remove(opts.id, true);
        return report(r.error());
      }
      log::phase("run: started");
      if (*detach) return 0;
      auto status = runtime::waitForeground(*pid, master.get());
      log::phase("run: container exited");
      if (!*keep) {
        if (auto r = rt.remove(opts.id, true); !r) report(r.error());
      }
      log::phase("run: deleted");
      if (failed(status, code)) return code;
      return *status;
    };
  });
}

// start
void addStart(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("start", "start a created container");
  auto id = std::make_shared<std::string>();
  c->add_option("id", *id, "container id")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      if (failed(Runtime(g.root).start(*id), code)) return code;
      return 0;
    };
  });
}

// state
void addState(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("state", "print a container's state as JSON");
  auto id = std::make_shared<std::string>();
  c->add_option("id", *id, "container id")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      auto info = Runtime(g.root).state(*id);
      if (failed(info, code)) return code;
      std::printf("%s\n", runtime::stateJson(info->state, info->status, true).c_str());
      return 0;
    };
  });
}

// kill
void addKill(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("kill", "send a signal to a container's init (default SIGTERM)");
  auto id = std::make_shared<std::string>();
  auto sig = std::make_shared<std::string>("SIGTERM");
  auto all = std::make_shared<bool>(false);
  c->add_flag("-a,--all", *all, "signal every process in the container");
  c->add_option("id", *id, "container id")->required();
  c->add_option("signal", *sig, "signal name or number");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      auto s = oci::parseSignal(*sig);
      if (failed(s, code)) return code;
      if (failed(Runtime(g.root).kill(*id, *s, *all), code)) return code;
      return 0;
    };
  });
}

// delete
void addDelete(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("delete", "delete a container's resources");
  auto id = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  c->add_flag("-f,--force", *force, "kill the container first if it is running");
  c->add_option("id", *id, "container id")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      if (failed(Runtime(g.root).remove(*id, *force), code)) return code;
      return 0;
    };
  });
}

// pause/resume
void addPauseOrResume(CLI::App& app, Globals& g, std::function<int()>& run, bool pause) {
  auto* c = app.add_subcommand(pause ? "pause" : "resume",
                               pause ? "freeze every process in a container" : "thaw a paused container");
  auto id = std::make_shared<std::string>();
  c->add_option("id", *id, "container id")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      Runtime rt(g.root);
      if (failed(pause ? rt.pause(*id) : rt.resume(*id), code)) return code;
      return 0;
    };
  });
}

// list
void addList(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("list", "list containers");
  auto format = std::make_shared<std::string>("table");
  auto quiet = std::make_shared<bool>(false);
  c->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  c->add_flag("-q,--quiet", *quiet, "print ids only");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      auto all = Runtime(g.root).list();
      if (failed(all, code)) return code;
      if (*quiet) {
        for (auto& i : *all) std::printf("%s\n", i.state.id.c_str());
        return 0;
      }
      if (*format == "json") {
        ordered_json arr = ordered_json::array();
        for (auto& i : *all) arr.push_back(ordered_json::parse(runtime::stateJson(i.state, i.status, false)));
        std::printf("%s\n", arr.dump().c_str());
        return 0;
      }
      std::printf("%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
      for (auto& i : *all) {
        int pid = i.status == runtime::Status::Stopped ? 0 : i.state.pid;
        std::printf("%-12s %-8d %-10s %-40s %-30s %s\n", i.state.id.c_str(), pid,
                    runtime::statusName(i.status), i.state.bundle.c_str(), i.state.created.c_str(),
                    i.state.owner.empty() ? "root" : i.state.owner.c_str());
      }
      return 0;
    };
  });
}

// ps
void addPs(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("ps", "list the processes in a container");
  auto id = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("table");
  auto psArgs = std::make_shared<std::vector<std::string>>();
  c->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  c->add_option("id", *id, "container id")->required();
  c->add_option("ps-args", *psArgs, "options for ps(1)");
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      auto pids = Runtime(g.root).processes(*id);
      if (failed(pids, code)) return code;
      if (*format == "json") {
        std::printf("%s\n", ordered_json(*pids).dump().c_str());
        return 0;
      }
      std::string cmd = "ps";
      for (auto& a : *psArgs) cmd += " '" + a + "'";
      if (psArgs->empty()) cmd += " -ef";
      FILE* p = ::popen(cmd.c_str(), "r");
      if (!p) return reportError("running ps");
      char line[4096];
      bool header = true;
      int pidCol = -1;
      while (std::fgets(line, sizeof line, p)) {
        auto fields = split(trim(line), ' ');
        std::vector<std::string> f;
        for (auto& x : fields)
          if (!x.empty()) f.push_back(x);
        if (header) {
          for (size_t i = 0; i < f.size(); ++i)
            if (f[i] == "PID") pidCol = static_cast<int>(i);
          std::fputs(line, stdout);
          header = false;
          continue;
        }
        if (pidCol < 0 || static_cast<size_t>(pidCol) >= f.size()) continue;
        int pid = std::atoi(f[pidCol].c_str());
        for (pid_t q : *pids)
          if (q == pid) std::fputs(line, stdout);
      }
      ::pclose(p);
      if (pidCol < 0) return reportError("ps output has no PID column");
      return 0;
    };
  });
}

// update
void addUpdate(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("update", "update a container's resource limits");
  auto id = std::make_shared<std::string>();
  auto resources = std::make_shared<std::string>();
  struct U {
    std::optional<int64_t> memory, memorySwap, memoryReservation, cpuQuota, pidsLimit;
    std::optional<uint64_t> cpuShares, cpuPeriod;
    std::optional<uint16_t> blkioWeight;
    std::optional<std::string> cpusetCpus, cpusetMems;
  };
  auto u = std::make_shared<U>();
  c->add_option("-r,--resources", *resources, "resources JSON file, or - for stdin");
  c->add_option("--memory", u->memory, "memory limit in bytes");
  c->add_option("--memory-swap", u->memorySwap, "memory+swap limit in bytes");
  c->add_option("--memory-reservation", u->memoryReservation, "memory soft limit in bytes");
  c->add_option("--cpu-shares", u->cpuShares, "CPU shares");
  c->add_option("--cpu-quota", u->cpuQuota, "CFS quota in microseconds");
  c->add_option("--cpu-period", u->cpuPeriod, "CFS period in microseconds");
  c->add_option("--cpuset-cpus", u->cpusetCpus, "CPUs to use");
  c->add_option("--cpuset-mems", u->cpusetMems, "memory nodes to use");
  c->add_option("--pids-limit", u->pidsLimit, "maximum number of processes");
  c->add_option("--blkio-weight", u->blkioWeight, "block IO weight (10-1000)");
  c->add_option("id", *id, "container id")->required();
  c->callback([=, &g, &run] {
    run = [=, &g] {
      int code = 0;
      oci::Resources r;
      if (!resources->empty()) {
        std::string text;
        if (*resources == "-") {
          text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        } else {
          auto t = readFile(*resources);
          if (failed(t, code)) return code;
          text = *t;
        }
        auto parsed = oci::parseResources(text);
        if (failed(parsed, code)) return code;
        r = *parsed;
      }
      if (u->memory) r.memory.limit = u->memory;
      if (u->memorySwap) r.memory.swap = u->memorySwap;
      if (u->memoryReservation) r.memory.reservation = u->memoryReservation;
      if (u->cpuShares) r.cpu.shares = u->cpuShares;
      if (u->cpuQuota) r.cpu.quota = u->cpuQuota;
      if (u->cpuPeriod) r.cpu.period = u->cpuPeriod;
      if (u->cpusetCpus) r.cpu.cpus = u->cpusetCpus;
      if (u->cpusetMems) r.cpu.mems = u->cpusetMems;
      if (u->pidsLimit) r.pidsLimit = u->pidsLimit;
      if (u->blkioWeight) r.blockIO.weight = u->blkioWeight;
      if (failed(Runtime(g.root).update(*id, r), code)) return code;
      return 0;
    };
  });
}

struct ExecFlags {
  std::string process, cwd, user, pidFile, consoleSocket, processLabel, apparmor;
  std::vector<std::string> env, caps, additionalGids;
  bool tty = false, detach = false, noNewPrivs = false;
  int preserveFds = 0;
};

// exec's process: its --process file, or the container's own process with the flags over it.
Result<oci::Process> execProcess(const ExecFlags& e, Runtime& rt, const std::string& id,
                                 std::vector<std::string> args) {
  if (!e.process.empty()) {
    TRY(std::string text, readFile(e.process));
    return oci::parseProcess(text);
  }
  TRY(auto cfg, rt.storedConfig(id));
  if (!cfg.process) return invalid("container has no process spec");
  oci::Process p = *cfg.process;
  p.args = std::move(args);
  p.terminal = e.tty;
  p.consoleHeight = p.consoleWidth = 0;
  for (auto& v : e.env) p.env.push_back(v);
  if (!e.cwd.empty()) p.cwd = e.cwd;
  if (!e.user.empty()) {
    auto parts = split(e.user, ':');
    auto uid = parseUint(parts[0]);
    auto gid = parts.size() > 1 ? parseUint(parts[1]) : std::optional<uint64_t>(0);
    if (parts.size() > 2 || !uid || !gid || *uid > UINT32_MAX || *gid > UINT32_MAX)
      return invalid("exec: --user must be uid[:gid] as numbers, got \"" + e.user + "\"");
    p.user.uid = static_cast<uid_t>(*uid);
    if (parts.size() > 1) p.user.gid = static_cast<gid_t>(*gid);
  }
  for (auto& g : e.additionalGids) {
    auto gid = parseUint(g);
    if (!gid || *gid > UINT32_MAX) return invalid("exec: --additional-gids: \"" + g + "\" is not a gid");
    p.user.additionalGids.push_back(static_cast<gid_t>(*gid));
  }
  if (e.noNewPrivs) p.noNewPrivileges = true;
  if (!e.caps.empty()) {
    if (!p.capabilities) p.capabilities = oci::Capabilities{};
    for (auto& name : e.caps) {
      TRY(int cap, sys::caps::fromName(name));
      uint64_t bit = 1ULL << cap;
      auto& cs = *p.capabilities;
      cs.bounding |= bit;
      cs.effective |= bit;
      cs.permitted |= bit;
      cs.inheritable |= bit;
      cs.ambient |= bit;
    }
  }
  return p;
}

// exec
void addExec(CLI::App& app, Globals& g, std::function<int()>& run) {
  auto* c = app.add_subcommand("exec", "run a process in a running container");
  auto e = std::make_shared<ExecFlags>();
  c->add_option("-p,--process", e->process, "process.json with the process to run");
  c->add_flag("-t,--tty", e->tty, "allocate a pseudo-TTY");
  c->add_option("--cwd", e->cwd, "working directory in the container");
  c->add_option("-e,--env", e->env, "environment variables (KEY=value)");
  c->add_option("-u,--user", e->user, "uid[:gid]");
  c->add_option("-g,--additional-gids", e->additionalGids, "additional gids");
  c->add_option("-c,--cap", e->caps, "capabilities to add");
  c->add_flag("-d,--detach", e->detach, "detach from the process");
  c->add_option("--pid-file", e->pidFile, "file to write the process pid to");
  c->add_option("--console-socket", e->consoleSocket, "unix socket that receives the pty master");
  c->add_flag("--no-new-privs", e->noNewPrivs, "set no_new_privs");
  c->add_option("--process-label", e->processLabel, "SELinux label (ignored: no SELinux)");
  c->add_option("--apparmor", e->apparmor, "AppArmor profile (ignored: no AppArmor)");
  c->add_option("--preserve-fds", e->preserveFds, "pass N extra fds (from 3)");
  c->prefix_command();
  c->callback([=, &g, &run] {
    auto rest = c->remaining();
    run = [=, &g] {
      int code = 0;
      if (rest.empty()) return reportError("exec: a container id is required");
      std::string id = rest[0];
      std::vector<std::string> args(rest.begin() + 1, rest.end());
      if (!args.empty() && args[0] == "--") args.erase(args.begin());
      Runtime rt(g.root);
      runtime::ExecOptions opts;
      opts.id = id;
      opts.pidFile = e->pidFile;
      opts.consoleSocket = e->consoleSocket;
      opts.preserveFds = e->preserveFds;
      auto process = execProcess(*e, rt, id, std::move(args));
      if (failed(process, code)) return code;
      opts.process = std::move(*process);
      if (opts.process.args.empty()) return reportError("exec: no command was given");
      std::optional<LocalConsole> console;
      if (!e->detach && opts.process.terminal && opts.consoleSocket.empty()) {
        auto lc = LocalConsole::make();
        if (failed(lc, code)) return code;
        console = std::move(*lc);
        opts.consoleSocketFd = console->theirs.get();
      }
      if (!e->detach) runtime::blockForwardedSignals();
      auto pid = rt.exec(opts);
      if (failed(pid, code)) return code;
      if (e->detach) return 0;
      UniqueFd master;
      if (console) {
        console->theirs.reset();
        auto m = sys::tty::recvFd(console->ours.get());
        if (failed(m, code)) return code;
        master = std::move(*m);
      }
      auto status = runtime::waitForeground(*pid, master.get());
      if (failed(status, code)) return code;
      return *status;
    };
  });
}

// features
void addFeatures(CLI::App& app, Globals&, std::function<int()>& run) {
  auto* c = app.add_subcommand("features", "print the features this runtime supports (JSON)");
  c->callback([&run] {
    run = [] {
      ordered_json mountOptions = {"async",       "atime",     "bind",       "defaults",      "dev",
                                   "diratime",    "dirsync",   "exec",       "lazytime",      "loud",
                                   "mand",        "noatime",   "nodev",      "nodiratime",    "noexec",
                                   "nolazytime",  "nomand",    "norelatime", "nostrictatime", "nosuid",
                                   "nosymfollow", "private",   "rbind",      "relatime",      "remount",
                                   "ro",          "rprivate",  "rshared",    "rslave",        "runbindable",
                                   "rw",          "shared",    "silent",     "slave",         "strictatime",
                                   "suid",        "symfollow", "sync",       "unbindable"};
      ordered_json f = {
          {"ociVersionMin", "1.0.0"},
          {"ociVersionMax", "1.2.0"},
          {"hooks",
           {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
          {"mountOptions", mountOptions},
          {"linux",
           {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "user", "uts"}},
            {"capabilities", sys::caps::allNames()},
            {"cgroup",
             {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
            {"seccomp",
             {{"enabled", true},
              {"actions", sys::seccomp::knownActions()},
              {"operators", sys::seccomp::knownOperators()},
              {"archs", sys::seccomp::knownArchitectures()},
              {"knownFlags", sys::seccomp::knownFlags()},
              {"supportedFlags", sys::seccomp::knownFlags()}}},
            {"apparmor", {{"enabled", false}}},
            {"selinux", {{"enabled", false}}},
            {"intelRdt", {{"enabled", false}}},
            {"mountExtensions", {{"idmap", {{"enabled", false}}}}}}},
          {"annotations", {{"org.opencontainers.runc.checkpoint.enabled", "false"}}},
      };
      std::printf("%s\n", f.dump(4).c_str());
      return 0;
    };
  });
}

}  // namespace

void registerCommands(CLI::App& app, Globals& g, std::function<int()>& run, std::string_view only) {
  // Registering one command instead of all of them saves most of CLI11's start-up work on the hot path.
  using Add = void (*)(CLI::App&, Globals&, std::function<int()>&);
  static constexpr std::pair<std::string_view, Add> kCommands[] = {
      {"spec", addSpec},
      {"create", addCreate},
      {"run", addRun},
      {"start", addStart},
      {"state", addState},
      {"kill", addKill},
      {"delete", addDelete},
      {"pause", [](CLI::App& a, Globals& gl, std::function<int()>& r) { addPauseOrResume(a, gl, r, true); }},
      {"resume",
       [](CLI::App& a, Globals& gl, std::function<int()>& r) { addPauseOrResume(a, gl, r, false); }},
      {"list", addList},
      {"ps", addPs},
      {"update", addUpdate},
      {"exec", addExec},
      {"features", addFeatures},
  };
  for (auto& [name, add] : kCommands)
    if (only.empty() || only == name) add(app, g, run);
}

}  // namespace berth::cli
