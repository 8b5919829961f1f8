// Mounts, child side: everything here runs between clone and execve, so it neither allocates nor throws.
// Paths inside the rootfs are resolved with openat2(RESOLVE_IN_ROOT): a symlink in the rootfs can never
// redirect a mount outside it. Functions return 0/fd on success or -errno.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace berth::sys::mnt {

// Opens `path` (absolute or relative, interpreted inside rootFd) as O_PATH, following symlinks in the root.
int openInRoot(int rootFd, const char* path, int flags = 0);
// Like openInRoot, creating missing components; the leaf is a directory or (dir=false) an empty file.
int ensureInRoot(int rootFd, const char* path, bool dir, mode_t mode = 0755);
// Writes "/proc/self/fd/N" into buf.
void fdPath(int fd, char* buf, size_t len);
// mount(2) onto an O_PATH fd.
int mountAt(const char* source, int targetFd, const char* type, unsigned long flags, const char* data);
// Remounts a bind mount with new flags, keeping the flags the kernel locks (nodev/nosuid/noexec/ro/atime).
int remountBind(const char* target, unsigned long flags);
// Sets propagation on the mount at targetFd.
int setPropagation(int targetFd, unsigned long propagation);
// Bounded string helpers for the child.
size_t copyStr(char* dst, size_t cap, const char* src);
size_t appendStr(char* dst, size_t cap, const char* src);
void appendUint(char* dst, size_t cap, unsigned long v);

}  // namespace berth::sys::mnt
