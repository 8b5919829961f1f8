#include <gtest/gtest.h>

#include "base/file.h"
#include "db/sqlite.h"

namespace berth::db {
namespace {

TEST(Sqlite, MigratesOnceAndRollsBackUncommittedTransactions) {
  auto tmp = *TempDir::make("/tmp/berth-db-");
  std::string path = tmp.path() + "/meta.db";
  std::vector<std::string_view> v1 = {"CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"};
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db) << db.error().message();
    ASSERT_TRUE(db->migrate("test", v1));
    ASSERT_TRUE(db->migrate("test", v1)) << "a second run is a no-op";
    {
      auto tx = Transaction::begin(*db);
      ASSERT_TRUE(tx);
      auto ins = db->prepare("INSERT INTO t (k, v) VALUES (?, ?)");
      ASSERT_TRUE(ins);
      ASSERT_TRUE(ins->bind(1, "a").bind(2, 1).run());
      ASSERT_TRUE(tx->commit());
    }
    {
      auto tx = Transaction::begin(*db);
      auto ins = db->prepare("INSERT INTO t (k, v) VALUES (?, ?)");
      ASSERT_TRUE(ins->bind(1, "b").bind(2, 2).run());
      // dropped without commit: rolled back
    }
    auto dup = db->prepare("INSERT INTO t (k, v) VALUES ('a', 3)");
    auto r = dup->run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().category(), ErrorCategory::Conflict) << r.error().message();
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db);
  auto q = db->prepare("SELECT k, v FROM t ORDER BY k");
  std::vector<std::string> keys;
  while (*q->step()) keys.push_back(q->text(0));
  EXPECT_EQ(keys, std::vector<std::string>{"a"});
  std::vector<std::string_view> v2 = {v1[0], "ALTER TABLE t ADD COLUMN w TEXT"};
  ASSERT_TRUE(db->migrate("test", v2));
  auto older = db->migrate("test", v1);
  ASSERT_FALSE(older) << "a schema newer than the code is refused";
  EXPECT_NE(older.error().message().find("newer"), std::string::npos);
}

int64_t synchronousMode(Database& db) {
  auto q = db.prepare("PRAGMA synchronous");
  EXPECT_TRUE(q && *q->step());
  return q->integer(0);
}

TEST(Sqlite, RelaxedTransactionsCommitAndLeaveTheConnectionFull) {
  auto tmp = *TempDir::make("/tmp/berth-db-");
  std::string path = tmp.path() + "/meta.db";
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->migrate("test", {"CREATE TABLE t (k TEXT PRIMARY KEY)"}));
    EXPECT_EQ(synchronousMode(*db), 2) << "FULL by default";
    {
      auto tx = Transaction::begin(*db, Sync::Relaxed);
      ASSERT_TRUE(tx);
      EXPECT_EQ(synchronousMode(*db), 1) << "NORMAL inside a relaxed transaction";
      ASSERT_TRUE(db->prepare("INSERT INTO t (k) VALUES ('relaxed')")->run());
      ASSERT_TRUE(tx->commit());
    }
    EXPECT_EQ(synchronousMode(*db), 2) << "FULL again after the commit";
    {
      auto tx = Transaction::begin(*db, Sync::Relaxed);
      ASSERT_TRUE(db->prepare("INSERT INTO t (k) VALUES ('dropped')")->run());
    }
    EXPECT_EQ(synchronousMode(*db), 2) << "FULL again after a rollback";
  }
  auto db = Database::open(path);  // another connection sees the relaxed commit (a killed process loses none)
  auto q = db->prepare("SELECT k FROM t");
  std::vector<std::string> keys;
  while (*q->step()) keys.push_back(q->text(0));
  EXPECT_EQ(keys, std::vector<std::string>{"relaxed"});
}

TEST(Sqlite, SyncCommittedNeedsNoConnection) {
  auto tmp = *TempDir::make("/tmp/berth-db-");
  std::string path = tmp.path() + "/meta.db";
  EXPECT_TRUE(syncCommitted(path)) << "nothing there: nothing to sync";
  auto db = Database::open(path);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->migrate("test", {"CREATE TABLE t (k TEXT PRIMARY KEY)"}));
  auto tx = Transaction::begin(*db, Sync::Relaxed);
  ASSERT_TRUE(db->prepare("INSERT INTO t (k) VALUES ('a')")->run());
  ASSERT_TRUE(tx->commit());
  EXPECT_TRUE(syncCommitted(path));  // the WAL and the file, from any thread, while the connection lives
  auto bad = syncCommitted(tmp.path() + "/dir/meta.db");
  EXPECT_TRUE(bad) << "a missing database is nothing to sync";
}

}  // namespace
}  // namespace berth::db
