#include "snapshot/snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "base/fd.h"
#include "base/file.h"
#include "snapshot/base.h"

namespace berth::snapshot {

const char* kindName(Kind k) {
  switch (k) {
    case Kind::Active:
      return "active";
    case Kind::View:
      return "view";
    case Kind::Committed:
      return "committed";
  }
  return "unknown";
}

namespace {

constexpr std::string_view kSchemaV1 = R"(
CREATE TABLE snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  driver TEXT NOT NULL,
  key TEXT NOT NULL,
  parent_id INTEGER REFERENCES snapshots(id),
  kind INTEGER NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL,
  UNIQUE (driver, key)
);
CREATE INDEX snapshots_parent ON snapshots(parent_id);
)";

std::string labelsJson(const Labels& l) {
  return nlohmann::json(l).dump();
}

Labels parseLabels(const std::string& s) {
  Labels out;
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

Result<void> validKey(const std::string& key) {
  if (key.empty()) return invalid("a snapshot key must not be empty");
  if (key.size() > 1024) return invalid("snapshot key too long");
  return {};
}

void walkUsage(int dirfd, Usage& u, std::set<std::pair<dev_t, ino_t>>& seen) {
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return;
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
    u.inodes++;
    u.size += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) walkUsage(sub.get(), u, seen);
    }
  }
  ::closedir(d);
}

}  // namespace

Result<void> Base::init() {
  TRYV(db_.migrate("snapshots", {kSchemaV1}));
  TRYV(mkdirAll(root_ + "/snapshots", 0700));
  TRY(trash_, Trash::open(root_ + "/trash"));
  // Directories without a row are what a crash between the two halves of a change leaves: remove them.
  std::set<std::string> known;
  {
    TRY(auto q, db_.prepare("SELECT id FROM snapshots WHERE driver = ?"));
    q.bind(1, name());
    for (;;) {
      TRY(bool row, q.step());
      if (!row) break;
      known.insert(std::to_string(q.integer(0)));
    }
  }
  DIR* d = ::opendir((root_ + "/snapshots").c_str());
  if (!d) return sysFail("opening " + root_ + "/snapshots");
  std::vector<std::string> orphans;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (!known.count(e->d_name)) orphans.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (auto& o : orphans) {
    auto id = parseUint(o);
    if (id) forget(static_cast<int64_t>(*id));
    TRYV_CTX(trash_->discard(root_ + "/snapshots/" + o), "removing an unreferenced snapshot directory");
  }
  return {};
}

Result<Row> Base::get(const std::string& key) {
  TRY(auto q, db_.prepare("SELECT s.id, s.kind, s.labels, s.created, p.key FROM snapshots s "
                          "LEFT JOIN snapshots p ON p.id = s.parent_id WHERE s.driver = ? AND s.key = ?"));
  q.bind(1, name()).bind(2, key);
  TRY(bool found, q.step());
  if (!found) return fail(ErrorCategory::NotFound, "snapshot " + key + " does not exist");
  Row r;
  r.id = q.integer(0);
  r.info.key = key;
  r.info.kind = static_cast<Kind>(q.integer(1));
  r.info.labels = parseLabels(q.text(2));
  r.info.created = q.integer(3);
  r.info.parent = q.isNull(4) ? "" : q.text(4);
  return r;
}

Result<std::vector<Row>> Base::chainOf(const Row& r) {
  std::vector<Row> chain;
  std::string parent = r.info.parent;
  while (!parent.empty()) {
    TRY(Row p, get(parent));
    parent = p.info.parent;
    chain.push_back(std::move(p));
    if (chain.size() > 1000) return fail("snapshot " + r.info.key + ": parent chain too long or cyclic");
  }
  return chain;
}

Result<std::vector<Mount>> Base::create(Kind kind, const std::string& key, const std::string& parent,
                                        const Labels& labels, db::Sync sync) {
  auto held = db_.lock();
  TRYV(validKey(key));
  TRY(auto tx, db::Transaction::begin(db_, sync));
  if (get(key)) return fail(ErrorCategory::Conflict, "snapshot " + key + " already exists");
  std::optional<Row> p;
  if (!parent.empty()) {
    auto pr = get(parent);
    if (!pr) return std::unexpected(pr.error().context("parent of " + key));
    if (pr->info.kind != Kind::Committed)
      return invalid("parent " + parent + " of snapshot " + key + " is not committed");
    p = std::move(*pr);
  }
  TRY(auto ins,
      db_.prepare(
          "INSERT INTO snapshots (driver, key, parent_id, kind, labels, created) VALUES (?, ?, ?, ?, ?, ?)"));
  ins.bind(1, name()).bind(2, key);
  if (p)
    ins.bind(3, p->id);
  else
    ins.bindNull(3);
  ins.bind(4, static_cast<int64_t>(kind))
      .bind(5, labelsJson(labels))
      .bind(6, static_cast<int64_t>(::time(nullptr)));
  TRYV(ins.run());
  TRY(Row self, get(key));
  std::vector<Row> chain;
  if (p) {
    TRY(chain, chainOf(self));
  }
  std::string dir = dirOf(self.id);
  TRYV(removeAll(dir));  // a crash may have left a directory for a rolled-back id
  Defer cleanup([&] {
    if (!dir.empty()) {
      forget(self.id);
      (void)removeAll(dir);
    }
  });
  TRYV_CTX(makeDirs(dir, self.id, kind, chain), "creating snapshot " + key);
  TRYV(tx.commit());
  dir.clear();
  return mountsFor(self, chain);
}

