// berthd: the daemon. Docker's daemon flags; the Engine API on a unix socket; containers live in their shims,
// so stopping or killing berthd leaves them running (a restart reconnects to them).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "engine/engine.h"
#include "server/http.h"

namespace {

std::string selfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

// A helper program next to berthd (installed) or in its build directory.
std::string findHelper(const std::string& name) {
  std::string dir = selfDir();
  for (auto& c : {dir + "/" + name, dir + "/../" + name + "/" + name})
    if (::access(c.c_str(), X_OK) == 0) return c;
  return name;
}

int die(const std::string& msg) {
  std::fprintf(stderr, "berthd: %s\n", msg.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace berth;
  CLI::App app{"berthd: the berth container engine daemon (Docker Engine API)", "berthd"};
  engine::EngineOptions opts;
  std::string host = "unix:///run/berth/berth.sock", logLevel = "info", configFile, pidFile;
  app.add_option("--data-root", opts.dataRoot, "root directory of persistent state")->capture_default_str();
  app.add_option("--exec-root", opts.runRoot, "root directory of run-time state")->capture_default_str();
  app.add_option("-H,--host", host, "daemon socket to listen on (unix:///path)")->capture_default_str();
  app.add_option("-l,--log-level", logLevel, "debug, info, warn, error, fatal")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "fatal"}));
  app.add_option("--config-file", configFile, "daemon configuration file (JSON, as docker's daemon.json)");
  app.add_option("-p,--pidfile", pidFile, "path to use for the daemon PID file");
  app.add_option("--storage-driver,-s", opts.driver, "storage driver: overlay or vfs")->capture_default_str();
  app.add_option("--shim", opts.shimPath, "path of berth-shim");
  app.add_option("--init-path", opts.initPath,
                 "path of the init for containers run with --init (berth-init)");
  app.add_option("--cgroup-parent", opts.cgroupParent, "parent cgroup of containers")->capture_default_str();
  app.add_option("-b,--bridge", opts.bridge, "device of the default bridge network")->capture_default_str();
  app.add_option("--netns-pool", opts.netnsPool,
                 "network namespaces made ahead of container starts (berth; 0 makes one per start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--shim-pool", opts.shimPool,
                 "shims started ahead of container starts (berth; 0 starts one per start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  app.set_version_flag("-v,--version", std::string("berthd version ") + BERTH_VERSION);
  CLI11_PARSE(app, argc, argv);

  if (!configFile.empty()) {
    auto text = readFile(configFile);
    if (!text) return die("reading the config file " + configFile + ": " + text.error().message());
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return die("the config file " + configFile + " is not a JSON object");
    auto str = [&](const char* k, std::string& out) {
      if (j.contains(k) && j[k].is_string()) out = j[k].get<std::string>();
    };
    str("data-root", opts.dataRoot);
    str("exec-root", opts.runRoot);
    str("log-level", logLevel);
    str("storage-driver", opts.driver);
    str("cgroup-parent", opts.cgroupParent);
    str("bridge", opts.bridge);
    if (j.contains("hosts") && j["hosts"].is_array() && !j["hosts"].empty())
      host = j["hosts"][0].get<std::string>();
    if (j.contains("log-opts") && j["log-opts"].is_object()) {
      auto lo = j["log-opts"];
      if (lo.contains("max-size"))
        opts.logMaxSize = std::atoll(lo["max-size"].get<std::string>().c_str()) << 20;
      if (lo.contains("max-file")) opts.logMaxFiles = std::atoi(lo["max-file"].get<std::string>().c_str());
    }
  }
  // Relative paths are the caller's: made absolute once here, as dockerd does, since the daemon hands
  // them to shims and runtimes that run elsewhere (and a config.json's root is relative to its bundle).
  for (std::string* p : {&opts.dataRoot, &opts.runRoot, &opts.shimPath, &opts.initPath})
    if (!p->empty() && (*p)[0] != '/') {
      std::error_code ec;
      auto abs = std::filesystem::absolute(*p, ec);
      if (ec) return die("making " + *p + " an absolute path: " + ec.message());
      *p = abs.lexically_normal().string();
    }
  if (opts.shimPath.empty()) opts.shimPath = findHelper("berth-shim");
  if (opts.initPath.empty()) opts.initPath = findHelper("berth-init");
  if (!host.starts_with("unix://"))
    return die("only unix sockets are supported: -H unix:///path (got " + host + ")");
  std::string sockPath = host.substr(7);
  log::configure({"", false,
                  logLevel == "debug"  ? log::Level::Debug
                  : logLevel == "info" ? log::Level::Info
                                       : log::Level::Warn});

  // Only root traverses the data root (docker's 0710 since CVE-2021-41091); the exec root may hold the
  // API socket, so others may pass through it (0711) but every directory in it is 0700.
  if (auto r = ensureDir(opts.dataRoot, 0710); !r) return die(r.error().message());
  if (auto r = ensureDir(opts.runRoot, 0711); !r) return die(r.error().message());
  // One daemon per data root.
  UniqueFd lock(::open((opts.dataRoot + "/berthd.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) < 0)
    return die("another berthd is already running on the data root " + opts.dataRoot);
  if (auto d = sockPath.substr(0, sockPath.rfind('/')); !d.empty()) (void)mkdirAll(d, 0711);

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto eng = engine::Engine::open(opts);
  if (!eng) return die("starting the engine: " + eng.error().message());
  server::Server srv(**eng, BERTH_VERSION, server::serverOptionsFromEnv());
  if (auto r = srv.listen(sockPath); !r) return die(r.error().message());
  if (!pidFile.empty()) (void)writeFileAtomic(pidFile, std::to_string(::getpid()) + "\n", 0644);
  log::info("berthd " + std::string(BERTH_VERSION) + " listening on " + sockPath);
  std::thread signals([&] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
    }
    log::info("berthd: shutting down (containers keep running)");
    srv.stop();
  });
  srv.run();
  (*eng)->shutdown();
  signals.join();
  if (!pidFile.empty()) ::unlink(pidFile.c_str());
  return 0;
}
