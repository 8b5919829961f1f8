// The engine: containers (stored records) and their tasks (a berth-shim holding the running process), on top
// of the image service. berthd's API handlers call it; it never formats HTTP and never prints.
//
// A container record lives in SQLite (the database of the image service); every state change is one
// transaction. A running container has a shim (its parent, outside the daemon); the engine keeps one monitor
// thread per running container connected to the shim's "wait", so an exit is recorded when it happens — or,
// when the daemon was down, from the shim's exit file at the next start.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/trash.h"
#include "db/sqlite.h"
#include "engine/fd_pool.h"
#include "engine/networks.h"
#include "engine/requests.h"
#include "engine/signals.h"
#include "engine/spec.h"
#include "engine/status.h"
#include "engine/task.h"
#include "engine/task_host.h"
#include "engine/volumes.h"
#include "image/runspec.h"
#include "image/service.h"
#include "network/dns.h"
#include "runtime/shim_protocol.h"
#include "sys/cgroup.h"

namespace berth::engine {

struct EngineOptions {
  std::string dataRoot = "/var/lib/berth";
  std::string runRoot = "/run/berth";  // bundles, shim sockets, exit files, the runtime's state
  std::string driver = "overlay";
  std::string shimPath;  // berth-shim binary
  std::string initPath;  // berth-init binary (--init)
  std::string cgroupParent = "/berth";
  int64_t logMaxSize = 20 << 20;  // json-file rotation defaults (docker's local driver: 20m x 5)
  int logMaxFiles = 5;
  int netnsPool = 2;              // network namespaces kept ready for starts (0: each start makes its own)
  int shimPool = 2;               // shims started ahead of container starts (0: each start starts its own)
  std::string bridge = "berth0";  // the default bridge network's device (dockerd's --bridge)
};

struct ContainerState {
  Status status = Status::Created;
  int pid = 0;
  int exitCode = 0;
  bool oomKilled = false;
  std::string error;
  std::string startedAt = "0001-01-01T00:00:00Z", finishedAt = "0001-01-01T00:00:00Z";
  nlohmann::json health;  // docker's State.Health (Status, FailingStreak, Log), null without a check
};

struct HealthProbe {
  std::vector<std::string> cmd;
  int64_t intervalNs = 0, timeoutNs = 0, startPeriodNs = 0, startIntervalNs = 0;
  int retries = 3;
};

struct HealthResult {
  int exitCode = -1;
  std::string output, start, end;
};

struct Container {
  std::string id, name;         // name without the leading "/"
  std::string image;            // as the user wrote it
  std::string imageId;          // "sha256:…"
  std::string created;          // RFC 3339
  spec::Config config;          // docker's Config, as created (image defaults merged, as docker shows it)
  spec::HostConfig hostConfig;  // docker's HostConfig, checked and with docker's defaults filled in
  std::string path;             // the command: Path + Args
  std::vector<std::string> args;
  ContainerState state;
  int restartCount = 0;
  bool hasBeenStarted = false;
  bool removalRequested = false;  // AutoRemove after exit, or a removal in progress
  bool manuallyStopped = false;   // stop/kill by a user: restart policies leave it alone (docker's rule)
  std::map<std::string, Endpoint> endpoints;  // by network name: its place on bridge networks while it runs
  std::vector<PortBinding> ports;             // published while it runs
  std::map<std::string, std::vector<std::string>> aliases;  // by network name (NetworkingConfig)
  // The bridge networks it joins when it starts, in order: the first gives eth0 and the default route
  // (NetworkMode, then NetworkingConfig's others and `network connect`).
  std::vector<std::string> networks;
  std::map<std::string, std::string> ips;  // an IPv4 address asked for on a network (--ip), by name
  std::vector<MountPoint> mounts;          // volumes, binds and tmpfs mounts, in mount order
};

struct ListOptions {
  bool all = false;
  int limit = -1;
  std::map<std::string, std::vector<std::string>> filters;  // status name label ancestor id exited
};

struct LogOptions {
  bool stdout = true, stderr = true, follow = false, timestamps = false;
  int64_t tail = -1;                 // -1: all
  int64_t sinceNs = 0, untilNs = 0;  // unix nanoseconds, 0: unbounded
};

// A stream of output to a client: (stream 1|2, bytes); returns false when the client is gone.
using OutputSink = std::function<bool(int stream, std::string_view data)>;

struct AttachStreams {
  bool stdin = false, stdout = true, stderr = true;
};

// docker exec: a process started in a running container (kept in memory, as docker does).
struct Exec {
  std::string id, containerId;
  spec::ExecConfig config;  // as created (Tty as its start said)
  bool started = false, running = false;
  std::optional<int> exitCode;
  int pid = 0;
  unsigned rows = 0, cols = 0;  // a resize that came before the process existed
};

// What docker's X-Docker-Container-Path-Stat header says of a path in a container.
struct PathStat {
  std::string name;
  int64_t size = 0;
  uint32_t mode = 0;  // Go's os.FileMode bits (type bits on top of the permissions)
  int64_t mtimeNs = 0;
  std::string linkTarget;
};

// A byte sink for streamed responses; false once the client is gone.
using ByteSink = std::function<bool(const void* data, size_t len)>;
// A request body read in pieces: sets *buf, returns the size, 0 at the end, -1 on error.
using ByteSource = std::function<long(const void** buf)>;

class Engine {
 public:
  // `host`: how containers' roots are mounted and their shims run (the kernel's and berth-shim when null;
  // unit tests pass a fake).
  static Result<std::unique_ptr<Engine>> open(const EngineOptions& opts,
                                              std::unique_ptr<TaskHost> host = nullptr);
  ~Engine();

