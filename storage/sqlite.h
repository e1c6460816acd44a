// Thin RAII wrappers over the SQLite C API: a connection (Db), a prepared statement
// (Statement), a transaction scope (Transaction), and the one translator from SQLite result
// codes to Status. Nothing here knows the catalog's schema.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// Translates a failed SQLite result code into a Status whose message is
// "context: <sqlite message> (<code name>)". Pass the connection the failure came from, if
// any, right after the failing call: its error message and system errno are per connection
// and overwritten by the next call. Extended codes are understood (they are enabled on every
// Db). Mapping:
//   SQLITE_FULL, SQLITE_NOMEM, SQLITE_TOOBIG        -> ResourceExhausted
//   SQLITE_CONSTRAINT_{UNIQUE,PRIMARYKEY,ROWID}    -> AlreadyExists
//   other SQLITE_CONSTRAINT_* (foreign key, check)  -> FailedPrecondition
//   SQLITE_BUSY, SQLITE_LOCKED, SQLITE_SCHEMA       -> Unavailable (retry later)
//   SQLITE_CORRUPT, SQLITE_NOTADB                   -> DataLoss
//   SQLITE_PERM, SQLITE_AUTH, SQLITE_READONLY       -> PermissionDenied
//   SQLITE_INTERRUPT                                -> Cancelled
//   SQLITE_MISMATCH                                 -> InvalidArgument
//   SQLITE_IOERR, SQLITE_CANTOPEN                   -> by the OS errno (ENOSPC ->
//                                                      ResourceExhausted, ENOENT -> NotFound,
//                                                      EACCES -> PermissionDenied), else Internal
//   anything else                                   -> Internal
// SQLITE_OK, SQLITE_ROW and SQLITE_DONE yield OK.
Status SqliteError(int rc, sqlite3* db, std::string_view context);

class Db;

// A prepared statement. Parameters are 1-based, columns 0-based, as in SQLite.
// Thread-safety: none; belongs to the thread that holds its Db. Must not outlive its Db.
class Statement {
 public:
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  // Text is copied, so the argument may die before Step().
  Status Bind(int index, int64_t value);
  Status Bind(int index, std::string_view value);
  Status BindNull(int index);

  // Binds `args` to parameters 1..N in order. Stops at the first failure.
  template <typename... Args>
  Status BindAll(const Args&... args) {
    int index = 0;
    Status status;
    auto bind_one = [&](const auto& arg) {
      if (status.ok()) status = BindOne(++index, arg);
    };
    (bind_one(args), ...);
    return status;
  }

  // Advances the statement. On success: true when a row is available to the Column*
  // accessors, false when the statement has finished. On failure the statement must be
  // Reset() before reuse.
  Result<bool> Step();

  // Steps until done, ignoring any rows (for INSERT/UPDATE/DELETE).
  Status Run();

  // Makes the statement runnable again; bindings are kept.
  Status Reset();

  int64_t ColumnInt64(int column) const;
  // NULL reads as "".
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Db;
  using Handle = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;
  Statement(sqlite3* db, sqlite3_stmt* stmt);

  Status BindOne(int index, int64_t value) { return Bind(index, value); }
  Status BindOne(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Status BindOne(int index, uint64_t value) { return Bind(index, static_cast<int64_t>(value)); }
  Status BindOne(int index, std::string_view value) { return Bind(index, value); }
  Status BindOne(int index, const std::string& value) { return Bind(index, value); }
  Status BindOne(int index, const char* value) { return Bind(index, std::string_view(value)); }

  sqlite3* db_;  // not owned
  Handle stmt_;
};

// One SQLite connection, opened with extended result codes.
// Thread-safety: none; use from one thread at a time (callers serialise with their own lock).
class Db {
 public:
  // Opens (and with SQLITE_OPEN_CREATE in `flags`, creates) `file`. On failure no
  // connection is left open; the Status says why (NotFound when the directory is missing).
  static Result<Db> Open(const std::filesystem::path& file,
                         int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

  Db(Db&&) noexcept = default;
  Db& operator=(Db&&) noexcept = default;

  // Runs `sql`, which may hold several statements and must produce no rows worth keeping.
  // On failure, statements before the failing one have taken effect (wrap in a Transaction
  // for all-or-nothing).
  Status Exec(std::string_view sql);

  // On success the statement is ready to bind and step.
  Result<Statement> Prepare(std::string_view sql);

  // Runs a statement that returns one integer row (e.g. "PRAGMA user_version").
  Result<int64_t> QueryInt64(std::string_view sql);

  int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // True when no transaction is open.
  bool InAutocommit() const;

  sqlite3* get() const { return db_.get(); }

 private:
  using Handle = std::unique_ptr<sqlite3, int (*)(sqlite3*)>;
  explicit Db(sqlite3* db);

  Handle db_;
};

// A write transaction scope, started with BEGIN IMMEDIATE so that the write lock is taken
// up front (a deferred transaction that upgrades later can fail with SQLITE_BUSY half-way).
// Rolls back on destruction unless committed.
// Thread-safety: none; same thread as its Db. Must not outlive its Db.
class Transaction {
 public:
  // On success a transaction is open on `db`. Fails (Unavailable) when another connection
  // holds the write lock for longer than the busy timeout.
  static Result<Transaction> Begin(Db& db);

  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // On success every change since Begin() is durable. On failure the transaction is rolled
  // back (now or by the destructor) and nothing since Begin() took effect.
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}

  Db* db_;  // null once committed or moved from
};

}  // namespace mirrord
