// The daemon's side of a container beyond its record: what its shim, monitor, health loop, restart policy
// and attach requests share. One per container, made when first needed and erased with the container's
// record; the monitor, a health loop and a waiter hold it (shared) until they end, so that what they
// finish after a removal (an --rm container's clean-up) still has its state.
#pragma once

#include <cstdint>

namespace berth::engine {

struct Task {
  // While a shim holds the container (the pid is the record's: it survives a daemon restart):
  bool shimReady = false;       // its shim answers: attach requests connect to it
  int monitorFd = -1;           // the monitor's connection to the shim ("wait"), shut down at shutdown
  bool shimEnding = false;      // the shim reported the exit and is cleaning up
  bool cleanupPending = false;  // exited; its rootfs mount and run directory not removed yet
  // Across its runs:
  int pendingAttach = 0;       // attach requests waiting for its next start
  uint64_t startFailures = 0;  // failed starts (they wake those attach requests)
  uint64_t exits = 0;          // exits this daemon saw (next-exit waits, stop, kill)
  int64_t backoffMs = 0;       // the restart policy's last delay
  uint64_t healthGen = 0;      // its health loop runs while its generation is current

  // A previous run's shim or clean-up is still finishing: a new start waits for it.
  bool finishing() const { return shimEnding || cleanupPending; }
};

}  // namespace berth::engine
