// berthd: the daemon. Docker's daemon flags (options.cc); the Engine API on a unix socket; containers live
// in their shims, so stopping or killing berthd leaves them running (a restart reconnects to them).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "engine/engine.h"
#include "options.h"
#include "server/http.h"

namespace {

using namespace berth;

int die(const std::string& msg) {
  std::fprintf(stderr, "berthd: %s\n", msg.c_str());
  return 1;
}

// Serves the API until SIGTERM, SIGINT or SIGQUIT (SIGHUP is ignored); the containers keep running.
int serve(const daemon::DaemonConfig& c) {
  const engine::EngineOptions& o = c.engine;
  // Only root traverses the data root (docker's 0710 since CVE-2021-41091); the exec root may hold the
  // API socket, so others may pass through it (0711) but every directory in it is 0700.
  if (auto r = ensureDir(o.dataRoot, 0710); !r) return die(r.error().message());
  if (auto r = ensureDir(o.runRoot, 0711); !r) return die(r.error().message());
  // One daemon per data root.
  UniqueFd lock(::open((o.dataRoot + "/berthd.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) < 0)
    return die("another berthd is already running on the data root " + o.dataRoot);
  if (auto d = c.socketPath.substr(0, c.socketPath.rfind('/')); !d.empty()) (void)mkdirAll(d, 0711);

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set, s);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto eng = engine::Engine::open(o);
  if (!eng) return die("starting the engine: " + eng.error().message());
  server::Server srv(**eng, BERTH_VERSION, server::serverOptionsFromEnv());
  if (auto r = srv.listen(c.socketPath); !r) return die(r.error().message());
  if (!c.pidFile.empty()) (void)writeFileAtomic(c.pidFile, std::to_string(::getpid()) + "\n", 0644);
  log::info("berthd " + std::string(BERTH_VERSION) + " listening on " + c.socketPath);
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
  if (!c.pidFile.empty()) ::unlink(c.pidFile.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"berthd: the berth container engine daemon (Docker Engine API)", "berthd"};
  berth::daemon::DaemonConfig c;
  berth::daemon::addFlags(app, c);
  CLI11_PARSE(app, argc, argv);
  if (auto r = berth::daemon::finish(c); !r) return die(r.error().message());
  berth::log::configure({"", false,
                         c.logLevel == "debug"  ? berth::log::Level::Debug
                         : c.logLevel == "info" ? berth::log::Level::Info
                                                : berth::log::Level::Warn});
  return serve(c);
}