  // The image service, thread-safe: its metadata lock is held only for lookups and commits, never through
  // a load's unpack or a save's stream, so creates and `docker images` go on while an image loads. It may
  // be used under the engine's lock (m_); it calls imageInUse (which takes m_) without its own lock held.
  image::ImageService& images() { return *images_; }
  const EngineOptions& options() const { return opts_; }

  // POST /containers/create: the decoded body, checked here (docker's 400s). Returns the new id.
  Result<std::string> create(const std::string& name, spec::CreateRequest req,
                             std::vector<std::string>* warnings);
  // Resolves a full id, a unique id prefix or a name (with or without "/").
  Result<Container> get(const std::string& ref);
  Result<std::vector<Container>> list(const ListOptions& o);
  // 304-style outcomes are Conflict errors with `notModified` set by the caller's mapping.
  Result<void> start(const std::string& ref);
  Result<void> stop(const std::string& ref, std::optional<int> timeoutSeconds,
                    const std::string& signal = "");
  Result<void> kill(const std::string& ref, const std::string& signal);
  Result<void> restart(const std::string& ref, std::optional<int> timeoutSeconds);
  // `removeVolumes` (docker rm -v): its anonymous volumes go too, unless another container uses them.
  Result<void> remove(const std::string& ref, bool force, bool removeVolumes = false);
  Result<void> rename(const std::string& ref, const std::string& newName);
  // docker update: resources (memory, swap, cpu shares/quota/period/NanoCpus/cpuset, pids) of a running
  // container change at once; the record keeps them for its next start; and the restart policy.
  Result<std::vector<std::string>> update(const std::string& ref, const spec::UpdateRequest& body);
  Result<void> pause(const std::string& ref);
  Result<void> unpause(const std::string& ref);
  Result<void> resize(const std::string& ref, int rows, int cols);
  // condition: "not-running" (default), "next-exit", "removed". Returns the exit code.
  // `since`: exitSequence() taken before the client learnt that the wait is registered (next-exit then
  // counts exits from that point, not from when this call runs).
  Result<int> wait(const std::string& ref, const std::string& condition,
                   const std::function<bool()>& cancelled, std::optional<uint64_t> since = std::nullopt);
  // How many exits of the container this daemon has seen (for wait's `since`).
  uint64_t exitSequence(const std::string& id);
  // Streams the container's log (json-file) to `sink`.
  Result<void> logs(const std::string& ref, const LogOptions& o, const OutputSink& sink,
                    const std::function<bool()>& cancelled);
  // docker's refusals of an attach (a paused or restarting container; `ref` as the client named it), for
  // the API to answer before it hijacks the connection. A stopped container is no refusal: the attach
  // waits for its next start (`docker start -a`).
  static Result<void> attachable(Status status, const std::string& ref);
  // Attaches a client connection to a container's stdio: output framed as docker's multiplexed stream (raw
  // with a TTY), input (when stdin is attached, starting with what the client sent early) to the container.
  // `hijack` answers the client and returns the connection's fd (and its early input); it is called once
  // the attach is registered, so a start the client sends after that answer waits for this attach (no
  // output is lost). Blocks until the container's output ends or the client goes. Attaching to a created
  // container waits for its start. An error with `*hijacked` false is for the caller to answer.
  using Hijack = std::function<int(std::string* earlyInput)>;
  Result<void> attach(const std::string& ref, const AttachStreams& s, const Hijack& hijack, bool* hijacked);
  Result<std::vector<std::string>> prune(int64_t* reclaimed);

