// berth-runtime commands: each parses its flags, makes one library call and prints the result.
#pragma once

#include <string>
#include <string_view>
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

// Registers the commands on the app (only `only` when it names one); each sets `run` to its action when
// chosen.
void registerCommands(CLI::App& app, Globals& g, std::function<int()>& run, std::string_view only);
// The command named on a command line (skipping global flags and their values), or "" when none is known.
std::string_view commandName(int argc, char** argv);

// Prints an error the way runc does (stderr, and the --log file) and returns the exit code 1.
int reportError(const std::string& msg);

}  // namespace berth::cli
