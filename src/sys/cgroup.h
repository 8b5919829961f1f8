// Cgroups behind one interface, with a v1 (per-controller hierarchies) and a v2 (unified) backend.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "sys/resources.h"

namespace berth::sys::cgroup {

struct Stats {
  uint64_t cpuUsageNs = 0, cpuUserNs = 0, cpuSystemNs = 0;
  uint64_t memoryUsage = 0, memoryLimit = 0, memoryMaxUsage = 0, memoryCache = 0;
  uint64_t oomKills = 0;
  uint64_t pidsCurrent = 0, pidsLimit = 0;
};

class Manager {
 public:
  virtual ~Manager() = default;
  virtual int version() const = 0;
  // The container's path relative to the hierarchy root ("/docker/abc").
  virtual const std::string& path() const = 0;
  // Makes the cgroup (and missing parents).
  virtual Result<void> create() = 0;
  virtual Result<void> addProcess(pid_t pid) = 0;
  virtual Result<void> setResources(const Resources& r) = 0;
  virtual Result<void> freeze(bool frozen) = 0;
  virtual Result<bool> isFrozen() = 0;
  virtual Result<std::vector<pid_t>> processes() = 0;
  virtual Result<Stats> stats() = 0;
  // The OOM kills counted so far (one file read, for an exit status).
  virtual Result<uint64_t> oomKills() = 0;
  // Signals every process in the cgroup (freezing first, so none escapes by forking).
  virtual Result<void> killAll(int sig) = 0;
  // Removes the cgroup; a missing one is not an error.
  virtual Result<void> destroy() = 0;
  // v1: takes a cgroup staged by stageV1 (the caller's own) under this one's parent as this one, by renaming
  // it in every hierarchy (all or none; this one must not exist yet). The caller's children are then born in
  // the container's cgroup: no move, no wait.
  virtual Result<void> adopt(const std::string& staged) {
    return fail(ErrorCategory::InvalidArgument, "cannot adopt " + staged + ": cgroup v1 only");
  }
  // Controller directories on the host, for diagnostics and `probe cgroup` comparisons.
  virtual std::vector<std::string> hostDirs() const = 0;
};

// Where cgroups are on this host.
struct Layout {
  int version = 1;          // 2 when /sys/fs/cgroup is a unified hierarchy
  std::string unifiedRoot;  // mount point of cgroup2, if any
  struct V1 {
    std::string controller;  // "memory", "cpu", "name=systemd"
    std::string mountPoint;
  };
  std::vector<V1> v1;  // one per controller (co-mounted ones repeat the mount point)
};

Result<Layout> detect();
// Picks v2 when the host is unified, else v1. BERTH_CGROUP_V2_ROOT forces the v2 backend on that root
// (tests).
// `layout`, when given, receives the detected layout (saves a second read of mountinfo).
Result<std::unique_ptr<Manager>> open(const std::string& path, Layout* layout = nullptr);
std::unique_ptr<Manager> makeV1(const Layout& layout, const std::string& path);
std::unique_ptr<Manager> makeV2(const std::string& root, const std::string& path);

// cgroup v1: moving a process into a cgroup waits for an RCU grace period when no move happened lately
// (percpu_down_write of cgroup_threadgroup_rwsem; 10-20 ms on a 2-vCPU guest with HZ=250). v2 avoids the move
// with clone3(CLONE_INTO_CGROUP); v1 has no such call, so a process that will make a container moves itself,
// ahead of need and off the start path, into a cgroup `<parent>/.staged-<pid>` in every hierarchy, which
// Manager::adopt renames to the container's path. Returns that path; on failure nothing is left behind.
Result<std::string> stageV1(const Layout& layout, const std::string& parent);
// A staged cgroup not adopted: the caller moves back to its parent and the cgroup goes (nothing to do when it
// was adopted).
void unstageV1(const Layout& layout, const std::string& staged);
// Staged cgroups under `parent` whose process is gone (a maker killed before it could clean up).
void removeStaleStagedV1(const Layout& layout, const std::string& parent);

// Shared helpers for backends.
Result<uint64_t> readUint(const std::string& file);
Result<std::vector<pid_t>> readPids(const std::string& file);
// Removes a cgroup directory, retrying briefly while exiting processes leave it.
Result<void> removeDir(const std::string& dir);
// The kernel accepts a cgroup path only without ".." components; validates and normalises.
Result<std::string> normalisePath(const std::string& path);

}  // namespace berth::sys::cgroup