  // docker exec. create checks the container runs and returns the exec's id; `execBegin` checks the exec
  // can start (before a client connection is hijacked) and marks it started; `execRun` starts the process
  // and, with a client, relays its stdio until it ends and records its exit code (without one: detached).
  Result<std::string> execCreate(const std::string& ref, const spec::ExecConfig& cfg);
  // `start`: the start body's Tty and ConsoleSize, when given, override the create's.
  Result<Exec> execBegin(const std::string& execId, const spec::ExecStartRequest& start);
  Result<void> execRun(const std::string& execId, int clientFd, std::string_view earlyInput);
  Result<void> execResize(const std::string& execId, int rows, int cols);
  Result<nlohmann::json> execInspect(const std::string& execId);
  // docker events: past events from `sinceNs` (0: only new ones), until `untilNs` (0: follow until the
  // client goes); a null event passed to `sink` is a keep-alive probe.
  Result<void> events(int64_t sinceNs, int64_t untilNs,
                      const std::map<std::string, std::vector<std::string>>& filters,
                      const std::function<bool(const nlohmann::json&)>& sink,
                      const std::function<bool()>& cancelled);
  // Records an event (image events come from the API layer, which holds no lock).
  void emit(const std::string& type, const std::string& action, const std::string& id,
            std::map<std::string, std::string> attrs = {}) {
    std::lock_guard lock(m_);
    emitLocked(type, action, id, std::move(attrs));
  }
  // docker top (ps -ef columns) and one docker stats sample (cpu, memory, pids from the cgroup).
  Result<nlohmann::json> top(const std::string& ref);
  Result<nlohmann::json> stats(const std::string& ref);
  // Whether a container uses an image (for rmi and prune).
  bool imageInUse(const image::Digest& id);

  // Docker's JSON views.
  nlohmann::json inspectJson(const Container& c);
  nlohmann::json summaryJson(const Container& c);

  // docker cp and export: paths resolve inside the container's root (symlinks included); a stopped
  // container's filesystem is mounted for the time of the request. `begin` runs once the request is known
  // to succeed (the response's headers), before the first byte goes to `sink`.
  Result<PathStat> archiveStat(const std::string& ref, const std::string& path);
  Result<void> archiveGet(const std::string& ref, const std::string& path,
                          const std::function<void(const PathStat&)>& begin, const ByteSink& sink);
  // Extracts a tar (any compression) into the directory `path` of the container.
  Result<void> archivePut(const std::string& ref, const std::string& path, bool copyUidGid,
                          bool noOverwriteDirNonDir, const ByteSource& body);
  Result<void> exportFs(const std::string& ref, const std::function<void()>& begin, const ByteSink& sink);
  // docker diff: [{"Path", "Kind": 0 changed, 1 added, 2 deleted}] from the container's writable layer.
  Result<nlohmann::json> changes(const std::string& ref);

