#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dirent.h>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/fd.h"
#include "base/file.h"
#include "base/openat2.h"

namespace berth::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

// The decompressed stream: libarchive's "raw" format over the compression filters hands out the
// uncompressed bytes, which we hash (DiffID) and feed to a second libarchive reading the tar format.
struct Source {
  archive* outer = nullptr;
  Sha256 hash;
  uint64_t total = 0;
  uint64_t limit = 0;
  bool hashing = true;
  std::string error;
};

la_ssize_t readDecompressed(archive*, void* client, const void** buf) {
  auto* s = static_cast<Source*>(client);
  size_t size = 0;
  la_int64_t offset = 0;
  int r = archive_read_data_block(s->outer, buf, &size, &offset);
  if (r == ARCHIVE_EOF) return 0;
  if (r < ARCHIVE_WARN) {
    const char* e = archive_error_string(s->outer);
    s->error = std::string("decompressing the layer: ") + (e ? e : "unknown error");
    return -1;
  }
  if (s->hashing) s->hash.update(*buf, size);
  s->total += size;
  if (s->total > s->limit) {
    s->error = "the uncompressed layer exceeds " + std::to_string(s->limit) + " bytes";
    return -1;
  }
  return static_cast<la_ssize_t>(size);
}

int openBeneath(int dirfd, const std::string& path, uint64_t flags, uint64_t mode = 0) {
  return openBeneathNoSymlinks(dirfd, path.c_str(), flags, mode);
}

}  // namespace

std::string archiveErrorOf(struct archive* a) {
  const char* e = a ? archive_error_string(a) : nullptr;
  return e ? e : "not an archive libarchive can read";
}

// "./a//b/" -> "a/b"; refuses absolute paths and "..".
Result<std::string> cleanTarPath(const char* raw, const char* what) {
  if (!raw) return invalid(std::string(what) + " has no name");
  std::string_view p(raw);
  if (p.empty()) return invalid(std::string(what) + " has an empty name");
  if (p.front() == '/')
    return invalid(std::string(what) + " " + std::string(p) + ": absolute paths are not allowed");
  std::string out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view part = p.substr(i, j - i);
    if (part == "..")
      return invalid(std::string(what) + " " + std::string(p) + ": \"..\" is not allowed in layer paths");
    if (!part.empty() && part != ".") {
      if (part.size() > NAME_MAX)
        return invalid(std::string(what) + " " + std::string(p) + ": name too long");
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j + 1;
  }
  if (out.size() >= PATH_MAX) return invalid(std::string(what) + ": path too long");
  return out;
}

namespace {

Result<void> removeTreeAt(int dirfd, const char* name);

Result<void> removeChildren(int fd, const std::function<bool(const char*)>& keep) {
  TRY(auto names, dirEntries(fd, "a directory to empty"));
  for (auto& n : names)
    if (!keep(n.c_str())) TRYV(removeTreeAt(fd, n.c_str()));
  return {};
}

Result<void> removeTreeAt(int dirfd, const char* name) {
  if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return {};
  if (errno != EISDIR && errno != EPERM) return sysFail(std::string("removing ") + name);
  UniqueFd sub(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub) return sysFail(std::string("opening ") + name);
  TRYV(removeChildren(sub.get(), [](const char*) { return false; }));
  if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return sysFail(std::string("removing ") + name);
  return {};
}

std::string procPath(int fd, const char* name = nullptr) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  if (name) p += std::string("/") + name;
  return p;
}

class Unpacker {
 public:
  Unpacker(int rootFd, const UnpackOptions& o) : root_(rootFd), opts_(o) {
    // Files are created with their final mode when the umask lets it through, and not chowned when we
    // create them as root:root anyway (no setgid directory in play): two syscalls less per file.
    // The umask, read without changing it (umask(2) would, for every thread of the process).
    if (auto st = readFile("/proc/self/status"))
      for (auto& line : split(*st, '\n'))
        if (line.starts_with("Umask:"))
          umask_ = static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
    rootCreates_ = ::geteuid() == 0 && ::getegid() == 0 && opts_.whiteouts == Whiteouts::Overlay;
    struct stat st;
    if (::fstat(rootFd, &st) == 0 && (st.st_mode & S_ISGID)) rootCreates_ = false;
  }

