// The Git LFS tables of the catalog: object states, references published with the refs,
// usage, and the upgrade of a version-1 catalog.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/sqlite.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

std::string Oid(char c) { return std::string(64, c); }

LfsObjectRecord Obj(char c, uint64_t size) {
  LfsObjectRecord r;
  r.oid = Oid(c);
  r.size = size;
  return r;
}

class CatalogLfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-catalog-lfs-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.sqlite"));
    repo_ = AddRepo("org/model");
  }

  int64_t AddRepo(const std::string& name) {
    RepoRecord r;
    r.name = name;
    r.upstream = "hf";
    r.path = name;
    auto inserted = catalog_->InsertRepo(r);
    EXPECT_OK(inserted);
    return inserted.ok() ? inserted->id : 0;
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
  int64_t repo_ = 0;
};

TEST_F(CatalogLfsTest, ObjectsStartPendingAndKeepTheirFirstRecord) {
  ASSERT_OK(catalog_->AddLfsObjects({Obj('a', 10), Obj('b', 20)}, 100));
  ASSERT_OK_AND_ASSIGN(LfsObjectRecord a, catalog_->GetLfsObject(Oid('a')));
  EXPECT_EQ(a.state, "pending");
  EXPECT_EQ(a.size, 10u);
  EXPECT_EQ(a.updated_at, 100);
  ASSERT_OK(catalog_->MarkLfsObjectPresent(Oid('a'), 110));
  // Adding a known object again changes nothing (another repo referencing it, say).
  ASSERT_OK(catalog_->AddLfsObjects({Obj('a', 10)}, 120));
  ASSERT_OK_AND_ASSIGN(a, catalog_->GetLfsObject(Oid('a')));
  EXPECT_EQ(a.state, "present");
  EXPECT_EQ(a.updated_at, 110);
  EXPECT_THAT(catalog_->GetLfsObject(Oid('c')), test::StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(catalog_->AddLfsObjects({LfsObjectRecord{}}, 1),
              test::StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(CatalogLfsTest, FailuresAreRecordedAndSuccessClearsThem) {
  ASSERT_OK(catalog_->AddLfsObjects({Obj('a', 10)}, 100));
  ASSERT_OK(catalog_->CountLfsAttempt(Oid('a'), 101));
  ASSERT_OK(catalog_->CountLfsQuarantine(Oid('a'), 102));
  ASSERT_OK(catalog_->MarkLfsObjectFailed(Oid('a'), "upstream says gone", 410, 103));
  ASSERT_OK_AND_ASSIGN(LfsObjectRecord a, catalog_->GetLfsObject(Oid('a')));
  EXPECT_EQ(a.state, "failed");
  EXPECT_EQ(a.error, "upstream says gone");
  EXPECT_EQ(a.error_code, 410);
  EXPECT_EQ(a.attempts, 1);
  EXPECT_EQ(a.quarantined, 1);
  ASSERT_OK(catalog_->MarkLfsObjectPresent(Oid('a'), 104));
  ASSERT_OK_AND_ASSIGN(a, catalog_->GetLfsObject(Oid('a')));
  EXPECT_EQ(a.state, "present");
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(a.error_code, 0);
  // A present object stays present when a later download of it fails.
  ASSERT_OK(catalog_->MarkLfsObjectFailed(Oid('a'), "timeout", 0, 105));
  ASSERT_OK_AND_ASSIGN(a, catalog_->GetLfsObject(Oid('a')));
  EXPECT_EQ(a.state, "present");
  EXPECT_THAT(catalog_->MarkLfsObjectPresent(Oid('z'), 1), test::StatusIs(StatusCode::kNotFound));
}

TEST_F(CatalogLfsTest, ReferencesArePublishedWithTheRefs) {
  ASSERT_OK(catalog_->AddLfsObjects({Obj('a', 10), Obj('b', 20)}, 100));
  ASSERT_OK(catalog_->MarkLfsObjectPresent(Oid('a'), 100));
  std::vector<RefRecord> refs = {{"refs/heads/main", "1111", ""}};
  std::vector<LfsRefRecord> lfs = {{"refs/heads/main", Oid('a'), 0, "model.safetensors", true},
                                   {"refs/heads/main", Oid('b'), 0, "model.bin", false}};
  ASSERT_OK(catalog_->ReplaceRefs(repo_, refs, "refs/heads/main", 200, &lfs));
  ASSERT_OK_AND_ASSIGN(std::vector<LfsRefRecord> got, catalog_->GetLfsRefs(repo_));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].oid, Oid('a'));
  EXPECT_EQ(got[0].size, 10u);
  EXPECT_EQ(got[0].path, "model.safetensors");
  EXPECT_TRUE(got[0].fetch);
  EXPECT_FALSE(got[1].fetch);

  ASSERT_OK_AND_ASSIGN(std::optional<LfsRefRecord> found, catalog_->FindLfsRef(repo_, Oid('b')));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->path, "model.bin");
  // Another repo does not reference it, whatever this one does.
  int64_t other = AddRepo("org/other");
  ASSERT_OK_AND_ASSIGN(found, catalog_->FindLfsRef(other, Oid('b')));
  EXPECT_FALSE(found.has_value());

  ASSERT_OK_AND_ASSIGN(LfsRepoUsage usage, catalog_->GetLfsUsage(repo_));
  EXPECT_EQ(usage.objects, 2u);
  EXPECT_EQ(usage.logical_bytes, 30u);
  EXPECT_EQ(usage.present_objects, 1u);
  EXPECT_EQ(usage.present_bytes, 10u);

  // Publishing without LFS references leaves them; with an empty list clears them.
  ASSERT_OK(catalog_->ReplaceRefs(repo_, refs, "refs/heads/main", 300));
  ASSERT_OK_AND_ASSIGN(got, catalog_->GetLfsRefs(repo_));
  EXPECT_EQ(got.size(), 2u);
  std::vector<LfsRefRecord> none;
  ASSERT_OK(catalog_->ReplaceRefs(repo_, refs, "refs/heads/main", 400, &none));
  ASSERT_OK_AND_ASSIGN(got, catalog_->GetLfsRefs(repo_));
  EXPECT_TRUE(got.empty());
}

