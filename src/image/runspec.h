// Image + run options → the OCI runtime config of a container, with docker's defaults: default capabilities,
// masked and read-only paths, docker's default seccomp profile, /dev/shm 64m, hostname = short ID, PATH,
// HOSTNAME and HOME in the environment, and the image's Entrypoint/Cmd/Env/WorkingDir/User (names resolved
// through the image's own /etc/passwd and /etc/group).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/manifest.h"

namespace berth::image {

struct RunOptions {
  std::string id;                         // 64 hex
  std::vector<std::string> cmd;           // replaces the image's Cmd when non-empty
  std::optional<std::string> entrypoint;  // --entrypoint ("" clears the image's)
  std::vector<std::string> env;           // KEY=VALUE (KEY alone: taken from the caller's environment)
  std::string workdir, user, hostname;
  bool tty = false, readOnly = false, privileged = false, noNewPrivileges = false;
  std::vector<std::string> capAdd, capDrop;  // "NET_ADMIN" or "CAP_NET_ADMIN", "ALL"
  std::string network = "none";              // none (own netns, loopback only) | host
  std::string netnsPath;  // none: join this prepared namespace (loopback up) instead of making one
  int64_t shmSize = 64 << 20;
  std::vector<std::string> tmpfs;  // "/path[:options]"
  struct Bind {
    std::string source, destination;
    bool readOnly = false;
    std::string propagation = "rprivate";  // bind: rprivate | private | rshared | shared | rslave | slave
    bool tmpfs = false;                    // a tmpfs (source unused) with `data` options
    std::string data;
  };
  // After every other mount, in order (volumes and binds sorted parents first, then docker's /etc/hosts,
  // /etc/resolv.conf, /etc/hostname).
  std::vector<Bind> binds;
  std::string seccomp;  // "" (docker's default), "unconfined"
  std::map<std::string, std::string> labels;
  std::optional<int64_t> memory, memorySwap, cpuShares, pidsLimit, cpuQuota, cpuPeriod;
  std::string cpusetCpus;
  std::vector<std::string> ulimits;  // name=soft[:hard]
  std::string cgroupParent = "/berth";
  std::string
      initPath;  // --init: this binary runs as PID 1 (bound at /sbin/docker-init), the command its child
};

// `rootfs` is the container's mounted root (read to resolve user and group names).
Result<std::string> makeRuntimeConfig(const ImageConfig& img, const RunOptions& o, const std::string& rootfs);

// The OCI linux.resources limits of the options (memory, cpu, pids; no device rules): the container's
// config at creation, and `docker update` of a running container.
std::string resourceLimitsJson(const RunOptions& o);

// `docker exec`: a process for a running container, based on the container's own (its OCI process JSON):
// the command, environment added to the container's, another user, working directory, terminal, all
// capabilities with `privileged`.
struct ExecProcessOptions {
  std::vector<std::string> cmd, env;
  std::string user, workdir;
  bool tty = false, privileged = false;
  unsigned rows = 0, cols = 0;
};
Result<std::string> makeExecProcess(const std::string& containerProcessJson, const ExecProcessOptions& o,
                                    const std::string& rootfs);

// docker's default capability set.
const std::vector<std::string>& defaultCapabilities();

}  // namespace berth::image
