#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-migrations-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
  }
  std::filesystem::path File() const { return dir_->path() / "catalog.sqlite"; }

  static int64_t UserVersion(Db& db) { return db.QueryInt64("PRAGMA user_version").value_or(-1); }
  static bool HasTable(Db& db, const std::string& name) {
    auto stmt = db.Prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?");
    if (!stmt.ok() || !stmt->BindAll(name).ok()) return false;
    auto row = stmt->Step();
    return row.ok() && *row && stmt->ColumnInt64(0) == 1;
  }

  std::optional<test::TempDir> dir_;
};

TEST_F(MigrationsTest, CatalogListIsNumberedFromOne) {
  auto list = CatalogMigrations();
  ASSERT_FALSE(list.empty());
  for (size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(list[i].description.empty());
  }
}

TEST_F(MigrationsTest, FromEmptyCreatesSchemaAndRecordsVersion) {
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(UserVersion(*db), 0);
  auto v = ApplyMigrations(*db, CatalogMigrations());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, static_cast<int>(CatalogMigrations().size()));
  EXPECT_EQ(UserVersion(*db), *v);
  for (const char* table : {"repos", "refs", "sync_runs"}) EXPECT_TRUE(HasTable(*db, table));
  // Idempotent: a second run applies nothing.
  auto again = ApplyMigrations(*db, CatalogMigrations());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *v);
}

// Migration 11 widens sync_runs.kind to 'push' by dropping and re-adding the column: runs of a
// version 10 catalog keep their kind (build runs through their build_runs row) and their
// build_runs rows, and the new kind is accepted after it.
TEST_F(MigrationsTest, PushRunsKeepEarlierRunKinds) {
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("PRAGMA foreign_keys = ON").ok());
  auto all = CatalogMigrations();
  ASSERT_GE(all.size(), 11u);
  ASSERT_EQ(*ApplyMigrations(*db, all.first(10)), 10);
  ASSERT_TRUE(db->Exec("INSERT INTO repos (name) VALUES ('org/m')").ok());
  ASSERT_TRUE(
      db->Exec("INSERT INTO sync_runs (repo_id, state, kind) VALUES (1, 'succeeded', 'sync')")
          .ok());
  ASSERT_TRUE(
      db->Exec("INSERT INTO sync_runs (repo_id, state, kind) VALUES (1, 'failed', 'build')").ok());
  ASSERT_TRUE(
      db->Exec("INSERT INTO build_runs (run_id, build, ref) VALUES (2, 'm', 'refs/heads/main')")
          .ok());
  EXPECT_FALSE(db->Exec("INSERT INTO sync_runs (repo_id, kind) VALUES (1, 'push')").ok());
  auto v = ApplyMigrations(*db, all.first(11));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 11);
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM sync_runs WHERE id = 1 AND kind = 'sync'"), 1);
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM sync_runs WHERE id = 2 AND kind = 'build' AND "
                            "state = 'failed'"),
            1);
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM build_runs WHERE run_id = 2"), 1);
  EXPECT_TRUE(HasTable(*db, "push_runs"));
  EXPECT_TRUE(db->Exec("INSERT INTO sync_runs (repo_id, kind) VALUES (1, 'push')").ok());
  EXPECT_FALSE(db->Exec("INSERT INTO sync_runs (repo_id, kind) VALUES (1, 'other')").ok());
}

TEST_F(MigrationsTest, AppliesOnlyMissingStepsInOrder) {
  const Migration v1[] = {{1, "one", "CREATE TABLE a (x INTEGER);"}};
  const Migration v2[] = {{1, "one", "CREATE TABLE a (x INTEGER);"},
                          {2, "two",
                           "ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT '';"
                           "CREATE TABLE b (z INTEGER);"}};
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  ASSERT_EQ(*ApplyMigrations(*db, v1), 1);
  ASSERT_TRUE(db->Exec("INSERT INTO a (x) VALUES (7)").ok());
  ASSERT_EQ(*ApplyMigrations(*db, v2), 2);
  EXPECT_TRUE(HasTable(*db, "b"));
  EXPECT_EQ(*db->QueryInt64("SELECT count(*) FROM a WHERE x = 7 AND y = ''"), 1);
}

TEST_F(MigrationsTest, FailedMigrationLeavesPreviousVersionIntact) {
  const Migration list[] = {{1, "one", "CREATE TABLE a (x INTEGER);"},
                            {2, "broken", "CREATE TABLE b (z INTEGER); SELEKT;"}};
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  auto v = ApplyMigrations(*db, list);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("migration 2 (broken)"), std::string::npos)
      << v.status().ToString();
  EXPECT_EQ(UserVersion(*db), 1);
  EXPECT_TRUE(HasTable(*db, "a"));
  EXPECT_FALSE(HasTable(*db, "b"));  // the half-applied step was rolled back
  EXPECT_TRUE(db->InAutocommit());
}

TEST_F(MigrationsTest, NewerDatabaseIsRefused) {
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("PRAGMA user_version = 99").ok());
  auto v = ApplyMigrations(*db, CatalogMigrations());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("99"), std::string::npos) << v.status().ToString();
  EXPECT_EQ(UserVersion(*db), 99);
  EXPECT_FALSE(HasTable(*db, "repos"));
}

TEST_F(MigrationsTest, BadlyNumberedListIsInternal) {
  const Migration list[] = {{1, "one", "SELECT 1;"}, {3, "three", "SELECT 1;"}};
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  auto v = ApplyMigrations(*db, list);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInternal);
  EXPECT_EQ(UserVersion(*db), 0);
}

TEST_F(MigrationsTest, CatalogOpenRefusesFutureVersionAndLeavesFileAlone) {
  {
    auto catalog = Catalog::Open(File());
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  }
  {
    auto db = Db::Open(File());
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("PRAGMA journal_mode = DELETE; PRAGMA user_version = 1000").ok());
  }
  auto catalog = Catalog::Open(File());
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(catalog.status().message().find("newer"), std::string::npos)
      << catalog.status().ToString();
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(UserVersion(*db), 1000);
  auto mode = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "delete");
}

}  // namespace
}  // namespace mirrord
