#include "base/self_exe.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace berth {

namespace {
bool protectedNow(int fd) {
  struct statvfs sv;
  if (::fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) return true;
  int seals = ::fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & F_SEAL_WRITE);
}
}  // namespace

int readOnlyExecutable(const char* path) {
  long tree = ::syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree >= 0) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID;
    if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) == 0)
      return static_cast<int>(tree);
    ::close(static_cast<int>(tree));
  }
  int self = ::open(path, O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  int mem = ::memfd_create("berth-exe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  struct stat st;
  if (mem >= 0 && ::fstat(self, &st) == 0) {
    off_t off = 0;
    while (off < st.st_size)
      if (::sendfile(mem, self, &off, static_cast<size_t>(st.st_size - off)) <= 0) break;
    if (off == st.st_size &&
        ::fcntl(mem, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == 0) {
      ::close(self);
      return mem;
    }
  }
  if (mem >= 0) ::close(mem);
  ::close(self);
  return -1;
}

void ensureReadOnlySelf(char** argv, char** envp) {
  int self = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return;
  if (protectedNow(self)) {
    ::close(self);
    return;
  }
  ::close(self);
  int ro = readOnlyExecutable("/proc/self/exe");
  if (ro >= 0) {
    ::syscall(SYS_execveat, ro, "", argv, envp, AT_EMPTY_PATH);
    ::close(ro);
  }
  std::fprintf(stderr,
               "berth-runtime: warning: cannot protect the runtime binary from overwrite (CVE-2019-5736)\n");
}

}  // namespace berth
