#include "snapshot/copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "base/fd.h"
#include "base/file.h"

namespace berth::snapshot {
namespace {

struct Copier {
  // The first copy of each hardlinked inode: its directory (one fd per directory, however many links it
  // holds) and name. A name relative to the copy's root would resolve through the tree's own symlinks.
  std::map<std::pair<dev_t, ino_t>, std::pair<std::shared_ptr<UniqueFd>, std::string>> links;

  Result<void> xattrs(int src, int dst, const std::string& what) {
    char names[8192];
    ssize_t n = ::flistxattr(src, names, sizeof names);
    if (n < 0) return errno == ENOTSUP ? Result<void>() : sysFail("listing xattrs of " + what);
    for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(names + i)) + 1) {
      char value[65536];
      ssize_t v = ::fgetxattr(src, names + i, value, sizeof value);
      if (v < 0) continue;
      if (::fsetxattr(dst, names + i, value, static_cast<size_t>(v), 0) < 0 && errno != ENOTSUP)
        return sysFail(std::string("copying xattr ") + (names + i) + " of " + what);
    }
    return {};
  }

  Result<void> file(int sdir, int ddir, const char* name, const struct stat& st, const std::string& what) {
    UniqueFd in(::openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return sysFail("opening " + what);
    UniqueFd out(::openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return sysFail("creating " + what);
    if (::ioctl(out.get(), FICLONE, in.get()) < 0) {
      off_t left = st.st_size;
      while (left > 0) {
        ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, static_cast<size_t>(left), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL)
            return sysFail("copying " + what);
          char buf[1 << 16];
          ssize_t r;
          while ((r = ::read(in.get(), buf, sizeof buf)) > 0)
            if (::write(out.get(), buf, static_cast<size_t>(r)) != r) return sysFail("copying " + what);
          if (r < 0) return sysFail("reading " + what);
          break;
        }
        left -= n;
      }
    }
    if (::fchown(out.get(), st.st_uid, st.st_gid) < 0) return sysFail("chown " + what);
    if (::fchmod(out.get(), st.st_mode & 07777) < 0) return sysFail("chmod " + what);
    TRYV(xattrs(in.get(), out.get(), what));
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (::futimens(out.get(), ts) < 0) return sysFail("setting times of " + what);
    return {};
  }

  Result<void> dir(int sdir, int ddir, const std::string& where) {
    TRY(auto names, dirEntries(sdir, where));
    std::shared_ptr<UniqueFd> here;  // this directory, once a hardlink source lives in it
    for (auto& n : names) {
      std::string what = where + "/" + n;
      struct stat st;
      if (::fstatat(sdir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return sysFail("stat " + what);
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto it = links.find({st.st_dev, st.st_ino});
        if (it != links.end()) {
          if (::linkat(it->second.first->get(), it->second.second.c_str(), ddir, n.c_str(), 0) < 0)
            return sysFail("hardlinking " + what);
          continue;
        }
      }
      if (S_ISDIR(st.st_mode)) {
        if (::mkdirat(ddir, n.c_str(), 0700) < 0) return sysFail("mkdir " + what);
        UniqueFd s(::openat(sdir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        UniqueFd t(::openat(ddir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!s || !t) return sysFail("opening " + what);
        TRYV(dir(s.get(), t.get(), what));
        if (::fchown(t.get(), st.st_uid, st.st_gid) < 0 || ::fchmod(t.get(), st.st_mode & 07777) < 0)
          return sysFail("setting owner and mode of " + what);
        TRYV(xattrs(s.get(), t.get(), what));
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        if (::futimens(t.get(), ts) < 0) return sysFail("setting times of " + what);
        continue;
      }
      if (S_ISREG(st.st_mode)) {
        TRYV(file(sdir, ddir, n.c_str(), st, what));
      } else {
        if (S_ISLNK(st.st_mode)) {
          std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
          ssize_t len = ::readlinkat(sdir, n.c_str(), target.data(), target.size());
          if (len < 0) return sysFail("readlink " + what);
          target[static_cast<size_t>(len)] = 0;
          if (::symlinkat(target.data(), ddir, n.c_str()) < 0) return sysFail("symlink " + what);
        } else if (::mknodat(ddir, n.c_str(), st.st_mode, st.st_rdev) < 0) {
          return sysFail("mknod " + what);
        }
        if (::fchownat(ddir, n.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
          return sysFail("chown " + what);
        if (!S_ISLNK(st.st_mode) && ::fchmodat(ddir, n.c_str(), st.st_mode & 07777, 0) < 0)
          return sysFail("chmod " + what);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        if (::utimensat(ddir, n.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0)
          return sysFail("setting times of " + what);
      }
      if (st.st_nlink > 1) {
        if (!here) {
          here = std::make_shared<UniqueFd>(::fcntl(ddir, F_DUPFD_CLOEXEC, 0));
          if (!*here) return sysFail("dup");
        }
        links[{st.st_dev, st.st_ino}] = {here, n};
      }
    }
    return {};
  }
};

}  // namespace

Result<void> copyTree(const std::string& src, const std::string& dst) {
  UniqueFd s(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!s) return sysFail("opening " + src);
  UniqueFd d(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return sysFail("opening " + dst);
  Copier c;
  TRYV(c.dir(s.get(), d.get(), src));
  struct stat st;
  if (::fstat(s.get(), &st) < 0) return sysFail("stat " + src);
  if (::fchown(d.get(), st.st_uid, st.st_gid) < 0 || ::fchmod(d.get(), st.st_mode & 07777) < 0)
    return sysFail("setting owner and mode of " + dst);
  TRYV(c.xattrs(s.get(), d.get(), src));
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (::futimens(d.get(), ts) < 0) return sysFail("setting times of " + dst);
  return {};
}

}  // namespace berth::snapshot