  // docker's networks (GET /networks, /networks/{id}, POST /networks/create, DELETE, prune).
  Result<std::vector<nlohmann::json>> networkList(
      const std::map<std::string, std::vector<std::string>>& filters);
  Result<nlohmann::json> networkInspect(const std::string& ref);
  Result<std::string> networkCreate(const spec::NetworkCreateRequest& req);
  Result<void> networkRemove(const std::string& ref);
  // POST /networks/{id}/connect and disconnect (docker's bodies: Container, EndpointConfig, Force). A
  // running container gets (or loses) an interface at once; any other joins at its next start.
  Result<void> networkConnect(const std::string& ref, const spec::NetworkConnectRequest& req);
  Result<void> networkDisconnect(const std::string& ref, const spec::NetworkDisconnectRequest& req);
  Result<std::vector<std::string>> networkPrune();

  // docker's volumes (GET /volumes, /volumes/{name}, POST /volumes/create, DELETE, prune) and their use
  // for /system/df (UsageData: size and reference count).
  Result<nlohmann::json> volumeList(const std::map<std::string, std::vector<std::string>>& filters);
  Result<nlohmann::json> volumeInspect(const std::string& name);
  Result<nlohmann::json> volumeCreate(const spec::VolumeCreateRequest& req);
  Result<void> volumeRemove(const std::string& name, bool force);
  Result<nlohmann::json> volumePrune(const std::map<std::string, std::vector<std::string>>& filters);
  Result<nlohmann::json> volumeUsage();

  // How many containers have a Task (for tests and diagnostics: a removed container has none).
  size_t taskCount() {
    std::lock_guard lock(m_);
    return tasks_.size();
  }

  // Stops the monitors (the containers keep running in their shims).
  void shutdown();

 private:
  Engine() = default;
  Result<void> loadAll();
  void reconcile(Container& c);
  // Writes the container's record. Under m_ always Relaxed: what must survive a power cut (creation,
  // rename, update, a user's stop, removal) is then synced by syncRecords() once m_ is let go, before the
  // operation answers; its run state (running, exited, paused, health) is not, a reboot makes it moot.
  Result<void> save(const Container& c, db::Sync sync);
  Result<void> deleteRecord(const std::string& id, db::Sync sync);
  Result<std::string> resolveId(const std::string& ref);
  std::string containerDir(const std::string& id) const { return opts_.runRoot + "/containers/" + id; }
  std::string logPath(const std::string& id) const;
  Result<void> startLocked(std::unique_lock<std::mutex>& lock, const std::string& id);
  Result<void> spawnShim(std::unique_lock<std::mutex>& lock, Container& c);
  // berth-shim's arguments for container `c` (host_ runs a shim with them).
  std::vector<std::string> shimArgs(const Container& c, int pendingAttach) const;
  // resolveId, then a wait (the lock let go meanwhile) while a start of the container is in progress:
  // stop, kill, remove, pause, update, cp and network changes act on a container that is not Starting.
  Result<std::string> resolveSettledLocked(std::unique_lock<std::mutex>& lock, const std::string& ref);
  void startMonitor(const std::string& id);
  void startHealthLocked(const std::string& id);
  void healthLoop(std::string id, std::shared_ptr<Task> task, uint64_t gen, HealthProbe p);
  HealthResult runProbe(const std::string& id, const HealthProbe& p);
  void monitor(std::string id);
  // `deferCleanup`: the rootfs mount and run directory go after the waiters had their answer, by the caller
  // (the monitor), outside the lock; meanwhile its Task says cleanupPending.
  void onExitLocked(std::unique_lock<std::mutex>& lock, const std::string& id, std::string exitLine,
                    bool deferCleanup = false);
  void cleanupRuntime(const std::string& id);
  // A shim still running a container whose record is not running (a daemon killed during its start): the
  // container is killed and the shim's clean-up waited for.
  void endUnrecordedStart(const std::string& id);
  // Restart policy after an exit: true when a restart was scheduled (status "restarting").
  bool maybeRestartLocked(Container& c, bool daemonStart);
  void restartLater(std::string id, int64_t delayMs);
  Result<void> removeLocked(std::unique_lock<std::mutex>& lock, const std::string& id, bool force,
                            bool removeVolumes = false);
  // One request to the shim of a running (or paused) container; `id` and `name` ("/name") get its own.
  Result<std::string> askRunning(const std::string& ref, const runtime::shim::Request& req,
                                 std::string* id = nullptr, std::string* name = nullptr);
  void emitLocked(const std::string& type, const std::string& action, const std::string& id,
                  std::map<std::string, std::string> attrs = {});
  // One request to the container's shim; the value of its "ok" answer.
  Result<std::string> shimRequest(const std::string& id, const runtime::shim::Request& req);
  Result<void> signalLocked(const std::string& id, int sig);
  class RootfsAccess;
  // `withMounts`: the container's view, its volumes and binds included (docker cp); else its own
  // filesystem alone (docker export).
  Result<std::unique_ptr<RootfsAccess>> openRootfs(const std::string& ref, std::string* id,
                                                   bool withMounts = true);

