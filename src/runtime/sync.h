// The named messages parent and child exchange over a SOCK_SEQPACKET socketpair (runc's sync.go idea):
// a failure inside the child reaches the user as a sentence with its errno.
#pragma once

#include <cstdint>
#include <cstring>

namespace berth::runtime {

enum class Sync : uint32_t {
  Go = 1,         // parent → child: id mappings are in place; payload: state JSON for hooks
  Hooks = 2,      // child → parent: run prestart/createRuntime hooks now (mounts done, before pivot_root)
  HooksDone = 3,  // parent → child
  Ready = 4,      // child → parent: set up, waiting for start (or about to execve for exec)
  Error = 5,      // child → parent: errno + message
  Placed = 6,     // parent → child: the child is in its cgroups (sent after Go, so the child's mount work
                  // overlaps the cgroup migration, which can wait for an RCU grace period on cgroup v1)
  Pid = 7,        // joiner → parent: the child it cloned (err = its pid; text "1" when born in its cgroup)
};

struct SyncMsg {
  Sync type;
  int32_t err;
  char text[16384];
};

}  // namespace berth::runtime
