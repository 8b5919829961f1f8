// berth: docker's command line over the Engine API of berthd (src/client). Each command file registers its
// commands; main.cc registers only the group named on the command line (CLI11 set-up is start-up time).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base/error.h"
#include "client/api.h"

namespace berth::cli {

using nlohmann::json;

struct Globals {
  std::string host;      // -H/--host, BERTH_HOST
  std::string dataRoot;  // --data-root, BERTH_DATA_ROOT: for a daemon that berth starts
  std::string driver;    // -s/--storage-driver, BERTH_STORAGE_DRIVER: likewise
  std::unique_ptr<client::Api> api_;

  // The daemon's API; starts berthd in the background (and says so, once) when nothing answers.
  Result<client::Api*> api();
  std::string socketPath() const;
};

using Runner = std::function<int()>;
// Configures one (sub)command: its flags, and a callback that stores what to run in `run`.
using AddFn = void (*)(CLI::App* c, Globals& g, Runner& run);

// The long flags on the command line, when the command is run or create without --help: those commands
// then register only these of their ~80 long-only flags (CLI11 checks each new flag against all earlier
// ones, which made registering them 70% of a `berth run`'s instructions). Null: register every flag.
extern const std::set<std::string>* g_longFlagsUsed;
// The command line as given (main's argv), and the dynamically linked twin of a static berth that runs it
// for the commands that need a shared library (cp: libarchive); returns only on failure (125).
extern char** g_argv;
int execTwin(const char* name);
// Whether a flag named `names` ("-d,--detach", "--rm", "--sig-proxy{true}") is to be registered.
bool flagWanted(std::string_view names);
struct CommandDef {
  const char* name;
  const char* help;
  AddFn add;
  const char* alias = nullptr;
  const char* alias2 = nullptr;
};

// run_command.cc
void addRun(CLI::App*, Globals&, Runner&);
void addCreate(CLI::App*, Globals&, Runner&);
// container_commands.cc
void addPs(CLI::App*, Globals&, Runner&);
void addStart(CLI::App*, Globals&, Runner&);
void addStop(CLI::App*, Globals&, Runner&);
void addKill(CLI::App*, Globals&, Runner&);
void addRestart(CLI::App*, Globals&, Runner&);
void addRm(CLI::App*, Globals&, Runner&);
void addPause(CLI::App*, Globals&, Runner&);
void addUnpause(CLI::App*, Globals&, Runner&);
void addWait(CLI::App*, Globals&, Runner&);
void addRename(CLI::App*, Globals&, Runner&);
void addUpdate(CLI::App*, Globals&, Runner&);
void addInspect(CLI::App*, Globals&, Runner&);
void addContainerInspect(CLI::App*, Globals&, Runner&);
void addTop(CLI::App*, Globals&, Runner&);
void addContainerPrune(CLI::App*, Globals&, Runner&);
// observe_commands.cc
void addLogs(CLI::App*, Globals&, Runner&);
void addStats(CLI::App*, Globals&, Runner&);
void addEvents(CLI::App*, Globals&, Runner&);
void addAttach(CLI::App*, Globals&, Runner&);
void addExec(CLI::App*, Globals&, Runner&);
void addCp(CLI::App*, Globals&, Runner&);
void addDiff(CLI::App*, Globals&, Runner&);
void addExport(CLI::App*, Globals&, Runner&);
// network_commands.cc
void addNetworkCreate(CLI::App*, Globals&, Runner&);
void addNetworkLs(CLI::App*, Globals&, Runner&);
void addNetworkInspect(CLI::App*, Globals&, Runner&);
void addNetworkRm(CLI::App*, Globals&, Runner&);
void addNetworkPrune(CLI::App*, Globals&, Runner&);
void addNetworkConnect(CLI::App*, Globals&, Runner&);
void addNetworkDisconnect(CLI::App*, Globals&, Runner&);
void addPort(CLI::App*, Globals&, Runner&);
// volume_commands.cc
void addVolumeCreate(CLI::App*, Globals&, Runner&);
void addVolumeLs(CLI::App*, Globals&, Runner&);
void addVolumeInspect(CLI::App*, Globals&, Runner&);
void addVolumeRm(CLI::App*, Globals&, Runner&);
void addVolumePrune(CLI::App*, Globals&, Runner&);
// image_commands.cc
void addImages(CLI::App*, Globals&, Runner&);
void addImageInspect(CLI::App*, Globals&, Runner&);
void addLoad(CLI::App*, Globals&, Runner&);
void addSave(CLI::App*, Globals&, Runner&);
void addImport(CLI::App*, Globals&, Runner&);
void addTag(CLI::App*, Globals&, Runner&);
void addRmi(CLI::App*, Globals&, Runner&);
void addHistory(CLI::App*, Globals&, Runner&);
void addImagePrune(CLI::App*, Globals&, Runner&);
void addImageMount(CLI::App*, Globals&, Runner&);
void addImageUnmount(CLI::App*, Globals&, Runner&);
void addPull(CLI::App*, Globals&, Runner&);
// system_commands.cc
void addInfo(CLI::App*, Globals&, Runner&);
void addVersion(CLI::App*, Globals&, Runner&);
void addSystemDf(CLI::App*, Globals&, Runner&);
void addSystemPrune(CLI::App*, Globals&, Runner&);
void addCompletion(CLI::App*, Globals&, Runner&);

// The command tables (main.cc): top level, and the `container`, `image`, `network`, `volume` and
// `system` groups.
const std::vector<CommandDef>& topCommands();
const std::vector<CommandDef>& groupCommands(const std::string& group);

// docker's wording and exit status for a daemon's error: "Error response from daemon: …", 1.
inline int fail(const Error& e, int code = 1) {
  if (e.message().starts_with("Cannot connect") || e.message().starts_with("permission denied while trying"))
    std::fprintf(stderr, "%s\n", e.message().c_str());
  else
    std::fprintf(stderr, "Error response from daemon: %s\n", e.message().c_str());
  return code;
}
// A client-side error (bad file, bad value): "berth: …", 1.
inline int failLocal(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "berth: %s\n", msg.c_str());
  return code;
}
// Bad flags or arguments: 125 for run/create, as docker; the caller passes 1 for the others.
inline int usage(const std::string& msg, int code = 125) {
  std::fprintf(stderr, "berth: %s\nSee 'berth --help'.\n", msg.c_str());
  return code;
}

