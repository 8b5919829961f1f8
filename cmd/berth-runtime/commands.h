// berth-runtime commands: each parses its flags, makes one library call and prints the result.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace berth::cli {

struct Globals {
  std::string root = "/run/berth-runtime";
  std::string log;
  std::string logFormat = "text";
  bool debug = false;
  bool systemdCgroup = false;
  std::string rootless = "auto";
};

// Registers every command on the app; each sets `run` to its action when chosen.
void registerCommands(CLI::App& app, Globals& g, std::function<int()>& run);

// Prints an error the way runc does (stderr, and the --log file) and returns the exit code 1.
int reportError(const std::string& msg);

}  // namespace berth::cli
