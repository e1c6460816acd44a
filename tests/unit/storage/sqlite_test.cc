#include "storage/sqlite.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-sqlite-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
  }
  std::filesystem::path File(std::string_view name) const { return dir_->path() / name; }

  std::optional<test::TempDir> dir_;
};

TEST(SqliteErrorTest, MapsCodesWithoutConnection) {
  EXPECT_TRUE(SqliteError(SQLITE_OK, nullptr, "x").ok());
  EXPECT_TRUE(SqliteError(SQLITE_DONE, nullptr, "x").ok());
  Status full = SqliteError(SQLITE_FULL, nullptr, "insert blob");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message().rfind("insert blob: ", 0), 0u) << full.message();
  EXPECT_NE(full.message().find("full"), std::string::npos) << full.message();
  EXPECT_EQ(SqliteError(SQLITE_IOERR_WRITE, nullptr, "x").code(), StatusCode::kInternal);
  EXPECT_EQ(SqliteError(SQLITE_CONSTRAINT_UNIQUE, nullptr, "x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteError(SQLITE_CONSTRAINT_PRIMARYKEY, nullptr, "x").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteError(SQLITE_CONSTRAINT_FOREIGNKEY, nullptr, "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteError(SQLITE_CONSTRAINT_CHECK, nullptr, "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(SqliteError(SQLITE_BUSY, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteError(SQLITE_BUSY_SNAPSHOT, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteError(SQLITE_LOCKED, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteError(SQLITE_CORRUPT, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteError(SQLITE_NOTADB, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteError(SQLITE_READONLY, nullptr, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(SqliteError(SQLITE_INTERRUPT, nullptr, "x").code(), StatusCode::kCancelled);
  EXPECT_EQ(SqliteError(SQLITE_NOMEM, nullptr, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteError(SQLITE_MISUSE, nullptr, "x").code(), StatusCode::kInternal);
}

TEST_F(SqliteTest, MissingDirectoryIsNotFound) {
  auto db = Db::Open(File("no/such/dir/x.sqlite"));
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kNotFound) << db.status().ToString();
}

TEST_F(SqliteTest, ReadsConnectionMessageAndExtendedCode) {
  auto db = Db::Open(File("t.sqlite"));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)").ok());
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES ('a', '1')").ok());
  Status dup = db->Exec("INSERT INTO t VALUES ('a', '2')");
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists) << dup.ToString();
  EXPECT_NE(dup.message().find("UNIQUE constraint failed: t.k"), std::string::npos)
      << dup.message();
  Status null = db->Exec("INSERT INTO t VALUES ('b', NULL)");
  EXPECT_EQ(null.code(), StatusCode::kFailedPrecondition) << null.ToString();
  Status syntax = db->Exec("SELEKT 1");
  EXPECT_EQ(syntax.code(), StatusCode::kInternal);
  EXPECT_NE(syntax.message().find("syntax error"), std::string::npos) << syntax.message();
}

TEST_F(SqliteTest, RealDiskFullIsResourceExhausted) {
  auto db = Db::Open(File("full.sqlite"));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE blobs (b BLOB)").ok());
  // Caps the file at a few pages: the closest to a full disk a test can get portably.
  ASSERT_TRUE(db->Exec("PRAGMA max_page_count = 8").ok());
  Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    s = db->Exec("INSERT INTO blobs VALUES (zeroblob(4096))");
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
}

TEST_F(SqliteTest, EmptyTextBindsEmptyStringNotNull) {
  auto db = Db::Open(File("t.sqlite"));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v TEXT NOT NULL)").ok());
  auto insert = db->Prepare("INSERT INTO t VALUES (?)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->BindAll(std::string_view()).ok());
  EXPECT_TRUE(insert->Run().ok());
  auto count = db->QueryInt64("SELECT count(*) FROM t WHERE v = ''");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1);
}

TEST_F(SqliteTest, BindAllAndColumns) {
  auto db = Db::Open(File("t.sqlite"));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)").ok());
  auto insert = db->Prepare("INSERT INTO t VALUES (?, ?, ?)");
  ASSERT_TRUE(insert.ok());
  ASSERT_TRUE(insert->BindAll(int64_t{1} << 40, std::string("x\0y", 3), 7).ok());
  ASSERT_TRUE(insert->Run().ok());
  EXPECT_EQ(db->Changes(), 1);
  EXPECT_EQ(db->LastInsertRowId(), 1);
  auto select = db->Prepare("SELECT a, b, c, NULL FROM t");
  ASSERT_TRUE(select.ok());
  auto row = select->Step();
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ(select->ColumnInt64(0), int64_t{1} << 40);
  EXPECT_EQ(select->ColumnText(1), std::string("x\0y", 3));
  EXPECT_EQ(select->ColumnInt64(2), 7);
  EXPECT_TRUE(select->ColumnIsNull(3));
  EXPECT_EQ(select->ColumnText(3), "");
  row = select->Step();
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(*row);

  Status bad = insert->Bind(9, int64_t{0});
  EXPECT_FALSE(bad.ok());
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
  auto db = Db::Open(File("t.sqlite"));
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
  {
    auto txn = Transaction::Begin(*db);
    ASSERT_TRUE(txn.ok()) << txn.status().ToString();
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
    EXPECT_FALSE(db->InAutocommit());
  }
  EXPECT_TRUE(db->InAutocommit());
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM t"), 0);
  {
    auto txn = Transaction::Begin(*db);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
    Transaction moved = std::move(*txn);
    ASSERT_TRUE(moved.Commit().ok());
    EXPECT_FALSE(moved.Commit().ok());  // a second commit is a caller bug, not a crash
  }
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM t"), 1);
}

TEST_F(SqliteTest, SecondWriterWaitsThenFailsUnavailable) {
  auto a = Db::Open(File("t.sqlite"));
  auto b = Db::Open(File("t.sqlite"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->Exec("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)").ok());
  auto held = Transaction::Begin(*a);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(b->Exec("PRAGMA busy_timeout = 10").ok());
  auto blocked = Transaction::Begin(*b);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnavailable) << blocked.status().ToString();
}

}  // namespace
}  // namespace mirrord