TEST_F(CatalogLfsTest, AnUnrecordedObjectFailsThePublicationAsAWhole) {
  std::vector<RefRecord> refs = {{"refs/heads/main", "1111", ""}};
  ASSERT_OK(catalog_->ReplaceRefs(repo_, refs, "refs/heads/main", 100));
  std::vector<RefRecord> next = {{"refs/heads/main", "2222", ""}};
  std::vector<LfsRefRecord> lfs = {{"refs/heads/main", Oid('x'), 0, "w.bin", true}};
  EXPECT_THAT(catalog_->ReplaceRefs(repo_, next, "refs/heads/main", 200, &lfs),
              test::StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(std::vector<RefRecord> got, catalog_->GetRefs(repo_));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].oid, "1111");
  ASSERT_OK_AND_ASSIGN(std::vector<LfsRefRecord> lfs_got, catalog_->GetLfsRefs(repo_));
  EXPECT_TRUE(lfs_got.empty());
}

TEST_F(CatalogLfsTest, DeletingTheRepoDropsItsReferencesButKeepsSharedObjects) {
  ASSERT_OK(catalog_->AddLfsObjects({Obj('a', 10)}, 100));
  std::vector<RefRecord> refs = {{"refs/heads/main", "1111", ""}};
  std::vector<LfsRefRecord> lfs = {{"refs/heads/main", Oid('a'), 0, "w.bin", true}};
  ASSERT_OK(catalog_->ReplaceRefs(repo_, refs, "refs/heads/main", 100, &lfs));
  ASSERT_OK(catalog_->DeleteRepo("org/model"));
  ASSERT_OK_AND_ASSIGN(std::optional<LfsRefRecord> found, catalog_->FindLfsRef(repo_, Oid('a')));
  EXPECT_FALSE(found.has_value());
  EXPECT_OK(catalog_->GetLfsObject(Oid('a')));
}

TEST_F(CatalogLfsTest, RunsCarryLfsCounters) {
  ASSERT_OK_AND_ASSIGN(int64_t run, catalog_->InsertRun(repo_, "manual", 100));
  ASSERT_OK(catalog_->MarkRunStarted(run, 101));
  SyncRunRecord done;
  done.id = run;
  done.state = "succeeded";
  done.finished_at = 102;
  done.lfs_objects = 3;
  done.lfs_objects_fetched = 2;
  done.lfs_bytes = 3000;
  done.lfs_bytes_fetched = 2100;
  ASSERT_OK(catalog_->FinishRun(done));
  ASSERT_OK_AND_ASSIGN(SyncRunRecord got, catalog_->GetRun(run));
  EXPECT_EQ(got.lfs_objects, 3u);
  EXPECT_EQ(got.lfs_objects_fetched, 2u);
  EXPECT_EQ(got.lfs_bytes, 3000u);
  EXPECT_EQ(got.lfs_bytes_fetched, 2100u);
}

// A catalog written by the first release upgrades in place and keeps its data.
TEST(CatalogLfsUpgrade, VersionOneCatalogIsMigratedWithItsData) {
  ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-catalog-upgrade-"));
  const auto file = dir.path() / "catalog.sqlite";
  {
    ASSERT_OK_AND_ASSIGN(Db db, Db::Open(file));
    ASSERT_OK(db.Exec(R"sql(
      CREATE TABLE repos (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
        upstream TEXT NOT NULL DEFAULT '', path TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'new',
        head TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL DEFAULT 0, last_success_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE refs (repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
        name TEXT NOT NULL, oid TEXT NOT NULL, peeled TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (repo_id, name)) WITHOUT ROWID;
      CREATE TABLE sync_runs (id INTEGER PRIMARY KEY AUTOINCREMENT,
        repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
        "trigger" TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'queued',
        error TEXT NOT NULL DEFAULT '', queued_at INTEGER NOT NULL DEFAULT 0,
        started_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0,
        received_bytes INTEGER NOT NULL DEFAULT 0, received_objects INTEGER NOT NULL DEFAULT 0,
        refs_added INTEGER NOT NULL DEFAULT 0, refs_updated INTEGER NOT NULL DEFAULT 0,
        refs_deleted INTEGER NOT NULL DEFAULT 0);
      INSERT INTO repos (name, state) VALUES ('org/old', 'ready');
      INSERT INTO sync_runs (repo_id, state, received_bytes) VALUES (1, 'succeeded', 77);
      PRAGMA user_version = 1;
    )sql"));
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Catalog> catalog, Catalog::Open(file));
  EXPECT_EQ(catalog->schema_version(), 4);
  ASSERT_OK_AND_ASSIGN(RepoRecord repo, catalog->GetRepo("org/old"));
  EXPECT_EQ(repo.state, "ready");
  ASSERT_OK_AND_ASSIGN(SyncRunRecord run, catalog->GetRun(1));
  EXPECT_EQ(run.received_bytes, 77u);
  EXPECT_EQ(run.lfs_bytes, 0u);
}

}  // namespace
}  // namespace mirrord
