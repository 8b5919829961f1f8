// openat2(2) with the two resolutions berth uses for paths it does not trust. Allocation-free (usable
// between clone and execve); they return an fd, or -1 with errno set, and retry EAGAIN (a concurrent rename
// made the kernel give up a lookup).
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace berth {

inline int openat2Retry(int dirfd, const char* path, uint64_t flags, uint64_t resolve, uint64_t mode = 0) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = resolve;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return static_cast<int>(fd);
}

// `path` as the process inside the root at `rootFd` sees it: "..", absolute paths and symlinks (absolute or
// relative) stay inside the root.
inline int openInRoot(int rootFd, const char* path, uint64_t flags) {
  return openat2Retry(rootFd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

// `path` below `dirFd` with no symlink anywhere on the way (and no ".." out of it).
inline int openBeneathNoSymlinks(int dirFd, const char* path, uint64_t flags, uint64_t mode = 0) {
  return openat2Retry(dirFd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
                      mode);
}

}  // namespace berth
