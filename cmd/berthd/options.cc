#include "options.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/file.h"

namespace berth::daemon {
namespace {

using nlohmann::json;

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

// daemon.json's keys that berthd reads, each of its type (an unknown key is left alone, as other engines'
// keys may be in a shared file).
Result<void> applyConfigFile(DaemonConfig& c) {
  auto text = readFile(c.configFile);
  if (!text) return invalid("reading the config file " + c.configFile + ": " + text.error().message());
  auto j = json::parse(*text, nullptr, false);
  auto bad = [&](const std::string& why) { return invalid("the config file " + c.configFile + ": " + why); };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto str = [&](const char* key, std::string& out) -> Result<void> {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_string()) return bad(std::string("\"") + key + "\" must be a string");
    out = it->get<std::string>();
    return {};
  };
  TRYV(str("data-root", c.engine.dataRoot));
  TRYV(str("exec-root", c.engine.runRoot));
  TRYV(str("log-level", c.logLevel));
  TRYV(str("storage-driver", c.engine.driver));
  TRYV(str("cgroup-parent", c.engine.cgroupParent));
  TRYV(str("bridge", c.engine.bridge));
  TRYV(str("pidfile", c.pidFile));
  if (auto it = j.find("hosts"); it != j.end()) {
    if (!it->is_array() || std::any_of(it->begin(), it->end(), [](auto& h) { return !h.is_string(); }))
      return bad("\"hosts\" must be an array of strings");
    if (it->size() > 1)
      return bad("\"hosts\": berthd listens on one socket, not " + std::to_string(it->size()));
    if (!it->empty()) c.host = (*it)[0].get<std::string>();
  }
  if (auto it = j.find("log-opts"); it != j.end()) {
    if (!it->is_object()) return bad("\"log-opts\" must be an object of strings");
    for (auto& [k, v] : it->items()) {
      if (!v.is_string()) return bad("\"log-opts\": \"" + k + "\" must be a string");
      if (k != "max-size" && k != "max-file")
        return bad("\"log-opts\": \"" + k + "\" is not supported by berthd (max-size and max-file are)");
      c.logOpts[k] = v.get<std::string>();
    }
  }
  return {};
}

}  // namespace

void addFlags(CLI::App& app, DaemonConfig& c) {
  engine::EngineOptions& o = c.engine;
  app.add_option("--data-root", o.dataRoot, "root directory of persistent state")->capture_default_str();
  app.add_option("--exec-root", o.runRoot, "root directory of run-time state")->capture_default_str();
  app.add_option("-H,--host", c.host, "daemon socket to listen on (unix:///path)")->capture_default_str();
  app.add_option("-l,--log-level", c.logLevel, "debug, info, warn, error, fatal")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "fatal"}));
  app.add_option("--config-file", c.configFile, "daemon configuration file (JSON, as docker's daemon.json)");
  app.add_option("-p,--pidfile", c.pidFile, "path to use for the daemon PID file");
  app.add_option("--storage-driver,-s", o.driver, "storage driver: overlay or vfs")->capture_default_str();
  app.add_option("--shim", o.shimPath, "path of berth-shim");
  app.add_option("--init-path", o.initPath, "path of the init for containers run with --init (berth-init)");
  app.add_option("--cgroup-parent", o.cgroupParent, "parent cgroup of containers")->capture_default_str();
  app.add_option("-b,--bridge", o.bridge, "device of the default bridge network")->capture_default_str();
  app.add_option("--netns-pool", o.netnsPool,
                 "network namespaces made ahead of container starts (berth; 0 makes one per start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  app.add_option("--shim-pool", o.shimPool,
                 "shims started ahead of container starts (berth; 0 starts one per start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  app.set_version_flag("-v,--version", std::string("berthd version ") + BERTH_VERSION);
}

Result<void> finish(DaemonConfig& c) {
  if (!c.configFile.empty()) TRYV(applyConfigFile(c));
  static const std::set<std::string> levels = {"debug", "info", "warn", "error", "fatal"};
  if (!levels.count(c.logLevel))
    return invalid("log level \"" + c.logLevel + "\": debug, info, warn, error or fatal");
  engine::EngineOptions& o = c.engine;
  if (auto r = engine::defaultLogRotation(c.logOpts, o.logMaxSize, o.logMaxFiles); !r)
    return invalid("the config file " + c.configFile + ": " + r.error().message());
  // Relative paths are the caller's: made absolute once here, as dockerd does, since the daemon hands
  // them to shims and runtimes that run elsewhere (and a config.json's root is relative to its bundle).
  for (std::string* p : {&o.dataRoot, &o.runRoot, &o.shimPath, &o.initPath})
    if (!p->empty() && (*p)[0] != '/') {
      std::error_code ec;
      auto abs = std::filesystem::absolute(*p, ec);
      if (ec) return fail("making " + *p + " an absolute path: " + ec.message());
      *p = abs.lexically_normal().string();
    }
  if (o.shimPath.empty()) o.shimPath = findHelper("berth-shim");
  if (o.initPath.empty()) o.initPath = findHelper("berth-init");
  if (!c.host.starts_with("unix://"))
    return invalid("only unix sockets are supported: -H unix:///path (got " + c.host + ")");
  c.socketPath = c.host.substr(7);
  return {};
}

}  // namespace berth::daemon
