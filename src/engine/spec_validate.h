// docker's checks of a container spec (create and update) with its 400 messages, and the values docker
// fills in at create. What needs the engine's state (images, networks, other containers, mounts) is
// checked by the engine itself.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/spec.h"

namespace berth::engine::spec {

// What the checks need to know of the host.
struct HostFacts {
  int cpus = 1;
  std::string cpusOnline = "0", memsOnline = "0";  // "0-1"
  static HostFacts probe();
  static const HostFacts& cached();  // probed once per process
};

// docker's normalisation before its checks: PidsLimit <= 0 and MemorySwappiness -1 are unset, an empty
// restart policy is "no".
void normalizeCreate(CreateRequest& r);
// moby's verifyContainerSettings, the first failure as an InvalidArgument error; `warnings` gets docker's
// warnings.
Result<void> validateCreate(const CreateRequest& r, const HostFacts& host,
                            std::vector<std::string>* warnings);
Result<void> validateRestartPolicy(const RestartPolicy& p);
// A LogConfig's driver (json-file or none) and json-file's options.
Result<void> checkLogConfig(const LogConfig& lc);
// `update`: the checks of POST /containers/{id}/update (a swap limit alone is allowed there).
Result<void> validateResources(const Resources& r, const HostFacts& host, bool update,
                               std::vector<std::string>* warnings);
// What docker stores for a new container where the request left a value out: 2 x Memory of swap, the
// json-file log driver, 64 MiB of /dev/shm, IPC mode private, cgroup namespace host, runtime runc,
// restart policy "no". Also for records of older versions, which stored the request as it came.
void applyCreateDefaults(HostConfig& h);

}  // namespace berth::engine::spec
