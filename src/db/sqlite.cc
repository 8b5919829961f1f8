#include "db/sqlite.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace berth::db {

Error Database::error(std::string what) const {
  int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_ERROR;
  std::string msg = db_ ? sqlite3_errmsg(db_) : "no database";
  ErrorCategory cat = ErrorCategory::Internal;
  if ((code & 0xff) == SQLITE_CONSTRAINT) cat = ErrorCategory::Conflict;
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) cat = ErrorCategory::Unavailable;
  return Error(cat, what + ": " + msg + " (database " + path_ + ")");
}

Result<Database> Database::open(const std::string& path) {
  // The records hold what users pass to containers (environment, labels): root's alone. SQLite makes its
  // -wal and -shm files with the mode of the database file, so the file is made (or narrowed) first.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string f = path + suffix;
    int fd = ::open(f.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | (*suffix ? 0 : O_CREAT), 0600);
    if (fd < 0 && (*suffix == 0 || errno != ENOENT)) return sysFail("opening the metadata database " + f);
    if (fd >= 0) {
      int rc = ::fchmod(fd, 0600);
      ::close(fd);
      if (rc < 0) return sysFail("chmod " + f);
    }
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw, path);
  if (rc != SQLITE_OK) return std::unexpected(db.error("opening the metadata database"));
  sqlite3_busy_timeout(raw, 10000);
  sqlite3_extended_result_codes(raw, 1);
  // WAL: readers never block the writer; synchronous=FULL: a committed transaction survives a power cut.
  TRYV(db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  TRYV(db.exec(
      "CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"));
  return db;
}

Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}

Result<void> Database::exec(std::string_view sql) {
  std::string s(sql);
  char* msg = nullptr;
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    sqlite3_free(msg);
    return std::unexpected(error("running SQL"));
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr) != SQLITE_OK)
    return std::unexpected(error("preparing SQL \"" + std::string(sql) + "\""));
  return Statement(this, st);
}

int64_t Database::changes() const {
  return sqlite3_changes64(db_);
}

Result<void> Database::migrate(const std::string& name, const std::vector<std::string_view>& migrations) {
  TRY(auto tx, Transaction::begin(*this));
  TRY(auto q, prepare("SELECT version FROM schema_versions WHERE name = ?"));
  q.bind(1, name);
  TRY(bool has, q.step());
  int64_t version = has ? q.integer(0) : 0;
  if (version > static_cast<int64_t>(migrations.size()))
    return fail(ErrorCategory::Unavailable, "the " + name + " metadata in " + path_ + " has schema version " +
                                                std::to_string(version) + ", newer than this berth knows (" +
                                                std::to_string(migrations.size()) + ")");
  for (size_t v = static_cast<size_t>(version); v < migrations.size(); ++v)
    TRYV_CTX(exec(migrations[v]), "migrating the " + name + " schema to version " + std::to_string(v + 1));
  if (version != static_cast<int64_t>(migrations.size())) {
    TRY(auto up, prepare("INSERT OR REPLACE INTO schema_versions (name, version) VALUES (?, ?)"));
    TRYV(up.bind(1, name).bind(2, static_cast<int64_t>(migrations.size())).run());
  }
  return tx.commit();
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::bindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(db_->error("running \"" + std::string(sqlite3_sql(stmt_)) + "\""));
}

Result<void> Statement::run() {
  for (;;) {
    TRY(bool row, step());
    if (!row) break;
  }
  reset();
  return {};
}

Statement& Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

std::string Statement::text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  if (!t) return {};
  return std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}
int64_t Statement::integer(int col) const {
  return sqlite3_column_int64(stmt_, col);
}
bool Statement::isNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<Transaction> Transaction::begin(Database& db, Sync sync) {
  if (sync == Sync::Relaxed) TRYV_CTX(db.exec("PRAGMA synchronous=NORMAL"), "starting a transaction");
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) {
    if (sync == Sync::Relaxed) (void)db.exec("PRAGMA synchronous=FULL");
    return std::unexpected(std::move(r).error().context("starting a transaction"));
  }
  return Transaction(&db, sync);
}

Transaction::~Transaction() {
  if (db_) {
    (void)db_->exec("ROLLBACK");
    if (sync_ == Sync::Relaxed) (void)db_->exec("PRAGMA synchronous=FULL");
  }
}

Result<void> Transaction::commit() {
  Database* db = db_;
  db_ = nullptr;
  auto r = db->exec("COMMIT");
  if (!r) (void)db->exec("ROLLBACK");
  if (sync_ == Sync::Relaxed) (void)db->exec("PRAGMA synchronous=FULL");
  if (!r) return std::unexpected(std::move(r).error().context("committing a transaction"));
  return {};
}

Result<void> syncCommitted(const std::string& path) {
  // Frames not checkpointed yet are in the WAL; a checkpoint syncs what it copies into the file. Both, in
  // that order, cover a checkpoint that runs meanwhile.
  for (const std::string& f : {path + "-wal", path}) {
    int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // no WAL (nothing was written since the last checkpoint)
      return sysFail("opening " + f + " to sync it");
    }
    int rc = ::fdatasync(fd);
    int err = errno;
    ::close(fd);
    if (rc < 0) {
      errno = err;
      return sysFail("syncing " + f);
    }
  }
  return {};
}

}  // namespace berth::db
