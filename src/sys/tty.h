// Terminals: a pty made inside the container, its master handed over a unix socket (SCM_RIGHTS).
#pragma once

#include <cstddef>

#include "base/error.h"
#include "base/fd.h"

namespace berth::sys::tty {

// Child side (no allocation): opens a new pty via /dev/ptmx (resolved in the current root), returns the
// master and the peer (slave) fds, and the pty number.
int openPty(int* master, int* slave, unsigned* ptyNumber);
// Makes `slave` the controlling terminal and stdio of the calling process (after setsid()).
int makeControlling(int slave);
int setSize(int fd, unsigned rows, unsigned cols);
// Sends fd with a name as payload (runc's console-socket protocol). Child-safe.
int sendFd(int sock, int fd, const char* name);
// Parent side. With dontWait, an empty socket gives an invalid UniqueFd instead of blocking.
Result<UniqueFd> recvFd(int sock, bool dontWait = false);
// Connects to a unix socket path (the --console-socket).
Result<UniqueFd> connectUnix(const std::string& path);

// Puts a terminal in raw mode and restores it on destruction.
class RawMode {
 public:
  explicit RawMode(int fd);
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_;
  bool active_ = false;
  unsigned char saved_[64];
};

}  // namespace berth::sys::tty
