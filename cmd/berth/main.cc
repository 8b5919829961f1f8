// berth: the engine's command line, with docker's command names, flags, columns and exit codes, as a client
// of berthd (started in the background when none answers).
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "berth.h"

namespace berth::cli {

const std::vector<CommandDef>& topCommands() {
  static const std::vector<CommandDef> t = {
      {"run", "Create and run a new container from an image", addRun},
      {"create", "Create a new container", addCreate},
      {"ps", "List containers", addPs},
      {"start", "Start one or more stopped containers", addStart},
      {"stop", "Stop one or more running containers", addStop},
      {"kill", "Kill one or more running containers", addKill},
      {"restart", "Restart one or more containers", addRestart},
      {"rm", "Remove one or more containers", addRm},
      {"pause", "Pause all processes within one or more containers", addPause},
      {"unpause", "Unpause all processes within one or more containers", addUnpause},
      {"wait", "Block until one or more containers stop, then print their exit codes", addWait},
      {"rename", "Rename a container", addRename},
      {"update", "Update configuration of one or more containers", addUpdate},
      {"inspect", "Return low-level information on berth objects", addInspect},
      {"top", "Display the running processes of a container", addTop},
      {"port", "List port mappings or a specific mapping for the container", addPort},
      {"logs", "Fetch the logs of a container", addLogs},
      {"stats", "Display a live stream of container(s) resource usage statistics", addStats},
      {"events", "Get real time events from the server", addEvents},
      {"attach", "Attach local standard input, output, and error streams to a running container", addAttach},
      {"exec", "Execute a command in a running container", addExec},
      {"cp", "Copy files/folders between a container and the local filesystem", addCp},
      {"diff", "Inspect changes to files or directories on a container's filesystem", addDiff},
      {"export", "Export a container's filesystem as a tar archive", addExport},
      {"images", "List images", addImages},
      {"load", "Load an image from a tar archive or STDIN", addLoad},
      {"save", "Save one or more images to a tar archive (streamed to STDOUT by default)", addSave},
      {"import", "Import the contents from a tarball to create a filesystem image", addImport},
      {"tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", addTag},
      {"rmi", "Remove one or more images", addRmi},
      {"history", "Show the history of an image", addHistory},
      {"pull", "Download an image from a registry", addPull},
      {"info", "Display system-wide information", addInfo},
      {"version", "Show the berth version information", addVersion},
      {"completion", "Print a shell completion script (bash, zsh, fish)", addCompletion},
  };
  return t;
}

const std::vector<CommandDef>& groupCommands(const std::string& group) {
  static const std::vector<CommandDef> container = {
      {"ls", "List containers", addPs, "ps", "list"},
      {"run", "Create and run a new container from an image", addRun},
      {"create", "Create a new container", addCreate},
      {"start", "Start one or more stopped containers", addStart},
      {"stop", "Stop one or more running containers", addStop},
      {"kill", "Kill one or more running containers", addKill},
      {"restart", "Restart one or more containers", addRestart},
      {"rm", "Remove one or more containers", addRm, "remove"},
      {"pause", "Pause all processes within one or more containers", addPause},
      {"unpause", "Unpause all processes within one or more containers", addUnpause},
      {"wait", "Block until one or more containers stop, then print their exit codes", addWait},
      {"rename", "Rename a container", addRename},
      {"update", "Update configuration of one or more containers", addUpdate},
      {"inspect", "Display detailed information on one or more containers", addContainerInspect},
      {"top", "Display the running processes of a container", addTop},
      {"port", "List port mappings or a specific mapping for the container", addPort},
      {"logs", "Fetch the logs of a container", addLogs},
      {"stats", "Display a live stream of container(s) resource usage statistics", addStats},
      {"attach", "Attach local standard input, output, and error streams to a running container", addAttach},
      {"exec", "Execute a command in a running container", addExec},
      {"cp", "Copy files/folders between a container and the local filesystem", addCp},
      {"diff", "Inspect changes to files or directories on a container's filesystem", addDiff},
      {"export", "Export a container's filesystem as a tar archive", addExport},
      {"prune", "Remove all stopped containers", addContainerPrune},
  };
  static const std::vector<CommandDef> image = {
      {"ls", "List images", addImages, "list"},
      {"inspect", "Display detailed information on one or more images", addImageInspect},
      {"load", "Load an image from a tar archive or STDIN", addLoad},
      {"save", "Save one or more images to a tar archive (streamed to STDOUT by default)", addSave},
      {"import", "Import the contents from a tarball to create a filesystem image", addImport},
      {"tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", addTag},
      {"rm", "Remove one or more images", addRmi, "remove"},
      {"history", "Show the history of an image", addHistory},
      {"prune", "Remove unused images", addImagePrune},
      {"pull", "Download an image from a registry", addPull},
      {"mount", "Mount an image's root filesystem read-only (as podman)", addImageMount},
      {"unmount", "Unmount an image's root filesystem", addImageUnmount, "umount"},
  };
  static const std::vector<CommandDef> system = {
      {"df", "Show berth disk usage", addSystemDf},
      {"prune", "Remove unused data", addSystemPrune},
      {"info", "Display system-wide information", addInfo},
      {"events", "Get real time events from the server", addEvents},
  };
  static const std::vector<CommandDef> network = {
      {"create", "Create a network", addNetworkCreate},
      {"ls", "List networks", addNetworkLs, "list"},
      {"inspect", "Display detailed information on one or more networks", addNetworkInspect},
      {"rm", "Remove one or more networks", addNetworkRm, "remove"},
      {"prune", "Remove all unused networks", addNetworkPrune},
      {"connect", "Connect a container to a network", addNetworkConnect},
      {"disconnect", "Disconnect a container from a network", addNetworkDisconnect},
  };
  static const std::vector<CommandDef> volume = {
      {"create", "Create a volume", addVolumeCreate},
      {"ls", "List volumes", addVolumeLs, "list"},
      {"inspect", "Display detailed information on one or more volumes", addVolumeInspect},
      {"rm", "Remove one or more volumes", addVolumeRm, "remove"},
      {"prune", "Remove unused local volumes", addVolumePrune},
  };
  static const std::vector<CommandDef> none;
  if (group == "network") return network;
  if (group == "volume") return volume;
  if (group == "container") return container;
  if (group == "image") return image;
  if (group == "system") return system;
  return none;
}

namespace {

const char* groupHelp(const std::string& g) {
  if (g == "container") return "Manage containers";
  if (g == "image") return "Manage images";
  if (g == "network") return "Manage networks";
  if (g == "volume") return "Manage volumes";
  return "Manage berth";
}

CLI::App* addDef(CLI::App& parent, const CommandDef& d, Globals& g, Runner& run) {
  auto* c = parent.add_subcommand(d.name, d.help);
  if (d.alias) c->alias(d.alias);
  if (d.alias2) c->alias(d.alias2);
  d.add(c, g, run);
  return c;
}

// Registers the named command only (or, unknown or absent, all of them, for help and errors).
void registerCommands(CLI::App& app, Globals& g, Runner& run, const std::string& word,
                      const std::string& next) {
  for (auto& d : topCommands())
    if (word == d.name) return (void)addDef(app, d, g, run);
  for (const char* group : {"container", "image", "network", "volume", "system"}) {
    if (!word.empty() && word != group) continue;
    auto* grp = app.add_subcommand(group, groupHelp(group));
    grp->require_subcommand(1);
    bool one = false;
    for (auto& d : groupCommands(group))
      if (word == group &&
          (next == d.name || (d.alias && next == d.alias) || (d.alias2 && next == d.alias2))) {
        addDef(*grp, d, g, run);
        one = true;
      }
    if (!one)
      for (auto& d : groupCommands(group)) addDef(*grp, d, g, run);
    if (!word.empty()) return;
  }
  for (auto& d : topCommands()) addDef(app, d, g, run);
}

}  // namespace

const std::set<std::string>* g_longFlagsUsed = nullptr;

bool flagWanted(std::string_view names) {
  if (!g_longFlagsUsed) return true;
  for (size_t pos = 0; pos <= names.size();) {
    size_t comma = names.find(',', pos);
    std::string_view n = names.substr(pos, comma == std::string_view::npos ? names.npos : comma - pos);
    n = n.substr(0, n.find('{'));           // "--sig-proxy{true}": a default value
    if (!n.starts_with("--")) return true;  // a short name: clusters such as -dit need them all
    if (g_longFlagsUsed->count(std::string(n))) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

}  // namespace berth::cli

int main(int argc, char** argv) {
  using namespace berth::cli;
  g_argv = argv;
  CLI::App app{"berth: a fast container engine with docker's command line", "berth"};
  app.set_version_flag("-v,--version", std::string("berth version ") + BERTH_VERSION);
  app.require_subcommand(1);
  Globals g;
  if (const char* h = std::getenv("BERTH_HOST"); h && *h) g.host = h;
  if (const char* r = std::getenv("BERTH_DATA_ROOT"); r && *r) g.dataRoot = r;
  if (const char* d = std::getenv("BERTH_STORAGE_DRIVER"); d && *d) g.driver = d;
  app.add_option("-H,--host", g.host, "daemon socket to connect to (unix:///path; env BERTH_HOST)");
  app.add_option("--data-root", g.dataRoot,
                 "data root of the berthd to talk to (and to start when none answers): its socket is "
                 "<data-root>/run/berth.sock unless -H says otherwise");
  app.add_option("-s,--storage-driver", g.driver,
                 "storage driver of a berthd that berth starts: overlay or vfs");
  // The command word: the first argument that is not a global flag or its value.
  std::string word, next;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-H" || a == "--host" || a == "--data-root" || a == "-s" || a == "--storage-driver") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    word = a;
    if (i + 1 < argc) next = argv[i + 1];
    break;
  }
  // run and create register only the long flags on the line (see g_longFlagsUsed).
  std::set<std::string> longFlags;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help") help = true;  // (-h is --hostname for run and create)
    if (a.starts_with("--")) longFlags.emplace(a.substr(0, a.find('=')));
  }
  if (!help &&
      (word == "run" || word == "create" || (word == "container" && (next == "run" || next == "create"))))
    g_longFlagsUsed = &longFlags;
  Runner run;
  registerCommands(app, g, run, word, next);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage(e.what(), word == "run" || word == "create" ? 125 : 1);
  }
  if (!run) return usage("no command given", 1);
  int code = run();
  // Nothing left to do but free memory the exit frees anyway (the flags, CLI11's tables, the connections'
  // buffers): output flushed, out at once.
  std::fflush(nullptr);
  ::_exit(code);
}
