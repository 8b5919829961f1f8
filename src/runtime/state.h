// Container state on disk: <root>/<id>/state.json (atomic writes), the exec fifo, and a copy of config.json.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "sys/cgroup.h"

namespace berth::runtime {

enum class Status { Creating, Created, Running, Paused, Stopped };
const char* statusName(Status s);

struct State {
  std::string id;
  pid_t pid = 0;
  uint64_t pidStartTime = 0;  // /proc/<pid>/stat field 22: guards against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::string owner;
  std::string cgroupPath;
  int cgroupVersion = 0;
  std::string cgroupV2Root;  // set when the v2 backend was forced onto a root
  std::map<std::string, std::string> annotations;
  bool hasPoststart = false, hasPoststop = false;  // so start/delete parse the config only when needed
  std::string config;  // config.json as given at create (for exec and hooks); saved as config.json beside
                       // state.json, read back by Runtime::storedConfig
};

Result<void> validateId(const std::string& id);

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  // Compiled seccomp programs (sys::seccomp::compileCached); ids never start with '.'.
  std::string seccompCacheDir() const { return root_ + "/.seccomp-cache"; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }
  std::string fifo(const std::string& id) const { return dir(id) + "/exec.fifo"; }

  // Claims the id: fails with Conflict if a container with this id exists.
  Result<void> claim(const std::string& id);
  Result<State> load(const std::string& id) const;
  Result<void> save(const State& s) const;
  Result<void> remove(const std::string& id) const;
  Result<std::vector<std::string>> list() const;
  Status status(const State& s) const;

 private:
  // Throws nlohmann::json::exception on a field of the wrong type; load() catches it.
  static State fromJson(const nlohmann::json& j, const std::string& id);
  std::string root_;
};

// The cgroup manager of a container (none when it has no cgroup).
Result<std::unique_ptr<sys::cgroup::Manager>> cgroupOf(const State& s);

// OCI state JSON (runc's field order), as `state` prints and hooks read on stdin.
std::string stateJson(const State& s, Status st, bool pretty);
// Start time of a process (clock ticks since boot), 0 if it is gone; zombie reports `zombie`.
uint64_t processStartTime(pid_t pid, bool* zombie = nullptr);

}  // namespace berth::runtime
