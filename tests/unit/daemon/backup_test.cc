// WriteBackup (daemon/backup.h) on a real catalog, LFS store, OCI store and a real git
// mirror: the backup holds the refs the catalog snapshot records, not whatever the mirror
// moved on to, and refuses what would make it unusable.
#include "daemon/backup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>

#include "common/file_util.h"
#include "common/sha256.h"
#include "storage/catalog.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using test::Git;
using test::TempDir;
using test::WorkRepo;

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirrord-backup-"));
    dir_.emplace(std::move(dir));
    root_ = dir_->path() / "root";
    ASSERT_OK(CreateDirectories(root_));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(root_ / "catalog.sqlite"));
    ASSERT_OK_AND_ASSIGN(lfs_, BlobStore::Open(root_ / "lfs"));
    ASSERT_OK_AND_ASSIGN(oci_, OciStore::Open(root_ / "oci"));

    // A mirror whose main moved to c2 after the catalog recorded c1 (a sync publishing
    // while the backup starts: git first, then the catalog).
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK_AND_ASSIGN(c1_, work.CommitFile("a.txt", "one\n", "c1"));
    ASSERT_OK_AND_ASSIGN(c2_, work.CommitFile("a.txt", "two\n", "c2"));
    mirror_ = root_ / "repos" / "org" / "m.git";
    ASSERT_OK(Git({"init", "--quiet", "--bare", mirror_.string()}).status());
    ASSERT_OK(work.Push(mirror_.string(), {"refs/heads/main:refs/heads/main"}));
    RepoRecord r;
    r.name = "org/m";
    ASSERT_OK_AND_ASSIGN(repo_, catalog_->InsertRepo(r));
    ASSERT_OK(
        catalog_->ReplaceRefs(repo_.id, {{"refs/heads/main", c1_, ""}}, "refs/heads/main", 1000));

    lfs_object_ = "weights of some model";
    oid_ = Sha256Hex(lfs_object_);
    ASSERT_OK_AND_ASSIGN(auto partial, lfs_->OpenPartial(oid_, lfs_object_.size()));
    ASSERT_OK(partial->WriteAt(0, lfs_object_));
    ASSERT_OK(partial->CommitRange({0, lfs_object_.size()}));
    ASSERT_OK(partial->Publish());
    ASSERT_OK_AND_ASSIGN(blob_, oci_->Put("{\"config\":true}"));
  }

  BackupSources Sources() const {
    return BackupSources{root_ / "catalog.sqlite", root_ / "repos", lfs_.get(), oci_.get()};
  }

  Result<BackupSummary> Backup(const fs::path& dir, bool cancelled = false) {
    std::atomic<bool> cancel{cancelled};
    return WriteBackup(Sources(), dir, 1234, cancel,
                       [this](const BackupProgress& p) { phases_.push_back(p.phase); });
  }

  std::optional<TempDir> dir_;
  fs::path root_, mirror_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BlobStore> lfs_;
  std::unique_ptr<OciStore> oci_;
  RepoRecord repo_;
  std::string c1_, c2_, lfs_object_, oid_, blob_;
  std::vector<std::string> phases_;
};

TEST_F(BackupTest, HoldsTheCatalogsRefsAndEveryStoredObject) {
  const fs::path out = dir_->path() / "backup";
  ASSERT_OK_AND_ASSIGN(BackupSummary s, Backup(out));
  EXPECT_EQ(s.repos, 1);
  EXPECT_EQ(s.refs, 1);
  EXPECT_EQ(s.lfs_objects, 1u);
  EXPECT_EQ(s.oci_blobs, 1u);
  EXPECT_EQ(s.created_at, 1234);
  EXPECT_TRUE(fs::exists(out / "mirrord-backup.json"));
  EXPECT_EQ(phases_.back(), "done");

  // The mirror serves c1, the catalog's, though the live one is at c2.
  const fs::path copy = out / "repos" / "org" / "m.git";
  ASSERT_OK_AND_ASSIGN(std::string head, Git({"--git-dir=" + copy.string(), "rev-parse", "main"}));
  EXPECT_EQ(head, c1_ + "\n");
  ASSERT_OK_AND_ASSIGN(std::string live,
                       Git({"--git-dir=" + mirror_.string(), "rev-parse", "main"}));
  EXPECT_EQ(live, c2_ + "\n");
  ASSERT_OK(Git({"--git-dir=" + copy.string(), "fsck", "--connectivity-only"}).status());

  // The catalog copy is a database of its own with the same rows.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Catalog> restored, Catalog::Open(out / "catalog.sqlite"));
  ASSERT_OK_AND_ASSIGN(RepoRecord r, restored->GetRepo("org/m"));
  ASSERT_OK_AND_ASSIGN(std::vector<RefRecord> refs, restored->GetRefs(r.id));
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].oid, c1_);

  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> lfs, BlobStore::Open(out / "lfs"));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(lfs->ObjectPath(oid_)));
  EXPECT_EQ(got, lfs_object_);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<OciStore> oci, OciStore::Open(out / "oci"));
  ASSERT_OK_AND_ASSIGN(std::string config, oci->Read(blob_));
  EXPECT_EQ(config, "{\"config\":true}");
}

TEST_F(BackupTest, RefusesARelativeOrNonEmptyDirectory) {
  EXPECT_EQ(Backup("relative/dir").status().code(), StatusCode::kInvalidArgument);
  const fs::path out = dir_->path() / "used";
  ASSERT_OK(CreateDirectories(out));
  ASSERT_OK(WriteFileAtomically(out / "something", "x"));
  EXPECT_EQ(Backup(out).status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(fs::exists(out / "mirrord-backup.json"));
}

TEST_F(BackupTest, AMirrorMissingWhatTheCatalogNamesFailsWithoutMarker) {
  ASSERT_OK(catalog_->ReplaceRefs(repo_.id, {{"refs/heads/main", std::string(40, 'a'), ""}},
                                  "refs/heads/main", 1001));
  const fs::path out = dir_->path() / "backup";
  EXPECT_EQ(Backup(out).status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(out / "mirrord-backup.json"));
}

TEST_F(BackupTest, CancelledLeavesNoMarker) {
  const fs::path out = dir_->path() / "backup";
  EXPECT_EQ(Backup(out, /*cancelled=*/true).status().code(), StatusCode::kCancelled);
  EXPECT_FALSE(fs::exists(out / "mirrord-backup.json"));
}

}  // namespace
}  // namespace mirrord
