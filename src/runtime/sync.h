// The named messages parent and child exchange over a SOCK_SEQPACKET socketpair (runc's sync.go idea):
// a failure inside the child reaches the user as a sentence with its errno.
#pragma once

#include <cstdint>
#include <cstring>

namespace berth::runtime {

enum class Sync : uint32_t {
  Go = 1,         // parent → child: mappings and cgroups are in place; payload: state JSON for hooks
  Hooks = 2,      // child → parent: run prestart/createRuntime hooks now (mounts done, before pivot_root)
  HooksDone = 3,  // parent → child
  Ready = 4,      // child → parent: set up, waiting for start (or about to execve for exec)
  Error = 5,      // child → parent: errno + message
};

struct SyncMsg {
  Sync type;
  int32_t err;
  char text[16384];
};

}  // namespace berth::runtime
