// berth-shim's command line (berthd writes it; a standby shim reads the same words from its socket).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::shim {

struct Args {
  std::string id, bundle, runtimeRoot, socket, exitFile, logPath;
  int64_t logMaxSize = 20 << 20;
  int logMaxFiles = 5;
  bool tty = false, stdinOpen = false, stdinOnce = false;
  int readyFd = -1;
  int startAttaches = -1;  // --start N: started once created; its output waits for N attaches (at most 1 s)
};

// Exits with status 2 and the usage on stderr for a command line that is not berth-shim's.
Args parseArgs(int argc, char** argv);

// --standby: started ahead of need by berthd (engine::startStandbyShim), with a socket as fd 3; it gets out
// of berthd's way as a shim does, then waits there for its arguments (NUL-separated, an empty one last) and
// reports on the same socket. EOF first (berthd gone): exits, as there is nothing to do.
std::vector<std::string> awaitAssignment();

}  // namespace berth::shim
