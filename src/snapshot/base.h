// The metadata half every snapshotter shares; backends implement the directory half.
#pragma once

#include <string>
#include <vector>

#include "base/trash.h"
#include "snapshot/snapshotter.h"

namespace berth::snapshot {

struct Row {
  int64_t id = 0;
  Info info;
};

class Base : public Snapshotter {
 public:
  Result<std::vector<Mount>> prepare(const std::string& key, const std::string& parent, const Labels& labels,
                                     db::Sync sync) override;
  Result<std::vector<Mount>> view(const std::string& key, const std::string& parent,
                                  const Labels& labels) override;
  Result<std::vector<Mount>> mounts(const std::string& key) override;
  Result<void> commit(const std::string& name, const std::string& key, const Labels& labels) override;
  Result<void> rebase(const std::string& key, const std::string& parent) override;
  Result<void> remove(const std::string& key, db::Sync sync) override;
  Result<Info> stat(const std::string& key) override;
  Result<std::vector<Info>> list() override;
  Result<Usage> usage(const std::string& key) override;
  Result<std::string> writableDir(const std::string& key) override;

 protected:
  Base(db::Database& db, std::string root) : db_(db), root_(std::move(root)) {}
  // Creates the schema, the directories, and removes directories that have no row (a crash mid-change).
  Result<void> init();
  std::string dirOf(int64_t id) const { return root_ + "/snapshots/" + std::to_string(id); }

  // Backend: makes the directories of a new snapshot in `dir` (`chain` = parents, nearest first).
  virtual Result<void> createDirs(const std::string& dir, int64_t id, Kind kind,
                                  const std::vector<Row>& chain) = 0;
  virtual std::vector<Mount> mountsFor(const Row& self, const std::vector<Row>& chain) = 0;
  // Makes the snapshot's directory `dir` (default: mkdir, then createDirs).
  virtual Result<void> makeDirs(const std::string& dir, int64_t id, Kind kind, const std::vector<Row>& chain);
  // Gets rid of a removed snapshot's directory (default: into the trash).
  virtual Result<void> dispose(int64_t id, Kind kind);
  // Backend work when an active snapshot becomes committed, before the row changes (overlay's short link).
  virtual Result<void> committing(int64_t /*id*/) { return {}; }
  // Backend clean-up beyond the snapshot's own directory (overlay's short link).
  virtual void forget(int64_t /*id*/) {}
  virtual std::string dataDir(int64_t id) const { return dirOf(id) + "/fs"; }

  Result<Row> get(const std::string& key);
  Result<std::vector<Row>> chainOf(const Row& r);

  db::Database& db_;
  std::string root_;
  std::unique_ptr<Trash> trash_;  // removed snapshots' directories, deleted in the background

 private:
  Result<std::vector<Mount>> create(Kind kind, const std::string& key, const std::string& parent,
                                    const Labels& labels, db::Sync sync);
};

}  // namespace berth::snapshot
