// berthd's configuration: docker's daemon flags and its daemon.json (--config-file), decoded into one typed
// struct with the paths made absolute and the helpers found.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::daemon {

struct DaemonConfig {
  engine::EngineOptions engine;
  std::string host = "unix:///run/berth/berth.sock";  // -H; only unix sockets
  std::string socketPath;                             // the host's path
  std::string logLevel = "info";
  std::string configFile, pidFile;
  std::map<std::string, std::string> logOpts;  // daemon.json's log-opts: json-file's max-size, max-file
};

// Registers the flags, writing into `c`.
void addFlags(CLI::App& app, DaemonConfig& c);
// After the flags: daemon.json over them (as dockerd, the file's keys win), then checks and absolute paths.
// An InvalidArgument error names the file, key and what was wrong.
Result<void> finish(DaemonConfig& c);

}  // namespace berth::daemon
