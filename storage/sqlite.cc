#include "storage/sqlite.h"

#include "common/log.h"

namespace mirrord {
namespace {

// Statements are named in errors by the start of their SQL; enough to find the call site.
std::string ShortSql(const char* sql) {
  if (sql == nullptr) return "?";
  std::string_view text(sql);
  constexpr size_t kMax = 60;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "...";
}

}  // namespace

Status SqliteError(int rc, sqlite3* db, std::string_view context) {
  const int primary = rc & 0xff;
  if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE) {
    return Status::Ok();
  }
  // Read the connection's state before anything else can call into SQLite.
  std::string detail = (db != nullptr && (sqlite3_extended_errcode(db) & 0xff) == primary)
                           ? sqlite3_errmsg(db)
                           : sqlite3_errstr(rc);
  const int sys_errno = db != nullptr ? sqlite3_system_errno(db) : 0;

  std::string message(context);
  message += ": ";
  message += detail;
  message += " (sqlite code ";
  message += std::to_string(rc);
  message += ")";

  switch (primary) {
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG:
      return ResourceExhausted(std::move(message));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
          rc == SQLITE_CONSTRAINT_ROWID) {
        return AlreadyExists(std::move(message));
      }
      return FailedPrecondition(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:
      return Unavailable(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(std::move(message));
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY:
      return PermissionDenied(std::move(message));
    case SQLITE_INTERRUPT:
      return Cancelled(std::move(message));
    case SQLITE_MISMATCH:
      return InvalidArgument(std::move(message));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      if (sys_errno != 0) return ErrnoStatus(sys_errno, message);
      return Internal(std::move(message));
    default:
      return Internal(std::move(message));
  }
}

// ---- Statement ----

namespace {

Status BindError(int rc, sqlite3* db, sqlite3_stmt* stmt, int index) {
  return SqliteError(rc, db,
                     "bind #" + std::to_string(index) + " of " + ShortSql(sqlite3_sql(stmt)));
}

}  // namespace

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt, &sqlite3_finalize) {}

Status Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK) {
    return BindError(rc, db_, stmt_.get(), index);
  }
  return Status::Ok();
}

Status Statement::Bind(int index, std::string_view value) {
  // A null data pointer would bind SQL NULL; an empty string_view must bind ''.
  const char* data = value.data() != nullptr ? value.data() : "";
  int rc =
      sqlite3_bind_text64(stmt_.get(), index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) {
    return BindError(rc, db_, stmt_.get(), index);
  }
  return Status::Ok();
}

Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK) {
    return BindError(rc, db_, stmt_.get(), index);
  }
  return Status::Ok();
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(rc, db_, ShortSql(sqlite3_sql(stmt_.get())));
}

Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

Status Statement::Reset() {
  int rc = sqlite3_reset(stmt_.get());
  if (rc != SQLITE_OK) return SqliteError(rc, db_, "reset " + ShortSql(sqlite3_sql(stmt_.get())));
  return Status::Ok();
}

int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  if (text == nullptr) return std::string();
  int size = sqlite3_column_bytes(stmt_.get(), column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

// ---- Db ----

Db::Db(sqlite3* db) : db_(db, &sqlite3_close_v2) {}

Result<Db> Db::Open(const std::filesystem::path& file, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &raw, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  // Even a failed open may allocate a handle; own it so it is closed on every path.
  Db db(raw);
  if (rc != SQLITE_OK) return SqliteError(rc, raw, "open " + file.string());
  if (raw == nullptr) return ResourceExhausted("open " + file.string() + ": out of memory");
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Db::Exec(std::string_view sql) {
  std::string text(sql);
  char* raw_error = nullptr;
  int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &raw_error);
  // sqlite3_exec's own message is equivalent to sqlite3_errmsg; free it and use the latter.
  sqlite3_free(raw_error);
  if (rc != SQLITE_OK) return SqliteError(rc, db_.get(), ShortSql(text.c_str()));
  return Status::Ok();
}

Result<Statement> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  Statement stmt(db_.get(), raw);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, db_.get(), "prepare " + ShortSql(std::string(sql).c_str()));
  }
  if (raw == nullptr) return Internal("prepare: no statement in \"" + std::string(sql) + "\"");
  return stmt;
}

Result<int64_t> Db::QueryInt64(std::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal(ShortSql(std::string(sql).c_str()) + ": returned no row");
  return stmt.ColumnInt64(0);
}

int64_t Db::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_.get()); }

int64_t Db::Changes() const { return sqlite3_changes64(db_.get()); }

bool Db::InAutocommit() const { return sqlite3_get_autocommit(db_.get()) != 0; }

// ---- Transaction ----

Result<Transaction> Transaction::Begin(Db& db) {
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  // Some failures (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) roll back on their own; a second
  // ROLLBACK would only add a misleading error.
  if (db_ == nullptr || db_->InAutocommit()) return;
  if (Status s = db_->Exec("ROLLBACK"); !s.ok()) {
    MLOG(Error) << "sqlite: rollback failed: " << s.ToString();
  }
}

Status Transaction::Commit() {
  if (db_ == nullptr) return Internal("commit of a transaction that is no longer open");
  if (db_->InAutocommit()) {
    db_ = nullptr;
    return Internal("commit: the transaction was already rolled back by an earlier error");
  }
  Status s = db_->Exec("COMMIT");
  if (s.ok()) db_ = nullptr;  // on failure the destructor rolls back
  return s;
}

}  // namespace mirrord
