#include "engine/volumes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

#include "base/fd.h"
#include "base/file.h"
#include "base/log.h"
#include "base/random_id.h"
#include "engine/internal.h"
#include "snapshot/copy.h"

namespace berth::engine {

using json = nlohmann::json;

namespace {

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE volumes (
  name TEXT PRIMARY KEY,
  data TEXT NOT NULL
);
)";

// Go's path.Clean for absolute paths: no "//", ".", "..", or trailing "/".
std::string cleanPath(const std::string& p) {
  return pathFrom(cleanComponents(p));
}

Result<std::string> destinationOf(const std::string& type, const std::string& target) {
  if (target.empty())
    return invalid("invalid mount config for type \"" + type + "\": field Target must not be empty");
  if (target[0] != '/')
    return invalid("invalid mount config for type \"" + type + "\": invalid mount path: '" + target +
                   "' mount path must be absolute");
  std::string d = cleanPath(target);
  if (d == "/")
    return invalid("invalid mount config for type \"" + type +
                   "\": invalid specification: destination "
                   "can't be '/'");
  return d;
}

bool isPropagation(const std::string& s) {
  return s == "shared" || s == "rshared" || s == "slave" || s == "rslave" || s == "private" ||
         s == "rprivate";
}

// The mode of a Binds entry: rw|ro, z|Z, a propagation, nocopy, a consistency, each at most once.
Result<void> applyMode(MountPoint& m, const std::string& spec) {
  bool rwSet = false, labelSet = false, propSet = false, copySet = false, consSet = false;
  if (m.mode.empty()) return {};
  for (auto& o : split(m.mode, ',')) {
    bool* seen = nullptr;
    if (o == "rw" || o == "ro") {
      seen = &rwSet;
      m.rw = o == "rw";
    } else if (o == "z" || o == "Z") {
      seen = &labelSet;  // SELinux relabeling: no SELinux here, accepted as docker does without it
    } else if (isPropagation(o)) {
      seen = &propSet;
      m.propagation = o;
    } else if (o == "nocopy") {
      seen = &copySet;
      m.copyData = false;
    } else if (o == "cached" || o == "delegated" || o == "consistent") {
      seen = &consSet;
    }
    if (!seen || *seen) return invalid("invalid mode: " + m.mode + " (in \"" + spec + "\")");
    *seen = true;
  }
  if (m.type == "bind" && copySet) return invalid("invalid mode: " + m.mode + " (nocopy is for volumes)");
  if (m.type == "volume" && propSet)
    return invalid("invalid mode: " + m.mode + " (a propagation is for bind mounts)");
  return {};
}

int depth(const std::string& p) {
  return static_cast<int>(std::count(p.begin(), p.end(), '/'));
}

}  // namespace

