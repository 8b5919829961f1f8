// Engine: a container's files seen from outside: docker cp (archive HEAD/GET/PUT), export and diff.
//
// Container paths are untrusted: they resolve with openat2(RESOLVE_IN_ROOT) against the container's root, so
// ".." and symlinks (absolute or relative) stay inside it, as they would in the container; trees are read by
// image::TreeTar (never following a symlink) and written by the layer unpacker (entries never go through a
// symlink).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <dirent.h>

#include <cstring>

#include "base/file.h"
#include "base/log.h"
#include "base/openat2.h"
#include "base/random_id.h"
#include "engine/engine.h"
#include "image/tree_tar.h"
#include "image/unpack.h"
#include "snapshot/snapshotter.h"

namespace berth::engine {

using nlohmann::json;

namespace {

// A container path as docker reads it: relative means from "/"; a trailing "/" follows a final symlink and
// asserts a directory; a trailing "/." means the directory's contents.
struct ContainerPath {
  std::string clean;  // "/a/b"
  std::string dir;    // "/a"
  std::string base;   // "b" ("." for the root or a "/." path)
  bool follow = false, contents = false;
};

ContainerPath parsePath(const std::string& raw) {
  ContainerPath p;
  p.follow = raw.ends_with("/") || raw.ends_with("/.") || raw == ".";
  p.contents = raw.ends_with("/.") || raw == ".";
  std::vector<std::string> parts = cleanComponents(raw);
  p.clean = pathFrom(parts);
  if (parts.empty()) {
    p.dir = "/", p.base = ".", p.follow = true;
  } else {
    p.base = parts.back();
    p.dir = p.clean.substr(0, p.clean.size() - p.base.size());
    if (p.dir.size() > 1) p.dir.pop_back();
  }
  if (p.contents) p.base = ".";
  return p;
}

uint32_t goFileMode(mode_t m) {
  uint32_t g = m & 0777;
  if (m & S_ISUID) g |= 1u << 23;
  if (m & S_ISGID) g |= 1u << 22;
  if (m & S_ISVTX) g |= 1u << 20;
  switch (m & S_IFMT) {
    case S_IFDIR:
      g |= 1u << 31;
      break;
    case S_IFLNK:
      g |= 1u << 27;
      break;
    case S_IFIFO:
      g |= 1u << 25;
      break;
    case S_IFSOCK:
      g |= 1u << 24;
      break;
    case S_IFCHR:
      g |= (1u << 26) | (1u << 21);
      break;
    case S_IFBLK:
      g |= 1u << 26;
      break;
  }
  return g;
}

// The thing a path names: its parent directory (opened inside the root) and its name there.
struct Located {
  UniqueFd dir;
  std::string name;  // "." when `dir` is the thing itself
  struct stat st {};
};

Result<Located> locate(int root, const ContainerPath& p, const std::string& container) {
  Located l;
  auto notFound = [&] {
    return fail(ErrorCategory::NotFound, "Could not find the file " + p.clean + " in container " + container);
  };
  if (p.follow) {
    l.dir.reset(openInRoot(root, p.clean.c_str(), O_PATH));
    l.name = ".";
  } else {
    l.dir.reset(openInRoot(root, p.dir.c_str(), O_PATH | O_DIRECTORY));
    l.name = p.base;
  }
  if (!l.dir) {
    if (errno == ENOENT || errno == ENOTDIR) return notFound();
    return sysFail("resolving " + p.clean);
  }
  if (::fstatat(l.dir.get(), l.name.c_str(), &l.st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0) {
    if (errno == ENOENT) return notFound();
    return sysFail("reading " + p.clean);
  }
  if (p.follow && !S_ISDIR(l.st.st_mode))
    return fail(ErrorCategory::InvalidArgument, p.clean + " is not a directory");
  return l;
}

PathStat statOf(const Located& l, const ContainerPath& p) {
  PathStat s;
  s.name = p.clean == "/" ? "/" : p.contents ? "." : p.base;
  s.size = l.st.st_size;
  s.mode = goFileMode(l.st.st_mode);
  s.mtimeNs = static_cast<int64_t>(l.st.st_mtim.tv_sec) * 1000000000LL + l.st.st_mtim.tv_nsec;
  if (S_ISLNK(l.st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlinkat(l.dir.get(), l.name.c_str(), buf, sizeof buf - 1);
    if (n > 0) {
      std::string t(buf, static_cast<size_t>(n));
      s.linkTarget = t[0] == '/' ? t : parsePath(p.dir + "/" + t).clean;
    }
  }
  return s;
}

}  // namespace

// A container's root for the time of one request: its live mount when it runs, else its snapshot mounted
// privately (unmounted at the end).
class Engine::RootfsAccess {
 public:
  ~RootfsAccess() {
    root.reset();
    if (!tempMount.empty()) {
      (void)snapshot::unmountAll(tempMount);
      ::rmdir(tempMount.c_str());
    }
  }
  UniqueFd root;
  std::string tempMount;
  bool readOnly = false;
};

Result<std::unique_ptr<Engine::RootfsAccess>> Engine::openRootfs(const std::string& ref, std::string* id,
                                                                 bool withMounts) {
  std::unique_lock lock(m_);
  TRY(*id, resolveSettledLocked(lock, ref));
  auto access = std::make_unique<RootfsAccess>();
  access->readOnly = containers_.at(*id).hostConfig.readonlyRootfs;
  std::string dir = containerDir(*id);
  const Container& c = containers_.at(*id);
  // A running container's own view (its volumes and binds included, read-only ones read-only).
  if (withMounts && hasProcess(c.state.status) && c.state.pid > 0) {
    access->root.reset(
        ::open(("/proc/" + std::to_string(c.state.pid) + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (access->root) return access;
  }
  struct stat a, b;
  if ((!withMounts || c.mounts.empty()) && ::stat((dir + "/rootfs").c_str(), &a) == 0 &&
      ::stat(dir.c_str(), &b) == 0 && a.st_dev != b.st_dev) {
    access->root.reset(::open((dir + "/rootfs").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (access->root) return access;
  }
  auto cached = layerMounts_.find(*id);
  if (cached == layerMounts_.end())
    return fail(ErrorCategory::NotFound, "the writable layer of container " + *id + " is missing");
  const std::vector<snapshot::Mount>& mounts = cached->second;
  std::string target = opts_.runRoot + "/tmp/fs-" + randomHexId().substr(0, 16);
  TRYV(mkdirAll(target, 0700));
  if (auto r = snapshot::mountAll(mounts, target); !r) {
    ::rmdir(target.c_str());
    return std::unexpected(r.error().context("mounting the container's filesystem"));
  }
  access->tempMount = target;
  access->root.reset(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!access->root) return sysFail("opening the container's filesystem");
  // A stopped container's volumes and binds, where they would be mounted (docker's cp sees them too);
  // the places resolved inside the root, so that an image's symlink cannot put one elsewhere.
  for (auto& m : c.mounts) {
    if (!withMounts || m.type == "tmpfs") continue;
    std::string src = m.type == "volume" ? volumes_->dataDir(m.name) : m.source;
    UniqueFd at(openInRoot(access->root.get(), m.destination.c_str(), O_PATH));
    if (!at || !pathExists(src)) continue;  // the start makes the place; nothing to see before
    std::string where = "/proc/self/fd/" + std::to_string(at.get());
    if (::mount(src.c_str(), where.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
      return sysFail("mounting " + src + " at " + m.destination + " for the request");
    if (!m.rw)
      if (UniqueFd top(openInRoot(access->root.get(), m.destination.c_str(), O_PATH)); top) {
        std::string t = "/proc/self/fd/" + std::to_string(top.get());
        (void)::mount(nullptr, t.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr);
      }
  }
  return access;
}

Result<PathStat> Engine::archiveStat(const std::string& ref, const std::string& path) {
  std::string id;
  TRY(auto fs, openRootfs(ref, &id));
  ContainerPath p = parsePath(path);
  TRY(Located l, locate(fs->root.get(), p, ref));
  return statOf(l, p);
}

Result<void> Engine::archiveGet(const std::string& ref, const std::string& path,
                                const std::function<void(const PathStat&)>& begin, const ByteSink& sink) {
  std::string id;
  TRY(auto fs, openRootfs(ref, &id));
  ContainerPath p = parsePath(path);
  TRY(Located l, locate(fs->root.get(), p, ref));
  begin(statOf(l, p));
  image::TreeTar tar(sink);
  // Entries are named as the client asked (the last element, "." for contents), not as symlinks resolved.
  TRYV(tar.add(l.dir.get(), l.name, p.base));
  return tar.close();
}

Result<void> Engine::archivePut(const std::string& ref, const std::string& path, bool copyUidGid,
                                bool noOverwriteDirNonDir, const ByteSource& body) {
  std::string id;
  TRY(auto fs, openRootfs(ref, &id));
  if (fs->readOnly) return fail(ErrorCategory::PermissionDenied, "container rootfs is marked read-only");
  ContainerPath p = parsePath(path);
  UniqueFd dest(openInRoot(fs->root.get(), p.clean.c_str(), O_PATH));
  if (!dest) {
    if (errno == ENOENT)
      return fail(ErrorCategory::NotFound, "Could not find the file " + p.clean + " in container " + ref);
    return sysFail("resolving " + p.clean);
  }
  struct stat st;
  if (::fstat(dest.get(), &st) < 0) return sysFail("reading " + p.clean);
  if (!S_ISDIR(st.st_mode)) return invalid("extraction point is not a directory: " + p.clean);
  image::UnpackOptions o;
  o.whiteouts = image::Whiteouts::None;
  o.chown = copyUidGid;
  o.noOverwriteDirNonDir = noOverwriteDirNonDir;
  o.hash = false;
  auto r = image::unpackLayerFrom(body, "/proc/self/fd/" + std::to_string(dest.get()), o);
  if (!r) return std::unexpected(r.error().context("extracting into " + p.clean));
  return {};
}

Result<void> Engine::exportFs(const std::string& ref, const std::function<void()>& begin,
                              const ByteSink& sink) {
  std::string id;
  TRY(auto fs, openRootfs(ref, &id, false));  // docker export leaves volumes out
  begin();
  image::TreeTar tar(sink);
  TRYV(tar.add(fs->root.get(), ".", ""));
  return tar.close();
}

namespace {

// The upper directory of an overlay container walked against its lower directories.
struct DiffWalker {
  std::vector<UniqueFd> lowers;
  json out = json::array();

  bool inLower(const std::string& rel) {
    for (auto& l : lowers) {
      struct stat st;
      UniqueFd fd(openBeneathNoSymlinks(l.get(), rel.c_str(), O_PATH | O_NOFOLLOW));
      if (fd && ::fstat(fd.get(), &st) == 0) return true;
    }
    return false;
  }

  Result<void> walk(int dirFd, const std::string& rel, int depth) {
    if (depth > 1024) return invalid("the container's filesystem is too deep");
    TRY(auto names, dirEntries(dirFd, rel.empty() ? "/" : rel));
    std::sort(names.begin(), names.end());
    for (auto& n : names) {
      std::string path = rel + "/" + n;
      struct stat st;
      if (::fstatat(dirFd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        out.push_back({{"Path", path}, {"Kind", 2}});
        continue;
      }
      bool existed = inLower(path.substr(1));
      out.push_back({{"Path", path}, {"Kind", existed ? 0 : 1}});
      if (S_ISDIR(st.st_mode)) {
        UniqueFd sub(::openat(dirFd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub) TRYV(walk(sub.get(), path, depth + 1));
      }
    }
    return {};
  }
};

}  // namespace

Result<json> Engine::changes(const std::string& ref) {
  std::string id, upper;
  std::vector<std::string> lowerDirs;
  {
    std::lock_guard lock(m_);
    TRY(id, resolveId(ref));
  }
  snapshot::Snapshotter& snaps = images_->snapshotter();
  if (!snaps.storesDiffs())
    return fail(ErrorCategory::Unavailable,
                std::string("docker diff needs a storage driver that keeps changes apart; ") + snaps.name() +
                    " keeps full copies");
  TRY(upper, snaps.writableDir("container-" + id));
  TRY(auto mounts, snaps.mounts("container-" + id));
  for (auto& m : mounts)
    for (auto& o : m.options)
      if (o.starts_with("lowerdir="))
        for (auto& l : split(o.substr(9), ':')) lowerDirs.push_back(l);
  DiffWalker w;
  for (auto& l : lowerDirs) {
    UniqueFd fd(::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (fd) w.lowers.push_back(std::move(fd));
  }
  UniqueFd root(::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysFail("opening the container's writable layer");
  TRYV(w.walk(root.get(), "", 0));
  return w.out;
}

}  // namespace berth::engine
