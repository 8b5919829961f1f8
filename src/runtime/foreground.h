// Foreground `run` and `exec`: wait for our child, forward signals, relay a pty to our own terminal.
#pragma once

#include <sys/types.h>

#include "base/error.h"

namespace berth::runtime {

// Blocks the signals that get forwarded; call before the child is created so none is lost.
void blockForwardedSignals();
// Waits for `pid` and returns its exit code (128+signal when killed). masterFd >= 0 relays the pty.
Result<int> waitForeground(pid_t pid, int masterFd);

}  // namespace berth::runtime