  EngineOptions opts_;
  std::unique_ptr<TaskHost> host_;  // roots mounted, shims run (see task_host.h)
  std::unique_ptr<image::ImageService> images_;
  std::optional<db::Database> db_;
  std::unique_ptr<Networks> networks_;
  // Connects a starting container to its bridge network (when it has one); its /etc files go into `o`.
  Result<void> connectNetworkLocked(Container& c, UniqueFd& netns, image::RunOptions& o,
                                    const std::vector<std::string>& imageExposed);
  // One endpoint of container `c` on bridge network `n` in namespace `netnsFd` (interface `iface`; the
  // primary one routes by default).
  Result<Endpoint> attachLocked(Container& c, const Network& n, int netnsFd, const std::string& iface,
                                bool primary);
  // The network and container (id) a connect or disconnect names.
  Result<std::pair<Network, std::string>> connectionOfLocked(std::unique_lock<std::mutex>& lock,
                                                             const std::string& ref,
                                                             const std::string& container);
  // NetworkingConfig.EndpointsConfig / a connect's EndpointConfig: aliases and --ip for network `n`.
  Result<void> endpointConfigLocked(Container& c, const Network& n, const spec::EndpointSettings& cfg);
  void disconnectNetworkLocked(Container& c);
  // The embedded DNS server's names of user network `n`: its running containers' names, short ids and
  // aliases. The server (one for the daemon) is made at the first user network endpoint.
  void refreshNamesLocked(const Network& n);
  std::unique_ptr<network::dns::Server> dns_;
  std::unique_ptr<Volumes> volumes_;
  // A create request's mounts (VolumesFrom, Binds, Mounts, Config.Volumes, the image's VOLUMEs), with
  // their volumes made: named ones that do not exist yet, and anonymous ones.
  Result<std::vector<MountPoint>> resolveMountsLocked(const spec::Config& cfg, const spec::HostConfig& hc,
                                                      const std::vector<std::string>& imageVolumes);
  // create's steps: the network mode and networks of the request (`c.networks`, aliases, --ip), and the
  // record's Config merged with the image's (command, env, labels, health check, …).
  Result<void> createNetworkingLocked(Container& c, const spec::CreateRequest& req);
  Result<void> mergeImageConfig(Container& c, const spec::CreateRequest& req, const image::ImageConfig& icfg);
  // At start: volumes mounted (local driver options), missing bind sources made; the mounts go into `o`.
  // `staged`: binds that must stay until the container exists. `copyUps`: the volumes to seed from the
  // image, which the start does once the lock is let go (a copy can be long).
  struct CopyUp {
    std::string volume;
    UniqueFd imageDir;  // the image's directory at the mount's destination
  };
  Result<void> setupMountsLocked(const Container& c, const std::string& rootfs, image::RunOptions& o,
                                 std::vector<std::unique_ptr<StagedMount>>& staged,
                                 std::vector<CopyUp>& copyUps);
  // After an exit: volumes with the local driver's options unmounted when no running container uses them.
  void releaseVolumesLocked(const Container& c);
  // The containers (ids) whose mounts use volume `name`.
  std::vector<std::string> volumeUsersLocked(const std::string& name, const std::string& except = "");
  // docker rm -v: the container's anonymous volumes no other container uses.
  void removeAnonymousVolumesLocked(const Container& c);
  nlohmann::json networkSettingsJson(const Container& c);
  std::unique_ptr<FdPool> netns_;  // network namespaces made ahead of starts
  std::unique_ptr<Trash> trash_;   // removed containers' directories (logs), deleted in the background
  std::mutex m_;
  // What a start, inspect and cp need of the image service, kept so that they need not wait for it: the
  // writable layer's mounts of each container and the config of each image a container uses (filled at
  // create and at the daemon's start). A start reads its entries without the lock: imageConfigs_'s are
  // never erased (one per image ever used by a container of this daemon), layerMounts_'s only by removal.
  std::map<std::string, std::vector<snapshot::Mount>> layerMounts_;
  std::map<std::string, image::ImageConfig> imageConfigs_;
  // Writable layers of removed containers, removed by removeLayers() once m_ is let go (after syncing
  // the records' deletions when one of them needs it: an error then, and the layers are left).
  std::vector<std::string> layersToRemove_;
  bool layersNeedSync_ = false;
  std::set<std::string> layersRemoving_;  // taken from the queue by a removeLayers() still at work
  Result<void> removeLayers();
  // Makes the records' relaxed commits durable (db::syncCommitted): called after m_ is let go, before
  // an operation whose change must survive a power cut answers (create, remove, stop, kill).
  Result<void> syncRecords();
  // Fills the caches above for container `c` (at the daemon's start).
  void cacheImageViewsLocked(const Container& c);
  std::condition_variable changed_;
  std::map<std::string, Container> containers_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;  // by container id; see task.h
  // The container's Task (made for a container that has none yet; for an id that is not a container, one
  // that belongs to nobody).
  std::shared_ptr<Task> taskLocked(const std::string& id);
  std::set<std::shared_ptr<Task>> monitored_;  // the monitors' tasks (their connections shut at shutdown)
  std::set<int> waiterFds_;                    // exec waits of detached execs (shut down on shutdown)
  int monitorsRunning_ = 0;
  std::deque<nlohmann::json> events_;
  uint64_t eventSeq_ = 0;                   // events ever emitted (events_ holds the last ones)
  std::map<std::string, int> removedExit_;  // last exit codes of removed containers (wait condition=removed)
  std::deque<std::string> removedOrder_;    // removedExit_'s ids, oldest first (it keeps the last 1024)
  std::map<std::string, Exec> execs_;
  bool stopping_ = false;
  void recordExecExit(const std::string& execId, int code);
  // Waits for exec `execId`'s end (its shim's exec-wait) and records its exit code.
  void awaitExecExit(const std::string& execId, const std::string& dir);
};

// daemon.json's log-opts: the json-file rotation (max-size, max-file) of containers that set none, checked
// as a container's log options are.
Result<void> defaultLogRotation(const std::map<std::string, std::string>& opts, int64_t& maxSize,
                                int& maxFiles);

// Error categories for docker's statuses that are not errors of the operation: "already started" (304).
bool isNotModified(const Error& e);

}  // namespace berth::engine