Result<void> Base::makeDirs(const std::string& dir, int64_t id, Kind kind, const std::vector<Row>& chain) {
  if (::mkdir(dir.c_str(), 0700) < 0) return sysFail("mkdir " + dir);
  return createDirs(dir, id, kind, chain);
}

Result<void> Base::dispose(int64_t id, Kind) {
  return trash_->discard(dirOf(id));
}

Result<std::vector<Mount>> Base::prepare(const std::string& key, const std::string& parent,
                                         const Labels& labels, db::Sync sync) {
  return create(Kind::Active, key, parent, labels, sync);
}

Result<std::vector<Mount>> Base::view(const std::string& key, const std::string& parent,
                                      const Labels& labels) {
  return create(Kind::View, key, parent, labels, db::Sync::Full);
}

Result<std::vector<Mount>> Base::mounts(const std::string& key) {
  auto held = db_.lock();
  TRY(Row r, get(key));
  TRY(auto chain, chainOf(r));
  if (r.info.kind == Kind::Committed) {
    // A committed snapshot is mounted read-only as the top of its own chain.
    chain.insert(chain.begin(), r);
    Row v = r;
    v.info.kind = Kind::View;
    return mountsFor(v, chain);
  }
  return mountsFor(r, chain);
}

Result<void> Base::commit(const std::string& name, const std::string& key, const Labels& labels) {
  auto held = db_.lock();
  TRYV(validKey(name));
  TRY(auto tx, db::Transaction::begin(db_));
  TRY(Row r, get(key));
  if (r.info.kind != Kind::Active)
    return invalid("snapshot " + key + " is " + kindName(r.info.kind) +
                   "; only active snapshots can be committed");
  if (get(name)) return fail(ErrorCategory::Conflict, "snapshot " + name + " already exists");
  Labels merged = r.info.labels;
  for (auto& [k, v] : labels) merged[k] = v;
  TRYV_CTX(committing(r.id), "committing snapshot " + key);
  TRY(auto up, db_.prepare("UPDATE snapshots SET key = ?, kind = ?, labels = ? WHERE id = ?"));
  TRYV(up.bind(1, name)
           .bind(2, static_cast<int64_t>(Kind::Committed))
           .bind(3, labelsJson(merged))
           .bind(4, r.id)
           .run());
  return tx.commit();
}

Result<void> Base::rebase(const std::string& key, const std::string& parent) {
  auto held = db_.lock();
  if (!storesDiffs())
    return fail(ErrorCategory::Unavailable,
                std::string("the ") + name() + " snapshotter cannot rebase snapshots");
  TRY(auto tx, db::Transaction::begin(db_));
  TRY(Row r, get(key));
  if (r.info.kind != Kind::Active) return invalid("snapshot " + key + " is not active");
  std::optional<int64_t> pid;
  if (!parent.empty()) {
    TRY(Row p, get(parent));
    if (p.info.kind != Kind::Committed) return invalid("parent " + parent + " is not committed");
    pid = p.id;
  }
  TRY(auto up, db_.prepare("UPDATE snapshots SET parent_id = ? WHERE id = ?"));
  if (pid)
    up.bind(1, *pid);
  else
    up.bindNull(1);
  TRYV(up.bind(2, r.id).run());
  return tx.commit();
}

Result<void> Base::remove(const std::string& key, db::Sync sync) {
  int64_t id;
  Kind kind;
  {
    auto held = db_.lock();
    TRY(auto tx, db::Transaction::begin(db_, sync));
    TRY(Row r, get(key));
    TRY(auto kids, db_.prepare("SELECT COUNT(*) FROM snapshots WHERE parent_id = ?"));
    kids.bind(1, r.id);
    TRYV(kids.step());
    if (kids.integer(0) > 0)
      return fail(ErrorCategory::Conflict, "snapshot " + key + " has " + std::to_string(kids.integer(0)) +
                                               " child snapshot(s) and cannot be removed");
    TRY(auto del, db_.prepare("DELETE FROM snapshots WHERE id = ?"));
    TRYV(del.bind(1, r.id).run());
    TRYV(tx.commit());
    id = r.id;
    kind = r.info.kind;
  }
  // After the commit: a crash here leaves an unreferenced directory, which init() removes.
  forget(id);
  return dispose(id, kind);
}

Result<Info> Base::stat(const std::string& key) {
  auto held = db_.lock();
  TRY(Row r, get(key));
  return r.info;
}

Result<std::vector<Info>> Base::list() {
  auto held = db_.lock();
  TRY(auto q, db_.prepare("SELECT s.key FROM snapshots s WHERE s.driver = ? ORDER BY s.id"));
  q.bind(1, name());
  std::vector<std::string> keys;
  for (;;) {
    TRY(bool row, q.step());
    if (!row) break;
    keys.push_back(q.text(0));
  }
  std::vector<Info> out;
  for (auto& k : keys) {
    TRY(Row r, get(k));
    out.push_back(std::move(r.info));
  }
  return out;
}

