// Snapshotters (containerd's model): a snapshot is a filesystem tree, either Active (writable, for a
// container or a layer being unpacked), View (read-only) or Committed (an immutable layer others build on).
// Backends: overlay (default; a snapshot stores only its diff, layers are overlay lower dirs reached through
// short links) and vfs (every snapshot is a full copy; works on any filesystem). Both pass one conformance
// suite (tests/conformance/snapshot_test.cc).
//
// Metadata lives in the shared SQLite database, one transaction per change; directories are created before
// and removed after their row, and directories without a row (a crash in between) are removed at open.
// Safe to call from several threads: each call holds the database connection's lock (db::Database::lock)
// for its metadata, and not while it walks a tree (usage) or deletes one (in the background).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "db/sqlite.h"

namespace berth::snapshot {

enum class Kind { Active = 1, View = 2, Committed = 3 };
const char* kindName(Kind k);

using Labels = std::map<std::string, std::string>;

struct Info {
  std::string key;
  std::string parent;  // key of the parent snapshot, "" for none
  Kind kind = Kind::Active;
  Labels labels;
  int64_t created = 0;  // unix seconds
};

// A mount to perform, as containerd's mount.Mount: type "bind" or "overlay", options as for mount(8).
struct Mount {
  std::string type, source;
  std::vector<std::string> options;
};

struct Usage {
  uint64_t size = 0;  // bytes on disk of this snapshot's own data
  uint64_t inodes = 0;
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;
  virtual const char* name() const = 0;
  // True when an active snapshot holds only changes over its parent (overlay): layer unpacks then write
  // whiteout markers; false when it is a full copy of the parent (vfs): unpacks apply deletions.
  virtual bool storesDiffs() const = 0;

  // `sync`: whether the commit is synced at once (see db::Sync); a relaxed one rides on the next synced one.
  virtual Result<std::vector<Mount>> prepare(const std::string& key, const std::string& parent,
                                             const Labels& labels = {}, db::Sync sync = db::Sync::Full) = 0;
  virtual Result<std::vector<Mount>> view(const std::string& key, const std::string& parent,
                                          const Labels& labels = {}) = 0;
  virtual Result<std::vector<Mount>> mounts(const std::string& key) = 0;
  // Turns the active snapshot `key` into the committed snapshot `name`.
  virtual Result<void> commit(const std::string& name, const std::string& key, const Labels& labels = {}) = 0;
  // Backends that store diffs only: puts the active snapshot `key` on top of the committed `parent` (a
  // layer unpacked before its place in the chain was known). Unavailable for full-copy backends.
  virtual Result<void> rebase(const std::string& key, const std::string& parent) = 0;
  // Refused (Conflict) while other snapshots build on it. The directory is deleted in the background.
  virtual Result<void> remove(const std::string& key, db::Sync sync = db::Sync::Full) = 0;
  virtual Result<Info> stat(const std::string& key) = 0;
  virtual Result<std::vector<Info>> list() = 0;
  virtual Result<Usage> usage(const std::string& key) = 0;
  // The directory that receives writes of an active snapshot (where a layer is unpacked).
  virtual Result<std::string> writableDir(const std::string& key) = 0;
};

// `root` is the backend's directory (e.g. /var/lib/berth/overlay); metadata goes into `db`.
Result<std::unique_ptr<Snapshotter>> openOverlay(db::Database& db, const std::string& root);
Result<std::unique_ptr<Snapshotter>> openVfs(db::Database& db, const std::string& root);
Result<std::unique_ptr<Snapshotter>> open(const std::string& driver, db::Database& db,
                                          const std::string& root);

// Performs the mounts at `target` in order. Overlay lower-dir lists longer than the kernel's option page are
// shortened to names relative to their common directory, mounted from a thread with its own cwd.
Result<void> mountAll(const std::vector<Mount>& mounts, const std::string& target);
// Unmounts everything at `target` (lazily when busy).
Result<void> unmountAll(const std::string& target);

}  // namespace berth::snapshot