// A command's option state lives as long as the App; `state<T>()` makes one.
template <typename T>
std::shared_ptr<T> state() {
  return std::make_shared<T>();
}

// docker's KEY=VALUE list → {"KEY": "VALUE"} ("KEY" alone → "").
json labelMap(const std::vector<std::string>& kv);
// "a=b" filters → docker's filters JSON, URL-encoded for a query.
std::string filtersQuery(const std::vector<std::string>& filters);
// docker's RAMInBytes: 512, 64m, 1.5g; nullopt when malformed.
std::optional<int64_t> parseBytes(std::string s);
// "10s", "1m30s", "500ms" (Go durations) → nanoseconds.
std::optional<int64_t> parseDuration(const std::string& s);
// A yes/no question on the terminal (prune without -f); false when stdin is not a terminal.
bool confirm(const std::string& question);
// Prints a formatted result or the template's error; returns the exit status.
int printOut(const Result<std::string>& s);
// `inspect` of named objects, each fetched by `fetch` (the object's JSON): a JSON array of them, or `format`
// over each; a name that fails is reported ("Error: …") and the others still printed (exit 1).
int inspectEach(Globals& g, const std::vector<std::string>& names, const std::string& format,
                const std::function<Result<std::string>(client::Api&, const std::string&)>& fetch);
// The fetch of an object at an API path: `inspectEach(g, names, format, atPath([](auto& n) {…}))`.
std::function<Result<std::string>(client::Api&, const std::string&)> atPath(
    std::function<std::string(const std::string&)> pathOf);
// `image|network|volume inspect [-f FORMAT] WHAT...`: each object from the API path `pathOf` gives.
void addInspectCommand(CLI::App* c, Globals& g, Runner& run, const std::string& what,
                       std::function<std::string(const std::string&)> pathOf);
// A prune's answer: its list `key` (names or ids) under docker's "Deleted <title>:" heading, when not empty;
// returns its SpaceReclaimed.
int64_t printDeleted(const json& answer, const char* key, const char* title);

// Attach/exec streams: relays stdin to the connection and its output to stdout/stderr (demultiplexed
// without a TTY; the terminal in raw mode with one). Returns when the output ends.
struct StreamOptions {
  bool tty = false;
  bool stdinOpen = false;                          // forward our stdin
  std::function<void(int rows, int cols)> resize;  // called at start and on SIGWINCH (tty only)
  std::function<void(int sig)> proxySignal;        // set: SIGINT, SIGTERM, … are passed on, not acted on
};
Result<void> relayStreams(client::Connection& c, const StreamOptions& o);
// The options for a container's (`/containers/<id>`) or an exec's (`/exec/<id>`) stream: resize requests
// to `<object>/resize`; with `killPath` set (a container without a TTY, --sig-proxy), signals sent on.
StreamOptions streamOptions(client::Api& a, const std::string& object, bool tty, bool stdinOpen,
                            const std::string& killPath = "");
// A streamed answer written to a file (<file>.berth-tmp, fsync'ed and renamed when complete) or to stdout.
int streamTo(client::Api& a, const std::string& target, const std::string& output);
// A sink for a logs stream: raw to stdout with a TTY, demultiplexed to stdout/stderr without.
std::function<bool(std::string_view)> outputSink(bool tty);

}  // namespace berth::cli