Result<Usage> Base::usage(const std::string& key) {
  auto held = db_.lock();
  TRY(Row r, get(key));
  held.unlock();  // the walk of the tree needs no metadata
  UniqueFd fd(::open(dataDir(r.id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return sysFail("opening " + dataDir(r.id));
  Usage u;
  std::set<std::pair<dev_t, ino_t>> seen;
  walkUsage(fd.get(), u, seen);
  return u;
}

Result<std::string> Base::writableDir(const std::string& key) {
  auto held = db_.lock();
  TRY(Row r, get(key));
  if (r.info.kind != Kind::Active) return invalid("snapshot " + key + " is not active");
  return dataDir(r.id);
}

Result<std::unique_ptr<Snapshotter>> open(const std::string& driver, db::Database& db,
                                          const std::string& root) {
  if (driver == "overlay" || driver == "overlayfs" || driver == "overlay2") return openOverlay(db, root);
  if (driver == "vfs" || driver == "native") return openVfs(db, root);
  return invalid("unknown storage driver \"" + driver + "\" (known: overlay, vfs)");
}

// ---- mounting ----

namespace {

std::string joinOptions(const std::vector<std::string>& opts) {
  std::string s;
  for (auto& o : opts) {
    if (o == "bind" || o == "rbind" || o == "ro" || o == "rw") continue;
    if (!s.empty()) s += ',';
    s += o;
  }
  return s;
}

bool has(const std::vector<std::string>& opts, const char* o) {
  for (auto& x : opts)
    if (x == o) return true;
  return false;
}

// overlay with a lowerdir list too long for one page: chdir to the lower dirs' common directory (in a
// thread whose cwd is its own, so the rest of the process is unaffected) and name them relatively.
Result<void> mountOverlayCompact(const Mount& m, const std::string& target) {
  std::vector<std::string> opts = m.options;
  std::string common;
  for (auto& o : opts) {
    if (!o.starts_with("lowerdir=")) continue;
    auto dirs = split(o.substr(9), ':');
    for (auto& d : dirs) {
      std::string parent = d.substr(0, d.rfind('/'));
      if (common.empty()) common = parent;
      if (parent != common)
        return invalid("overlay lower directories do not share one parent: cannot compact");
    }
    std::string rel;
    for (auto& d : dirs) rel += (rel.empty() ? "" : ":") + d.substr(d.rfind('/') + 1);
    o = "lowerdir=" + rel;
  }
  std::string data = joinOptions(opts);
  if (data.size() >= 4096)
    return invalid("too many layers for one overlay mount (" + std::to_string(data.size()) +
                   " bytes of options)");
  int err = 0;
  std::thread t([&] {
    if (::unshare(CLONE_FS) < 0 || ::chdir(common.c_str()) < 0) {
      err = errno;
      return;
    }
    if (::mount("overlay", target.c_str(), "overlay", has(m.options, "ro") ? MS_RDONLY : 0, data.c_str()) < 0)
      err = errno;
  });
  t.join();
  if (err) return sysFail("mounting overlay at " + target, err);
  return {};
}

}  // namespace

namespace {

Result<void> mountOne(const Mount& m, const std::string& target) {
  if (m.type == "bind") {
    unsigned long flags = MS_BIND | (has(m.options, "rbind") ? MS_REC : 0);
    if (::mount(m.source.c_str(), target.c_str(), nullptr, flags, nullptr) < 0)
      return sysFail("bind mounting " + m.source + " at " + target);
    if (has(m.options, "ro") &&
        ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) < 0) {
      int err = errno;
      ::umount2(target.c_str(), MNT_DETACH);  // never leave it writable
      return sysFail("making " + target + " read-only", err);
    }
    return {};
  }
  if (m.type == "overlay") {
    std::string data = joinOptions(m.options);
    if (data.size() >= 4096 - 1) return mountOverlayCompact(m, target);
    if (::mount("overlay", target.c_str(), "overlay", has(m.options, "ro") ? MS_RDONLY : 0, data.c_str()) < 0)
      return sysFail("mounting overlay at " + target);
    return {};
  }
  return invalid("unknown mount type " + m.type);
}

}  // namespace

Result<void> mountAll(const std::vector<Mount>& mounts, const std::string& target) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    if (auto r = mountOne(mounts[i], target); !r) {
      for (size_t j = 0; j < i; ++j) ::umount2(target.c_str(), MNT_DETACH);  // undo what this call mounted
      return r;
    }
  }
  return {};
}

Result<void> unmountAll(const std::string& target) {
  for (int i = 0; i < 64; ++i) {
    if (::umount2(target.c_str(), 0) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) return {};  // nothing (more) mounted there
    if (errno == EBUSY && ::umount2(target.c_str(), MNT_DETACH) == 0) continue;
    return sysFail("unmounting " + target);
  }
  return {};
}

}  // namespace berth::snapshot
