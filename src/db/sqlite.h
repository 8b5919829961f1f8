// SQLite for metadata (images, layers, snapshots, later containers): one database file in WAL mode, one
// transaction per change, so a crash at any moment leaves either the old or the new state.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::db {

class Database;

// A prepared statement. Parameters are bound by position (1-based, as SQLite numbers them).
class Statement {
 public:
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int i, std::string_view v);
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bindNull(int i);

  // Runs one step: true when a row is available, false when done.
  Result<bool> step();
  // Runs to completion (for statements without rows).
  Result<void> run();
  Statement& reset();

  std::string text(int col) const;
  int64_t integer(int col) const;
  bool isNull(int col) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* s) : db_(db), stmt_(s) {}
  Database* db_;
  sqlite3_stmt* stmt_;
};

class Database {
 public:
  // Opens (creating) the database file in WAL mode with foreign keys on and a busy timeout, so that two
  // processes (berth and berthd) can share it.
  static Result<Database> open(const std::string& path);
  Database(Database&& o) noexcept : db_(o.db_), path_(std::move(o.path_)), mu_(std::move(o.mu_)) {
    o.db_ = nullptr;
  }
  Database& operator=(Database&&) = delete;
  ~Database();

  Result<void> exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  int64_t changes() const;
  const std::string& path() const { return path_; }

  // Schema versions: runs migrations[v..] for a database at user_version v, each in its own transaction.
  Result<void> migrate(const std::string& name, const std::vector<std::string_view>& migrations);

  Error error(std::string what) const;

  // The connection's lock, for users that share one connection between threads: held around each use (a
  // statement and its steps, or a whole transaction), so that one thread's statements never run inside
  // another's transaction. Recursive: a holder may call code that takes it again.
  std::unique_lock<std::recursive_mutex> lock() { return std::unique_lock(*mu_); }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unique_ptr<std::recursive_mutex> mu_ = std::make_unique<std::recursive_mutex>();
};

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed without commit().
// How a transaction's commit reaches the disk. Full: synced before COMMIT returns (survives a power cut).
// Relaxed: in the WAL when COMMIT returns, synced by the next Full commit or checkpoint; a killed process
// loses nothing, a power cut may lose the newest relaxed commits (never half of one). For facts a reboot
// makes moot anyway, such as whether a container is running.
enum class Sync { Full, Relaxed };

// Makes every transaction committed so far to the database at `path` (by any connection, Relaxed ones
// included) durable: its write-ahead log and its file synced. Needs no connection and no lock, so a
// caller can commit Relaxed under a lock others wait for and sync after letting it go (before it answers).
Result<void> syncCommitted(const std::string& path);

class Transaction {
 public:
  static Result<Transaction> begin(Database& db, Sync sync = Sync::Full);
  Transaction(Transaction&& o) noexcept : db_(o.db_), sync_(o.sync_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  Transaction(Database* db, Sync sync) : db_(db), sync_(sync) {}
  Database* db_;
  Sync sync_;
};

}  // namespace berth::db