bool validVolumeName(const std::string& s) {
  if (s.size() < 2 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

json MountPoint::toJson() const {
  json j = {{"type", type},
            {"source", source},
            {"name", name},
            {"destination", destination},
            {"rw", rw},
            {"mode", mode},
            {"propagation", propagation},
            {"copyData", copyData},
            {"createSource", createSource}};
  if (!subpath.empty()) j["subpath"] = subpath;
  if (!tmpfsOptions.empty()) j["tmpfsOptions"] = tmpfsOptions;
  return j;
}

MountPoint MountPoint::fromJson(const json& j) {
  MountPoint m;
  m.type = j.value("type", "");
  m.source = j.value("source", "");
  m.name = j.value("name", "");
  m.destination = j.value("destination", "");
  m.rw = j.value("rw", true);
  m.mode = j.value("mode", "");
  m.propagation = j.value("propagation", "");
  m.copyData = j.value("copyData", true);
  m.createSource = j.value("createSource", false);
  m.subpath = j.value("subpath", "");
  m.tmpfsOptions = j.value("tmpfsOptions", "");
  return m;
}

json MountPoint::inspectJson() const {
  json j = {{"Type", type}};
  if (type == "volume") j["Name"] = name;
  j["Source"] = source;
  j["Destination"] = destination;
  if (type == "volume") j["Driver"] = "local";
  j["Mode"] = mode;
  j["RW"] = rw;
  j["Propagation"] = propagation;
  return j;
}

Result<MountPoint> parseBind(const std::string& spec) {
  auto bad = [&] { return invalid("invalid volume specification: '" + spec + "'"); };
  auto parts = split(spec, ':');
  if (spec.empty() || parts.size() > 3) return bad();
  MountPoint m;
  std::string source, target;
  if (parts.size() == 1) {
    target = parts[0];
  } else {
    source = parts[0], target = parts[1];
    if (parts.size() == 3) m.mode = parts[2];
    if (source.empty()) return bad();
  }
  if (parts.size() == 2 && !target.empty() && target[0] != '/') return bad();  // "/foo:rw": no volume
  m.type = !source.empty() && source[0] == '/' ? "bind" : "volume";
  auto dest = destinationOf(m.type, target);
  if (!dest) return invalid("invalid volume specification: '" + spec + "': " + dest.error().message());
  m.destination = *dest;
  if (m.type == "bind") {
    m.source = cleanPath(source);
    m.createSource = true;
    m.propagation = "rprivate";
  } else if (!source.empty()) {
    if (!validVolumeName(source))
      return invalid("create " + source + ": \"" + source +
                     "\" includes invalid characters for a local volume name, only "
                     "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, "
                     "use absolute path");
    m.name = source;
  }
  TRYV(applyMode(m, spec));
  return m;
}

Result<MountPoint> parseMount(const spec::Mount& j) {
  MountPoint m;
  m.type = j.type;
  if (m.type != "bind" && m.type != "volume" && m.type != "tmpfs") {
    if (m.type.empty()) return invalid("invalid mount config: mount type must be given");
    return invalid("invalid mount config for type \"" + m.type + "\": mount type unknown");
  }
  const std::string& source = j.source;
  std::string type = m.type;
  auto cfgErr = [&](const std::string& msg) {
    return invalid("invalid mount config for type \"" + type + "\": " + msg);
  };
  TRY(m.destination, destinationOf(m.type, j.target));
  m.rw = !j.readOnly;
  for (auto [given, key, owner] : {std::tuple{j.bindOptions.has_value(), "BindOptions", "bind"},
                                   std::tuple{j.volumeOptions.has_value(), "VolumeOptions", "volume"},
                                   std::tuple{j.tmpfsOptions.has_value(), "TmpfsOptions", "tmpfs"}})
    if (given && m.type != owner) return cfgErr(std::string(key) + " must not be specified");
  if (m.type == "bind") {
    if (source.empty()) return cfgErr("field Source must not be empty");
    if (source[0] != '/') return cfgErr("invalid mount path: '" + source + "' mount path must be absolute");
    m.source = cleanPath(source);
    m.propagation = "rprivate";
    if (const auto& bo = j.bindOptions) {
      if (!bo->propagation.empty()) {
        if (!isPropagation(bo->propagation)) return cfgErr("invalid propagation mode: " + bo->propagation);
        m.propagation = bo->propagation;
      }
      m.createSource = bo->createMountpoint;
    }
    struct stat st;
    if (!m.createSource && ::stat(m.source.c_str(), &st) < 0)
      return cfgErr("bind source path does not exist: " + m.source);
  } else if (m.type == "volume") {
    if (!source.empty() && !validVolumeName(source))
      return cfgErr("invalid volume name \"" + source + "\": only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed");
    m.name = source;
    if (const auto& vo = j.volumeOptions) {
      m.copyData = !vo->noCopy;
      m.volumeLabels = vo->labels;
      if (vo->driverConfig) {
        m.volumeDriver = vo->driverConfig->name;
        m.volumeOptions = vo->driverConfig->options;
      }
      const std::string& sub = vo->subpath;
      if (!sub.empty()) {
        if (sub[0] == '/') return cfgErr("subpath must be a relative path within the volume");
        for (auto& part : split(sub, '/'))
          if (part == "..") return cfgErr("subpath must be a relative path within the volume");
        m.subpath = sub;
      }
    }
  } else {
    if (!source.empty()) return cfgErr("Source must not be specified");
    std::string opts;
    if (const auto& to = j.tmpfsOptions) {
      if (to->sizeBytes < 0) return cfgErr("invalid tmpfs size: " + std::to_string(to->sizeBytes));
      if (to->sizeBytes > 0) opts = "size=" + std::to_string(to->sizeBytes);
      if (to->mode != 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%o", to->mode & 07777);
        opts += (opts.empty() ? "" : ",") + std::string("mode=") + buf;
      }
    }
    m.tmpfsOptions = opts;
  }
  return m;
}

void sortMounts(std::vector<MountPoint>& mounts) {
  std::stable_sort(mounts.begin(), mounts.end(), [](const MountPoint& a, const MountPoint& b) {
    return depth(a.destination) < depth(b.destination);
  });
}

Result<std::vector<MountPoint>> mountsOf(const spec::Config& config, const spec::HostConfig& hc,
                                         const std::vector<MountPoint>& from,
                                         const std::vector<std::string>& imageVolumes) {
  std::map<std::string, MountPoint> byDest;
  for (auto& m : from) byDest[m.destination] = m;
  std::set<std::string> given;  // destinations of Binds and Mounts (each at most once)
  auto add = [&](MountPoint m) -> Result<void> {
    if (!given.insert(m.destination).second) return invalid("Duplicate mount point: " + m.destination);
    byDest[m.destination] = std::move(m);
    return {};
  };
  for (const std::string& spec : hc.binds) {
    TRY(MountPoint m, parseBind(spec));
    TRYV(add(std::move(m)));
  }
  for (const spec::Mount& j : hc.mounts) {
    TRY(MountPoint m, parseMount(j));
    TRYV(add(std::move(m)));
  }
  for (auto& [path, _] : config.volumes) {
    if (path.find(':') != std::string::npos) {  // old clients put "src:dst" here as well
      TRY(MountPoint m, parseBind(path));
      if (!byDest.count(m.destination)) byDest[m.destination] = m;
      continue;
    }
    TRY(std::string dest, destinationOf("volume", path));
    if (byDest.count(dest)) continue;
    MountPoint m;
    m.type = "volume";
    m.destination = dest;
    byDest[dest] = m;
  }
  for (auto& path : imageVolumes) {
    if (path.empty() || path[0] != '/') continue;  // the image's own mistake: docker skips it as well
    std::string dest = cleanPath(path);
    if (dest == "/" || byDest.count(dest)) continue;
    MountPoint m;
    m.type = "volume";
    m.destination = dest;
    byDest[dest] = m;
  }
  std::vector<MountPoint> out;
  for (auto& [d, m] : byDest) out.push_back(m);
  sortMounts(out);
  return out;
}

Result<std::unique_ptr<Volumes>> Volumes::open(db::Database& db, const std::string& root, Trash& trash) {
  std::unique_ptr<Volumes> vs(new Volumes(db, trash));
  vs->root_ = root;
  TRYV(ensureDir(root, 0700));
  TRYV(db.migrate("volumes", {kSchemaV1}));
  TRY(auto st, db.prepare("SELECT name, data FROM volumes"));
  for (;;) {
    TRY(bool row, st.step());
    if (!row) break;
    auto j = json::parse(st.text(1), nullptr, false);
    if (!j.is_object()) {
      log::warn("skipping an unreadable volume record: " + st.text(0));
      continue;
    }
    Volume v;
    v.name = st.text(0);
    v.driver = j.value("driver", "local");
    v.created = j.value("created", "");
    try {
      v.labels = j.value("labels", std::map<std::string, std::string>{});
      v.options = j.value("options", std::map<std::string, std::string>{});
    } catch (const json::exception&) {
      log::warn("volume " + v.name + ": unreadable labels or options, dropped");
    }
    vs->byName_[v.name] = v;
  }
  // Directories without records: adopted (a create or remove was cut short); records without a directory
  // get an empty one back.
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sysFail("opening " + root);
  TRY(auto names, dirEntries(dir.get(), root));
  for (auto& n : names) {
    if (vs->byName_.count(n) || !validVolumeName(n)) continue;
    struct stat st;
    if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) continue;
    Volume v;
    v.name = n;
    v.created = log::nowRfc3339();
    log::info("adopting volume directory " + root + "/" + n);
    TRYV(vs->save(v));
    vs->byName_[n] = v;
  }
  for (auto& [n, v] : vs->byName_) TRYV(mkdirAll(vs->dataDir(n), 0755));
  return vs;
}

Result<void> Volumes::save(const Volume& v) {
  TRY(auto tx, db::Transaction::begin(db_, db::Sync::Relaxed));
  TRY(auto st, db_.prepare("INSERT OR REPLACE INTO volumes (name, data) VALUES (?, ?)"));
  json j = {{"driver", v.driver}, {"created", v.created}, {"labels", v.labels}, {"options", v.options}};
  TRYV(st.bind(1, v.name).bind(2, j.dump()).run());
  return tx.commit();
}

Result<Volume> Volumes::find(const std::string& name) const {
  if (auto it = byName_.find(name); it != byName_.end()) return it->second;
  return fail(ErrorCategory::NotFound, "get " + name + ": no such volume");
}

std::vector<Volume> Volumes::list() const {
  std::vector<Volume> out;
  for (auto& [n, v] : byName_) out.push_back(v);
  return out;
}

Result<Volume> Volumes::create(const std::string& name, const std::string& driverIn,
                               const std::map<std::string, std::string>& labels,
                               const std::map<std::string, std::string>& options, bool* created) {
  std::string driver = driverIn.empty() ? "local" : driverIn;
  if (created) *created = false;
  if (driver != "local")
    return fail(ErrorCategory::NotFound,
                "error looking up volume plugin " + driver + ": plugin \"" + driver + "\" not found");
  if (!validVolumeName(name))
    return invalid(
        "create " + name + ": \"" + name +
        "\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" "
        "are allowed. If you intended to pass a host directory, use absolute path");
  for (auto& [k, v] : options)
    if (k != "type" && k != "device" && k != "o" && k != "size")
      return invalid("create " + name + ": invalid option key: \"" + k + "\"");
  if (options.count("size") && !options.count("type"))
    return invalid("create " + name + ": quota size requested but no quota support");
  if (options.count("device") != options.count("type"))
    return invalid("create " + name + ": missing required option: \"" +
                   std::string(options.count("type") ? "device" : "type") + "\"");
  if (auto it = byName_.find(name); it != byName_.end()) return it->second;  // docker: the existing one
  Volume v;
  v.name = name;
  v.driver = driver;
  v.created = log::nowRfc3339();
  v.labels = labels;
  v.options = options;
  // The directory first: a crash before the record leaves a directory that the next start adopts.
  TRYV(mkdirAll(dataDir(name), 0755));
  TRYV(save(v));
  byName_[name] = v;
  if (created) *created = true;
  return v;
}

Result<Volume> Volumes::createAnonymous() {
  std::string name;
  do name = randomHexId();
  while (byName_.count(name));
  return create(name, "local", {{kAnonymousLabel, ""}}, {});
}

Result<void> Volumes::remove(const std::string& name, const std::vector<std::string>& users) {
  TRY(Volume v, find(name));
  if (!users.empty()) {
    std::string list;
    for (auto& u : users) list += (list.empty() ? "" : ", ") + u;
    return fail(ErrorCategory::Conflict, "remove " + name + ": volume is in use - [" + list + "]");
  }
  unmountIfMounted(v);
  // The record first: a crash before the directory goes leaves a directory the next start adopts.
  TRY(auto tx, db::Transaction::begin(db_));
  TRY(auto st, db_.prepare("DELETE FROM volumes WHERE name = ?"));
  TRYV(st.bind(1, name).run());
  TRYV(tx.commit());
  byName_.erase(name);
  TRYV(trash_.discard(root_ + "/" + name));
  return {};
}

namespace {

bool isMountPoint(const std::string& path) {
  struct stat a, b;
  if (::stat(path.c_str(), &a) < 0 || ::stat((path + "/..").c_str(), &b) < 0) return false;
  return a.st_dev != b.st_dev;
}

}  // namespace

Result<std::unique_ptr<StagedMount>> StagedMount::bind(int fd, const std::string& where) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return sysFail("stat of " + where);
  auto m = std::make_unique<StagedMount>();
  m->dir_ = S_ISDIR(st.st_mode);
  if (m->dir_) {
    if (::mkdir(where.c_str(), 0700) < 0 && errno != EEXIST) return sysFail("mkdir " + where);
  } else {
    UniqueFd f(::open(where.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!f) return sysFail("creating " + where);
  }
  std::string src = "/proc/self/fd/" + std::to_string(fd);
  if (::mount(src.c_str(), where.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    int err = errno;
    m->dir_ ? ::rmdir(where.c_str()) : ::unlink(where.c_str());
    return sysFail("binding " + where, err);
  }
  m->path_ = where;
  return m;
}

StagedMount::~StagedMount() {
  if (path_.empty()) return;
  ::umount2(path_.c_str(), MNT_DETACH);
  dir_ ? ::rmdir(path_.c_str()) : ::unlink(path_.c_str());
}

Result<void> Volumes::mountIfNeeded(const Volume& v) {
  if (!v.options.count("type")) return {};
  std::string dir = dataDir(v.name);
  if (isMountPoint(dir)) return {};
  std::string type = v.options.at("type"), device = v.options.at("device");
  std::string o = v.options.count("o") ? v.options.at("o") : "";
  unsigned long flags = 0;
  std::string data;
  for (auto& x : split(o, ',')) {
    if (x == "bind")
      flags |= MS_BIND;
    else if (x == "rbind")
      flags |= MS_BIND | MS_REC;
    else if (x == "ro")
      flags |= MS_RDONLY;
    else if (x == "nosuid")
      flags |= MS_NOSUID;
    else if (x == "nodev")
      flags |= MS_NODEV;
    else if (x == "noexec")
      flags |= MS_NOEXEC;
    else if (!x.empty())
      data += (data.empty() ? "" : ",") + x;
  }
  if (v.options.count("size"))
    data += (data.empty() ? "" : ",") + std::string("size=") + v.options.at("size");
  if (::mount(device.c_str(), dir.c_str(), type.c_str(), flags, data.empty() ? nullptr : data.c_str()) < 0)
    return sysFail("error while mounting volume '" + dir + "' (volume " + v.name + ": " + device + " as " +
                   type + ")");
  return {};
}

void Volumes::unmountIfMounted(const Volume& v) {
  if (!v.options.count("type")) return;
  std::string dir = dataDir(v.name);
  if (isMountPoint(dir) && ::umount2(dir.c_str(), MNT_DETACH) < 0)
    log::warn("volume " + v.name + ": unmounting " + dir + ": " + std::strerror(errno));
}

std::shared_ptr<std::mutex> Volumes::copyLock(const std::string& name) {
  std::lock_guard lock(copyLocksMu_);
  std::erase_if(copyLocks_, [](auto& kv) { return kv.second.expired(); });
  std::shared_ptr<std::mutex> m = copyLocks_[name].lock();
  if (!m) copyLocks_[name] = m = std::make_shared<std::mutex>();
  return m;
}

Result<void> Volumes::copyUp(const std::string& name, const std::string& subpath, int imageDirFd) {
  std::shared_ptr<std::mutex> turn = copyLock(name);
  std::lock_guard lock(*turn);
  std::string dst = dataDir(name) + (subpath.empty() ? "" : "/" + subpath);
  UniqueFd d(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) return sysFail("opening volume " + name);
  DIR* dp = ::fdopendir(::dup(d.get()));
  if (!dp) return sysFail("reading volume " + name);
  bool empty = true;
  while (dirent* e = ::readdir(dp))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) {
      empty = false;
      break;
    }
  ::closedir(dp);
  if (!empty) return {};  // docker copies into an empty volume only
  std::string src = "/proc/self/fd/" + std::to_string(imageDirFd);
  if (auto r = snapshot::copyTree(src, dst); !r)
    return std::unexpected(r.error().context("copying the image's content into volume " + name));
  struct stat st;
  if (::fstat(imageDirFd, &st) == 0) {
    if (::fchown(d.get(), st.st_uid, st.st_gid) < 0) return sysFail("chown of volume " + name);
    if (::fchmod(d.get(), st.st_mode & 07777) < 0) return sysFail("chmod of volume " + name);
  }
  return {};
}

int64_t Volumes::sizeOf(const std::string& name) const {
  // Bytes of regular files below the volume's directory (no symlink followed, hard links once).
  int64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::string> dirs{dataDir(name)};
  while (!dirs.empty()) {
    std::string d = dirs.back();
    dirs.pop_back();
    DIR* dp = ::opendir(d.c_str());
    if (!dp) continue;
    while (dirent* e = ::readdir(dp)) {
      if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
      struct stat st;
      std::string p = d + "/" + e->d_name;
      if (::lstat(p.c_str(), &st) < 0) continue;
      if (S_ISDIR(st.st_mode))
        dirs.push_back(p);
      else if (S_ISREG(st.st_mode) && seen.insert({st.st_dev, st.st_ino}).second)
        total += st.st_size;
    }
    ::closedir(dp);
  }
  return total;
}

json Volumes::toJson(const Volume& v) const {
  return {{"CreatedAt", v.created},
          {"Driver", v.driver},
          {"Labels", v.labels.empty() ? json(nullptr) : json(v.labels)},
          {"Mountpoint", dataDir(v.name)},
          {"Name", v.name},
          {"Options", v.options.empty() ? json(nullptr) : json(v.options)},
          {"Scope", "local"}};
}

}  // namespace berth::engine
