// berth-shim's command line.
#include "shim/args.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace berth::shim {

namespace {

[[noreturn]] void usageExit(const char* msg) {
  std::fprintf(stderr, "berth-shim: %s\n", msg);
  std::fprintf(stderr,
               "usage: berth-shim --id ID --bundle DIR --runtime-root DIR --socket PATH --exit-file PATH "
               "--log PATH [--log-max-size BYTES] [--log-max-file N] [--tty] [--stdin] [--stdin-once] "
               "[--ready FD] [--start ATTACHES]\n");
  std::exit(2);
}

}  // namespace

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usageExit(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--id")
      a.id = val();
    else if (k == "--bundle")
      a.bundle = val();
    else if (k == "--runtime-root")
      a.runtimeRoot = val();
    else if (k == "--socket")
      a.socket = val();
    else if (k == "--exit-file")
      a.exitFile = val();
    else if (k == "--log")
      a.logPath = val();
    else if (k == "--log-max-size")
      a.logMaxSize = std::atoll(val().c_str());
    else if (k == "--log-max-file")
      a.logMaxFiles = std::atoi(val().c_str());
    else if (k == "--ready")
      a.readyFd = std::atoi(val().c_str());
    else if (k == "--start")
      a.startAttaches = std::clamp(std::atoi(val().c_str()), 0, 64);
    else if (k == "--tty")
      a.tty = true;
    else if (k == "--stdin")
      a.stdinOpen = true;
    else if (k == "--stdin-once")
      a.stdinOnce = true;
    else
      usageExit(("unknown argument " + k).c_str());
  }
  if (a.id.empty() || a.bundle.empty() || a.runtimeRoot.empty() || a.socket.empty() || a.exitFile.empty() ||
      a.logPath.empty())
    usageExit("--id, --bundle, --runtime-root, --socket, --exit-file and --log are required");
  return a;
}

std::vector<std::string> awaitAssignment() {
  std::vector<std::string> args;
  std::string cur;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(3, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::exit(0);
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\0') {
        cur += buf[i];
        continue;
      }
      if (cur.empty()) return args;
      args.push_back(std::move(cur));
      cur.clear();
    }
  }
}

}  // namespace berth::shim