  Result<void> entry(archive* a, archive_entry* e, UnpackStats& stats) {
    TRY(std::string path, cleanTarPath(archive_entry_pathname(e), "layer entry"));
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > opts_.maxEntrySize)
      return invalid("layer entry " + path + ": size " + std::to_string(archive_entry_size(e)) +
                     " exceeds the limit of " + std::to_string(opts_.maxEntrySize) + " bytes");
    if (path.empty()) return applyMeta(root_, nullptr, e, true);  // "./": the layer's root directory

    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    TRY(int pfd, parentFd(parent, path));

    if (opts_.whiteouts != Whiteouts::None && std::string_view(name).starts_with(kWhiteoutPrefix))
      return whiteout(pfd, parent, name, path);
    added_.insert(path);

    const char* hardlink = archive_entry_hardlink(e);
    if (hardlink) return link(pfd, name, path, hardlink);
    mode_t type = archive_entry_filetype(e);
    switch (type) {
      case AE_IFDIR:
        return directory(pfd, name, path, e);
      case AE_IFREG:
        return regular(a, pfd, name, path, e, stats);
      case AE_IFLNK: {
        TRYV(clear(pfd, name, path, false));
        const char* target = archive_entry_symlink(e);
        if (::symlinkat(target ? target : "", pfd, name.c_str()) < 0)
          return sysFail("layer entry " + path + ": creating symlink");
        return applyMeta(pfd, name.c_str(), e, false);
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        TRYV(clear(pfd, name, path, false));
        dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
        if (::mknodat(pfd, name.c_str(), type | 0600, dev) < 0)
          return sysFail("layer entry " + path + ": creating device node");
        return applyMeta(pfd, name.c_str(), e, false);
      }
      default:
        return invalid("layer entry " + path + ": unsupported file type");
    }
  }

  // Directory times last: writing into a directory changes its mtime.
  Result<void> finish() {
    for (auto it = dirTimes_.rbegin(); it != dirTimes_.rend(); ++it) {
      UniqueFd fd(it->path.empty() ? ::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                   : openBeneath(root_, it->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!fd) continue;  // replaced or removed by a later entry
      if (::futimens(fd.get(), it->times) < 0) return sysFail("setting the times of " + it->path);
    }
    return {};
  }

 private:
  struct DirTime {
    std::string path;
    struct timespec times[2];
  };

  Result<int> parentFd(const std::string& parent, const std::string& path) {
    if (parent.empty()) return root_;
    if (parent == cachedPath_ && cached_) return cached_.get();
    int fd = openBeneath(root_, parent, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      // Tars may omit parent directories: make them (root-owned, 0755, as docker does).
      TRYV(makeParents(parent, path));
      fd = openBeneath(root_, parent, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == EXDEV)
        return invalid("layer entry " + path + ": its parent directory " + parent +
                       " is a symlink (entries through symlinks are not allowed)");
      if (errno == ENOTDIR) return invalid("layer entry " + path + ": " + parent + " is not a directory");
      return sysFail("layer entry " + path + ": opening " + parent);
    }
    cached_.reset(fd);
    cachedPath_ = parent;
    return fd;
  }

  Result<void> makeParents(const std::string& parent, const std::string& path) {
    UniqueFd cur(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
    if (!cur) return sysFail("dup");
    for (auto& comp : split(parent, '/')) {
      if (::mkdirat(cur.get(), comp.c_str(), 0755) < 0 && errno != EEXIST)
        return sysFail("layer entry " + path + ": creating parent directory " + comp);
      UniqueFd next(openBeneath(cur.get(), comp, O_PATH | O_DIRECTORY));
      if (!next) {
        if (errno == ELOOP || errno == EXDEV)
          return invalid("layer entry " + path + ": its parent " + comp +
                         " is a symlink (entries through symlinks are not allowed)");
        if (errno == ENOTDIR) return invalid("layer entry " + path + ": " + comp + " is not a directory");
        return sysFail("layer entry " + path + ": opening " + comp);
      }
      cur = std::move(next);
    }
    return {};
  }

  // Removes what is in the way of a new entry (a directory stays when a directory replaces it).
  Result<void> clear(int pfd, const std::string& name, const std::string& path, bool wantDir) {
    struct stat st;
    if (::fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) return {};
      return sysFail("layer entry " + path);
    }
    if (wantDir && S_ISDIR(st.st_mode)) return {};
    if (opts_.noOverwriteDirNonDir && S_ISDIR(st.st_mode) != wantDir)
      return invalid(S_ISDIR(st.st_mode)
                         ? "cannot overwrite directory \"" + path + "\" with a non-directory"
                         : "cannot overwrite non-directory \"" + path + "\" with a directory");
    // The cached parent may be this directory or below it: forget its path (the fd stays open, pfd may be
    // it).
    if (S_ISDIR(st.st_mode)) cachedPath_.clear();
    return removeTreeAt(pfd, name.c_str());
  }

  Result<void> whiteout(int pfd, const std::string& parent, const std::string& name,
                        const std::string& path) {
    if (name == kOpaque) {
      if (opts_.whiteouts == Whiteouts::Overlay) {
        std::string p = procPath(pfd);
        if (::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0) < 0)
          return sysFail("layer entry " + path + ": marking " + (parent.empty() ? "/" : parent) + " opaque");
        return {};
      }
      UniqueFd dir(parent.empty() ? ::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                  : openBeneath(root_, parent, O_RDONLY | O_DIRECTORY));
      if (!dir) return sysFail("layer entry " + path + ": opening " + parent);
      cachedPath_.clear();
      std::string prefix = parent.empty() ? "" : parent + "/";
      return removeChildren(dir.get(), [&](const char* child) { return added_.count(prefix + child) > 0; });
    }
    std::string victim = name.substr(kWhiteoutPrefix.size());
    if (victim.starts_with(".wh.")) return {};  // aufs bookkeeping (.wh..wh.plnk and friends)
    if (victim.empty() || victim == "." || victim == "..")
      return invalid("layer entry " + path + ": malformed whiteout");
    TRYV(clear(pfd, victim, path, false));
    if (opts_.whiteouts == Whiteouts::Apply) return {};
    if (::mknodat(pfd, victim.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
      return sysFail("layer entry " + path + ": creating the whiteout for " + victim);
    return {};
  }

  Result<void> directory(int pfd, const std::string& name, const std::string& path, archive_entry* e) {
    mode_t perm = archive_entry_perm(e);
    if (perm & S_ISGID) rootCreates_ = false;
    bool exact = exactMode(perm);
    bool fresh = ::mkdirat(pfd, name.c_str(), exact ? perm : 0700) == 0;
    if (!fresh) {
      if (errno != EEXIST) return sysFail("layer entry " + path + ": creating directory");
      TRYV(clear(pfd, name, path, true));
      if (::mkdirat(pfd, name.c_str(), 0700) < 0 && errno != EEXIST)
        return sysFail("layer entry " + path + ": creating directory");
    }
    archive_entry_xattr_reset(e);
    bool hasXattrs = archive_entry_xattr_count(e) > 0;
    if (!fresh || !exact || hasXattrs || !ownedAlready(e)) {
      UniqueFd fd(::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return sysFail("layer entry " + path + ": opening directory");
      TRYV(applyMetaFd(fd.get(), e, path, fresh && exact, fresh && ownedAlready(e)));
    }
    DirTime t{path, {}};
    times(e, t.times);
    dirTimes_.push_back(std::move(t));
    return {};
  }

  Result<void> regular(archive* a, int pfd, const std::string& name, const std::string& path,
                       archive_entry* e, UnpackStats& stats) {
    mode_t perm = archive_entry_perm(e);
    bool exact = exactMode(perm);
    constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd fd(::openat(pfd, name.c_str(), kCreate, exact ? perm : 0600));
    if (!fd && errno == EEXIST) {  // a later entry replaces an earlier one, or the parent's copy has it
      TRYV(clear(pfd, name, path, false));
      fd.reset(::openat(pfd, name.c_str(), kCreate, exact ? perm : 0600));
    }
    if (!fd) return sysFail("layer entry " + path + ": creating file");
    const void* buf;
    size_t size;
    la_int64_t offset;
    uint64_t end = 0;
    for (;;) {
      int r = archive_read_data_block(a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        const char* err = archive_error_string(a);
        return fail(ErrorCategory::InvalidArgument,
                    "layer entry " + path + ": reading its data: " + (err ? err : "unknown error"));
      }
      if (offset < 0 || static_cast<uint64_t>(offset) + size > opts_.maxEntrySize)
        return invalid("layer entry " + path + ": data beyond the size limit");
      const char* p = static_cast<const char*>(buf);
      size_t left = size;
      off_t at = offset;
      while (left > 0) {
        ssize_t n = ::pwrite(fd.get(), p, left, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sysFail("layer entry " + path + ": writing");
        p += n, left -= static_cast<size_t>(n), at += n;
      }
      end = static_cast<uint64_t>(offset) + size;
      stats.fileBytes += size;
    }
    // Sparse files end in a hole: extend to the size the header declares.
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > end &&
        ::ftruncate(fd.get(), archive_entry_size(e)) < 0)
      return sysFail("layer entry " + path + ": extending");
    TRYV(applyMetaFd(fd.get(), e, path, exact, ownedAlready(e)));
    struct timespec ts[2];
    times(e, ts);
    if (::futimens(fd.get(), ts) < 0) return sysFail("layer entry " + path + ": setting times");
    return {};
  }

  Result<void> link(int pfd, const std::string& name, const std::string& path, const char* rawTarget) {
    TRY(std::string target, cleanTarPath(rawTarget, ("hardlink " + path + " ->").c_str()));
    if (target.empty()) return invalid("layer entry " + path + ": hardlink to the layer root");
    UniqueFd t(openBeneath(root_, target, O_PATH | O_NOFOLLOW));
    if (!t) {
      if (errno == ENOENT)
        return invalid("layer entry " + path + ": hardlink to " + target +
                       ", which this layer does not contain");
      if (errno == ELOOP || errno == EXDEV)
        return invalid("layer entry " + path + ": hardlink target " + target + " goes through a symlink");
      return sysFail("layer entry " + path + ": opening hardlink target " + target);
    }
    struct stat st;
    if (::fstat(t.get(), &st) < 0) return sysFail("layer entry " + path);
    if (S_ISDIR(st.st_mode)) return invalid("layer entry " + path + ": hardlink to a directory");
    if (target == path) return {};
    TRYV(clear(pfd, name, path, false));
    if (::linkat(t.get(), "", pfd, name.c_str(), AT_EMPTY_PATH) < 0) {
      std::string p = procPath(t.get());
      if (::linkat(AT_FDCWD, p.c_str(), pfd, name.c_str(), AT_SYMLINK_FOLLOW) < 0)
        return sysFail("layer entry " + path + ": creating hardlink to " + target);
    }
    return {};
  }

  static void times(archive_entry* e, struct timespec ts[2]) {
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    if (archive_entry_atime_is_set(e)) {
      ts[0].tv_sec = archive_entry_atime(e);
      ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
      ts[0] = ts[1];
    }
  }

  static bool allowedXattr(const char* name) {
    // overlayfs reads trusted.overlay.* as instructions (opaque, redirect, metacopy): never from a tar.
    return std::strncmp(name, "trusted.overlay.", 16) != 0;
  }

  // Owner, mode and xattrs on an open file or directory.
  bool exactMode(mode_t perm) const { return (perm & ~0777u) == 0 && (perm & umask_) == 0; }
  bool ownedAlready(archive_entry* e) const {
    return rootCreates_ && archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0;
  }

  Result<void> applyMetaFd(int fd, archive_entry* e, const std::string& path, bool modeSet = false,
                           bool owned = false) {
    if (opts_.chown && !owned &&
        ::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) < 0)
      return sysFail("layer entry " + path + ": chown");
    if (!modeSet && ::fchmod(fd, archive_entry_perm(e)) < 0)
      return sysFail("layer entry " + path + ": chmod");
    const char* xname;
    const void* value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
      if (!allowedXattr(xname)) continue;
      if (::fsetxattr(fd, xname, value, size, 0) < 0 && errno != ENOTSUP)
        return sysFail("layer entry " + path + ": setting xattr " + xname);
    }
    return {};
  }

  // Metadata by name (symlinks, device nodes) or of the root directory.
  Result<void> applyMeta(int pfd, const char* name, archive_entry* e, bool isRoot) {
    if (isRoot) {
      UniqueFd fd(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) return sysFail("opening the layer root");
      TRYV(applyMetaFd(fd.get(), e, "./"));
      DirTime t{"", {}};
      times(e, t.times);
      dirTimes_.push_back(std::move(t));
      return {};
    }
    std::string what = std::string("layer entry ") + name;
    if (opts_.chown && ::fchownat(pfd, name, static_cast<uid_t>(archive_entry_uid(e)),
                                  static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) < 0)
      return sysFail(what + ": chown");
    bool isLink = archive_entry_filetype(e) == AE_IFLNK;
    if (!isLink && ::fchmodat(pfd, name, archive_entry_perm(e), 0) < 0) return sysFail(what + ": chmod");
    const char* xname;
    const void* value;
    size_t size;
    archive_entry_xattr_reset(e);
    std::string p;
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
      if (!allowedXattr(xname)) continue;
      if (p.empty()) p = procPath(pfd, name);
      if (::lsetxattr(p.c_str(), xname, value, size, 0) < 0 && errno != ENOTSUP && errno != EPERM)
        return sysFail(what + ": setting xattr " + xname);
    }
    struct timespec ts[2];
    times(e, ts);
    if (::utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) return sysFail(what + ": setting times");
    return {};
  }

  int root_;
  const UnpackOptions& opts_;
  mode_t umask_ = 077;  // until read: the conservative assumption
  bool rootCreates_ = false;
  UniqueFd cached_;
  std::string cachedPath_;
  std::vector<DirTime> dirTimes_;
  std::unordered_set<std::string> added_;
};

}  // namespace

