// berth: the engine's command line, with docker's command names, flags, columns and exit codes.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/self_exe.h"

#include "berth.h"

int main(int argc, char** argv) {
  using namespace berth::cli;
  // `run` parents the container: the container must never reach this binary writable (CVE-2019-5736).
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') {
      if (!std::strcmp(argv[i], "--data-root") || !std::strcmp(argv[i], "-s") ||
          !std::strcmp(argv[i], "--storage-driver"))
        ++i;
      continue;
    }
    if (!std::strcmp(argv[i], "run")) berth::ensureReadOnlySelf(argv, environ);
    break;
  }
  CLI::App app{"berth: a fast container engine with docker's command line", "berth"};
  app.set_version_flag("-v,--version", std::string("berth version ") + BERTH_VERSION);
  app.require_subcommand(1);
  Globals g;
  if (const char* r = std::getenv("BERTH_DATA_ROOT"); r && *r) g.dataRoot = r;
  if (const char* d = std::getenv("BERTH_STORAGE_DRIVER"); d && *d) g.driver = d;
  app.add_option("--data-root", g.dataRoot, "root of persistent berth state")->capture_default_str();
  app.add_option("-s,--storage-driver", g.driver, "storage driver: overlay or vfs")->capture_default_str();
  std::function<int()> run;
  registerImageCommands(app, g, run);
  registerRunCommand(app, g, run);
  auto* system = app.add_subcommand("system", "Manage berth");
  system->require_subcommand(1);
  auto* df = system->add_subcommand("df", "Show berth disk usage");
  bool verbose = false;
  df->add_flag("-v,--verbose", verbose, "show detailed information on space usage");
  df->callback([&] { run = [&] { return cmdSystemDf(g, verbose); }; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }
  if (!run) return usage("no command given");
  return run();
}
