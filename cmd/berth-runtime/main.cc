// berth-runtime: an OCI runtime with runc's command line.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>

#include "base/log.h"
#include "base/self_exe.h"
#include "commands.h"

int main(int argc, char** argv) {
  std::string_view command = berth::cli::commandName(argc, argv);
  // Commands that start container processes run from a read-only view of this binary (CVE-2019-5736).
  if (command == "create" || command == "run" || command == "exec") berth::ensureReadOnlySelf(argv, environ);
  CLI::App app{"berth-runtime: an OCI container runtime", "berth-runtime"};
  app.set_version_flag("-v,--version", std::string("berth-runtime version ") + BERTH_VERSION +
                                           "\nspec: 1.2.0\n" + "libseccomp: 2.5.4");
  app.require_subcommand(1);
  berth::cli::Globals g;
  app.add_option("--root", g.root, "root directory for container state")->capture_default_str();
  app.add_option("--log", g.log, "log file (default: stderr)");
  app.add_option("--log-format", g.logFormat, "log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option(
      "--log-level", [](const CLI::results_t&) { return true; }, "accepted for compatibility");
  app.add_flag("--debug", g.debug, "debug logging");
  app.add_flag("--systemd-cgroup", g.systemdCgroup, "use systemd cgroups (not supported)");
  app.add_option("--rootless", g.rootless, "rootless mode: true, false or auto");
  app.add_option(
      "--criu", [](const CLI::results_t&) { return true; }, "accepted for compatibility");
  std::function<int()> run;
  berth::cli::registerCommands(app, g, run, command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "berth-runtime: %s\n", e.what());
    return 1;
  }
  berth::log::configure(
      {g.log, g.logFormat == "json", g.debug ? berth::log::Level::Debug : berth::log::Level::Warn});
  if (g.systemdCgroup)
    return berth::cli::reportError(
        "--systemd-cgroup is not supported: berth-runtime manages cgroupfs paths only");
  if (!run) return 1;
  return run();
}