namespace {
struct Decompressor {
  ArchivePtr outer{archive_read_new()};
  const LayerReader* reader = nullptr;
  static la_ssize_t readCb(archive*, void* self, const void** buf) {
    auto* r = static_cast<const LayerReader*>(self);
    return static_cast<la_ssize_t>((*r)(buf));
  }
  Result<void> open(int fd, const LayerReader* from = nullptr) {
    if (!outer) return fail("libarchive: out of memory");
    // Only built-in decompressors: never an external program.
    archive_read_support_filter_gzip(outer.get());
    archive_read_support_filter_zstd(outer.get());
    archive_read_support_filter_xz(outer.get());
    archive_read_support_filter_bzip2(outer.get());
    archive_read_support_format_raw(outer.get());
    int rc = from ? archive_read_open(outer.get(), const_cast<LayerReader*>(from), nullptr,
                                      &Decompressor::readCb, nullptr)
                  : archive_read_open_fd(outer.get(), fd, 1 << 20);
    if (rc != ARCHIVE_OK) return invalid("reading the layer: " + archiveErrorOf(outer.get()));
    archive_entry* rawEntry;
    if (archive_read_next_header(outer.get(), &rawEntry) != ARCHIVE_OK)
      return invalid("reading the layer: " + archiveErrorOf(outer.get()));
    return {};
  }
};
}  // namespace

