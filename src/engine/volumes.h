// docker's volumes (the `local` driver) and the mounts of a container: named and anonymous volumes under
// <data-root>/volumes/<name>/_data, host directories bound in (`-v /host:/path`), tmpfs (`--mount
// type=tmpfs`). Volume records live in the engine's SQLite database; a container's mount points in its
// record. Used under the engine's lock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/trash.h"
#include "db/sqlite.h"
#include "engine/spec.h"

namespace berth::engine {

// docker's label on anonymous volumes (`volume prune` without --all removes only those).
inline constexpr const char* kAnonymousLabel = "com.docker.volume.anonymous";

struct Volume {
  std::string name, driver = "local", created;
  std::map<std::string, std::string> labels, options;  // options: the local driver's type, device, o
  bool anonymous() const { return labels.count(kAnonymousLabel) != 0; }
};

// One mount of a container (docker's MountPoint).
struct MountPoint {
  std::string type;    // bind | volume | tmpfs
  std::string source;  // bind: the host path; volume: its directory (filled in when the volume is known)
  std::string name;    // volume: its name ("" until an anonymous one is made)
  std::string destination;
  bool rw = true;
  std::string mode;           // as the user wrote it ("ro,z"), docker's Mode
  std::string propagation;    // bind: rprivate unless given
  bool copyData = true;       // volume: seeded with the image's content at the destination (not with nocopy)
  bool createSource = false;  // bind from Binds: a missing host directory is made (docker's legacy -v)
  std::string subpath;        // volume: a directory inside it (--mount volume-subpath=)
  std::string tmpfsOptions;   // tmpfs: "size=…,mode=…"
  std::map<std::string, std::string> volumeLabels, volumeOptions;  // --mount volume-label/volume-opt
  std::string volumeDriver;                                        // --mount volume-driver
  nlohmann::json toJson() const;                                   // the record's shape
  static MountPoint fromJson(const nlohmann::json& j);
  nlohmann::json inspectJson() const;  // docker's Mounts entry
};

// HostConfig.Binds, HostConfig.Mounts, Config.Volumes of a create request, checked and merged as docker
// does (Binds and Mounts override volumes-from entries at the same destination; Config.Volumes only add
// where nothing is mounted): the container's mount points in mount order (parents before children).
// `from`: the mounts of HostConfig.VolumesFrom's containers, with their ":ro"/":rw" already applied.
// `imageVolumes`: the image's VOLUMEs, anonymous volumes where nothing else is mounted.
Result<std::vector<MountPoint>> mountsOf(const spec::Config& config, const spec::HostConfig& hostConfig,
                                         const std::vector<MountPoint>& from,
                                         const std::vector<std::string>& imageVolumes = {});
// One entry of HostConfig.Binds ("name:/path:ro", "/host:/path", "/path").
Result<MountPoint> parseBind(const std::string& spec);
// One entry of HostConfig.Mounts (docker's Mount object).
Result<MountPoint> parseMount(const spec::Mount& m);
// Sorts mounts so that a directory is mounted before what is mounted below it.
void sortMounts(std::vector<MountPoint>& mounts);
// docker's rule for volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
bool validVolumeName(const std::string& name);

// A bind mount of this process's, made for the time of a container's creation and undone with this
// object (the container's mount namespace keeps its own copy): how a path resolved safely (an fd) reaches a
// runtime in another mount namespace, where a /proc/self/fd magic link could not be bound.
class StagedMount {
 public:
  // Binds the object `fd` refers to at `where` (made as a directory or an empty file).
  static Result<std::unique_ptr<StagedMount>> bind(int fd, const std::string& where);
  ~StagedMount();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool dir_ = true;
};

class Volumes {
 public:
  // Records from the database; a directory under <root> without a record (a crash between the two
  // steps of a create or a remove) is adopted as a volume, so no data is ever lost.
  static Result<std::unique_ptr<Volumes>> open(db::Database& db, const std::string& root, Trash& trash);

  // NotFound "get NAME: no such volume".
  Result<Volume> find(const std::string& name) const;
  std::vector<Volume> list() const;
  // docker's create: an existing volume of that name is returned as it is (same driver).
  Result<Volume> create(const std::string& name, const std::string& driver,
                        const std::map<std::string, std::string>& labels,
                        const std::map<std::string, std::string>& options, bool* created = nullptr);
  // An anonymous volume (a random 64-hex name).
  Result<Volume> createAnonymous();
  // `users`: the containers that use it (refused when there are any).
  Result<void> remove(const std::string& name, const std::vector<std::string>& users);
  std::string dataDir(const std::string& name) const { return root_ + "/" + name + "/_data"; }
  // A volume with the local driver's options (type/device/o) is mounted while a container uses it.
  Result<void> mountIfNeeded(const Volume& v);
  void unmountIfMounted(const Volume& v);
  // Seeds an empty volume directory with `imageDir`'s content, owner and mode (docker's copy-up);
  // `imageDirFd` is that directory resolved inside the container's root. Unlike the rest of this class
  // it needs no lock of its caller (a start copies without the engine's): two copy-ups into one volume
  // take turns, so one seeds it and the other finds it seeded.
  Result<void> copyUp(const std::string& name, const std::string& subpath, int imageDirFd);
  // Bytes used by the volume's files (docker system df).
  int64_t sizeOf(const std::string& name) const;

  nlohmann::json toJson(const Volume& v) const;  // docker's Volume object

 private:
  Volumes(db::Database& db, Trash& trash) : db_(db), trash_(trash) {}
  // Committed relaxed (under the engine's lock): the engine syncs (db::syncCommitted) once it let the lock
  // go, before the operation answers; a crash before leaves the volume's directory, which open() adopts.
  // A removal's commit is synced at once: the directory goes to the trash after it.
  Result<void> save(const Volume& v);
  db::Database& db_;
  Trash& trash_;
  std::string root_;
  std::map<std::string, Volume> byName_;
  // One lock per volume being seeded (copyUp), kept while a copy-up holds it.
  std::mutex copyLocksMu_;
  std::map<std::string, std::weak_ptr<std::mutex>> copyLocks_;
  std::shared_ptr<std::mutex> copyLock(const std::string& name);
};

}  // namespace berth::engine
