#include "sys/mnt.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/openat2.h"

namespace berth::sys::mnt {

size_t copyStr(char* dst, size_t cap, const char* src) {
  size_t n = 0;
  while (src[n] && n + 1 < cap) {
    dst[n] = src[n];
    ++n;
  }
  dst[n] = 0;
  return n;
}

size_t appendStr(char* dst, size_t cap, const char* src) {
  size_t n = std::strlen(dst);
  if (n >= cap) return n;
  return n + copyStr(dst + n, cap - n, src);
}

void appendUint(char* dst, size_t cap, unsigned long v) {
  char tmp[24];
  int i = 0;
  do {
    tmp[i++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  char out[24];
  for (int j = 0; j < i; ++j) out[j] = tmp[i - 1 - j];
  out[i] = 0;
  appendStr(dst, cap, out);
}

void fdPath(int fd, char* buf, size_t len) {
  copyStr(buf, len, "/proc/self/fd/");
  appendUint(buf, len, static_cast<unsigned long>(fd));
}

int openInRoot(int rootFd, const char* path, int flags) {
  while (*path == '/') ++path;
  if (!*path) path = ".";
  int fd = berth::openInRoot(rootFd, path, static_cast<uint64_t>(O_PATH | flags));
  return fd < 0 ? -errno : fd;
}

int ensureInRoot(int rootFd, const char* path, bool dir, mode_t mode) {
  int fd = openInRoot(rootFd, path);
  if (fd >= 0 || fd != -ENOENT) return fd;
  char buf[PATH_MAX], link[PATH_MAX], next[PATH_MAX];
  if (copyStr(buf, sizeof buf, path) + 1 >= sizeof buf) return -ENAMETOOLONG;
  // Walk component by component, creating what is missing under an fd already resolved inside the root.
  // A dangling symlink is followed (inside the root) and its target created, as runc's MkdirAllInRoot does.
  for (int depth = 0; depth < 40; ++depth) {
    int parent = ::fcntl(rootFd, F_DUPFD_CLOEXEC, 3);
    if (parent < 0) return -errno;
    bool restart = false;
    char* p = buf;
    while (*p == '/') ++p;
    while (*p) {
      char* end = p;
      while (*end && *end != '/') ++end;
      bool last = true;
      for (char* q = end; *q; ++q)
        if (*q != '/') last = false;
      char saved = *end;
      *end = 0;
      int child = openInRoot(parent, p);
      if (child == -ENOENT) {
        int rc;
        if (last && !dir) {
          int f = ::openat(parent, p, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
          rc = f < 0 ? -errno : (::close(f), 0);
        } else {
          rc = ::mkdirat(parent, p, mode) < 0 ? -errno : 0;
        }
        if (rc == -EEXIST) {
          ssize_t n = ::readlinkat(parent, p, link, sizeof link - 1);
          if (n >= 0) {
            link[n] = 0;
            next[0] = 0;
            if (link[0] != '/') {
              size_t prefix = static_cast<size_t>(p - buf);
              if (prefix >= sizeof next) prefix = sizeof next - 1;
              std::memcpy(next, buf, prefix);
              next[prefix] = 0;
            }
            appendStr(next, sizeof next, link);
            if (saved) {
              appendStr(next, sizeof next, "/");
              appendStr(next, sizeof next, end + 1);
            }
            copyStr(buf, sizeof buf, next);
            restart = true;
            break;
          }
        }
        if (rc < 0 && rc != -EEXIST) {
          ::close(parent);
          return rc;
        }
        child = openInRoot(parent, p);
      }
      ::close(parent);
      if (child < 0) return child;
      parent = child;
      *end = saved;
      p = end;
      while (*p == '/') ++p;
    }
    if (!restart) return parent;
    ::close(parent);
  }
  return -ELOOP;
}

int mountAt(const char* source, int targetFd, const char* type, unsigned long flags, const char* data) {
  char target[64];
  fdPath(targetFd, target, sizeof target);
  if (::mount(source, target, type, flags, data) < 0) return -errno;
  return 0;
}

int remountBind(const char* target, unsigned long flags) {
  unsigned long base = MS_BIND | MS_REMOUNT;
  if (::mount(nullptr, target, nullptr, base | flags, nullptr) == 0) return 0;
  if (errno != EPERM) return -errno;
  // Unprivileged remounts must keep the locked flags of the source mount.
  struct statvfs sv;
  if (::statvfs(target, &sv) < 0) return -errno;
  unsigned long locked = 0;
  if (sv.f_flag & ST_NODEV) locked |= MS_NODEV;
  if (sv.f_flag & ST_NOSUID) locked |= MS_NOSUID;
  if (sv.f_flag & ST_NOEXEC) locked |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) locked |= MS_RDONLY;
  if (sv.f_flag & ST_NOATIME) locked |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) locked |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) locked |= MS_RELATIME;
  if (::mount(nullptr, target, nullptr, base | flags | locked, nullptr) < 0) return -errno;
  return 0;
}

int setPropagation(int targetFd, unsigned long propagation) {
  char target[64];
  fdPath(targetFd, target, sizeof target);
  if (::mount(nullptr, target, nullptr, propagation, nullptr) < 0) return -errno;
  return 0;
}

}  // namespace berth::sys::mnt