struct BackgroundFlusher::State {
  UniqueFd fd;
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::thread t;
};

BackgroundFlusher::BackgroundFlusher(const std::string& path) : st_(std::make_unique<State>()) {
  st_->fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!st_->fd) return;
  State* st = st_.get();
  st_->t = std::thread([st] {
    std::unique_lock lock(st->m);
    while (!st->stop) {
      lock.unlock();
      ::syncfs(st->fd.get());
      lock.lock();
      st->cv.wait_for(lock, std::chrono::milliseconds(50), [st] { return st->stop; });
    }
  });
}

BackgroundFlusher::~BackgroundFlusher() {
  if (!st_->t.joinable()) return;
  {
    std::lock_guard lock(st_->m);
    st_->stop = true;
  }
  st_->cv.notify_all();
  st_->t.join();
}

Compression detectCompression(const void* head, size_t len) {
  auto* m = static_cast<const unsigned char*>(head);
  if (len >= 2 && m[0] == 0x1f && m[1] == 0x8b) return Compression::Gzip;
  if (len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return Compression::Zstd;
  if (len >= 6 && std::memcmp(m,
                              "\xfd"
                              "7zXZ",
                              5) == 0)
    return Compression::Xz;
  if (len >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') return Compression::Bzip2;
  return Compression::None;
}

bool startsLikeTar(const void* head, size_t len) {
  return len >= 262 && std::memcmp(static_cast<const char*>(head) + 257, "ustar", 5) == 0;
}

Result<UnpackStats> unpackLayer(int fd, const std::string& targetDir, const UnpackOptions& opts) {
  return unpackLayerFrom(fd, nullptr, targetDir, opts);
}

Result<UnpackStats> unpackLayerFrom(const LayerReader& read, const std::string& targetDir,
                                    const UnpackOptions& opts) {
  return unpackLayerFrom(-1, &read, targetDir, opts);
}

Result<UnpackStats> unpackLayerFrom(int fd, const LayerReader* read, const std::string& targetDir,
                                    const UnpackOptions& opts) {
  UniqueFd root(::open(targetDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysFail("opening unpack target " + targetDir);

  Decompressor dec;
  TRYV(dec.open(fd, read));
  ArchivePtr inner(archive_read_new());
  if (!inner) return fail("libarchive: out of memory");
  Source src;
  src.outer = dec.outer.get();
  src.limit = opts.maxTotalSize;
  src.hashing = opts.hash;
  archive_read_support_format_tar(inner.get());
  if (archive_read_open(inner.get(), &src, nullptr, readDecompressed, nullptr) != ARCHIVE_OK) {
    if (!src.error.empty()) return invalid(src.error);
    return invalid("reading the layer: " + archiveErrorOf(inner.get()));
  }

  UnpackStats stats;
  Unpacker u(root.get(), opts);
  for (;;) {
    archive_entry* e;
    int r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (!src.error.empty()) return invalid(src.error);
      const char* err = archive_error_string(inner.get());
      return invalid(std::string("reading the layer tar: ") + (err ? err : "unknown error"));
    }
    if (++stats.entries > opts.maxEntries)
      return invalid("the layer has more than " + std::to_string(opts.maxEntries) + " entries");
    TRYV(u.entry(inner.get(), e, stats));
  }
  TRYV(u.finish());
  // The DiffID covers the whole stream, including the padding after the tar's end marker.
  for (;;) {
    const void* buf;
    la_ssize_t n = readDecompressed(inner.get(), &src, &buf);
    if (n == 0) break;
    if (n < 0) return invalid(src.error);
  }
  stats.tarSize = src.total;
  stats.diffId = src.hash.finish();
  return stats;
}

}  // namespace berth::image
