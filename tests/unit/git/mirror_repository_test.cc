// MirrorRepository: creation, configuration, crash recovery.
#include "git/mirror_repository.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "git/mirror_fetcher.h"
#include "git/ref_publisher.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using gittest::Git;
using gittest::Trim;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

class MirrorRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-repo-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    dir_ = tmp_->path() / "owner" / "model.git";
  }
  std::string Config(const std::string& key) {
    return Trim(Git({"--git-dir=" + dir_.string(), "config", "--get", key}));
  }
  std::unique_ptr<test::TempDir> tmp_;
  fs::path dir_;
};

TEST_F(MirrorRepositoryTest, CreatesAConfiguredBareRepositoryAtomically) {
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(dir_).ok());
  EXPECT_EQ(Trim(Git({"--git-dir=" + dir_.string(), "rev-parse", "--is-bare-repository"})), "true");
  EXPECT_EQ(Config("core.logallrefupdates"), "false");
  EXPECT_EQ(Config("gc.auto"), "0");
  EXPECT_EQ(Config("uploadpack.hiderefs"), "refs/mirrord");
  EXPECT_EQ(Config("uploadpack.allowfilter"), "true");
  EXPECT_EQ(Config("uploadpack.allowanysha1inwant"), "false");
  EXPECT_EQ(Config("http.receivepack"), "false");
  // No temporary directory is left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);

  // Opening again is fine and restores a changed setting.
  Git({"--git-dir=" + dir_.string(), "config", "gc.auto", "100"});
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(dir_).ok());
  EXPECT_EQ(Config("gc.auto"), "0");
}

TEST_F(MirrorRepositoryTest, ExistingNonRepositoryIsRefused) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "junk") << "x";
  Status s = MirrorRepository::CreateOrOpen(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
}

TEST_F(MirrorRepositoryTest, RecoveryRemovesWhatACrashLeavesAndKeepsTheRest) {
  gittest::Upstream upstream(tmp_->path() / "up");
  std::string head = upstream.Commit("one", 3);
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(dir_).ok());
  FetchOptions o;
  o.url = upstream.file_url();
  o.refspecs = {"refs/heads/*"};
  auto fetched = FetchMirror(dir_, o);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  ASSERT_TRUE(PublishRefs(dir_, fetched->refs, fetched->head).ok());

  fs::path pack = dir_ / "objects" / "pack";
  fs::create_directories(dir_ / "refs" / "mirrord" / "staging" / "heads");
  fs::create_directories(dir_ / "objects" / "info" / "commit-graphs");
  fs::create_directories(dir_ / "objects" / "ab");
  std::vector<fs::path> garbage = {
      dir_ / "packed-refs.lock",
      dir_ / "HEAD.lock",
      dir_ / "config.lock",
      dir_ / "refs" / "mirrord" / "staging" / "heads" / "main.lock",
      pack / "pack_git2_a1B2c3",
      pack / "tmp_pack_XyZ123",
      pack / ".tmp-1234-pack-0123.pack",
      pack / "pack-1111111111111111111111111111111111111111.pack",  // no .idx
      pack / "pack-2222222222222222222222222222222222222222.idx",   // no .pack
      dir_ / "objects" / "tmp_object_git2_Qw3rTy",
      dir_ / "objects" / "ab" / "tmp_obj_123456",
      dir_ / "objects" / "info" / "commit-graph.lock",
      dir_ / "objects" / "info" / "commit-graphs" / "tmp_graph_abc",
      dir_.parent_path() / ".model.git.incomplete-Ab12Cd",
  };
  for (const fs::path& p : garbage) std::ofstream(p) << "crash leftovers";
  fs::create_directories(dir_.parent_path() / ".model.git.incomplete-Zz99Yy" / "objects");
  garbage.push_back(dir_.parent_path() / ".model.git.incomplete-Zz99Yy");
  // Not garbage: another repo's temp dir, and the real pack.
  fs::create_directories(dir_.parent_path() / ".other.git.incomplete-Ab12Cd");

  auto removed = MirrorRepository::RecoverAfterCrash(dir_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_THAT(*removed, UnorderedElementsAreArray(garbage));
  for (const fs::path& p : garbage) EXPECT_FALSE(fs::exists(p)) << p;
  EXPECT_TRUE(fs::exists(dir_.parent_path() / ".other.git.incomplete-Ab12Cd"));
  Git({"--git-dir=" + dir_.string(), "fsck", "--no-dangling"});
  EXPECT_EQ(Trim(Git({"--git-dir=" + dir_.string(), "rev-parse", "refs/heads/main"})), head);

  // Nothing left: a second recovery removes nothing.
  removed = MirrorRepository::RecoverAfterCrash(dir_);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());
}

TEST_F(MirrorRepositoryTest, RecoveryOfManyMirrorsListsEachParentOnceAndMatchesPerMirror) {
  const fs::path parent = dir_.parent_path();
  const fs::path other_owner = parent.parent_path() / "other-owner";
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(dir_).ok());
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(parent / "second.git").ok());
  std::ofstream(dir_ / "packed-refs.lock") << "stale";
  fs::create_directories(parent / ".model.git.incomplete-Ab12Cd" / "refs");
  fs::create_directories(parent / ".third.git.incomplete-Qq11Ww");  // third.git is missing
  fs::create_directories(other_owner / ".x.git.incomplete-Zz99Yy");
  // Not ours to remove: a mirror not in the list, a wrong suffix length, a visible name.
  fs::create_directories(parent / ".busy.git.incomplete-Ab12Cd");
  fs::create_directories(parent / ".model.git.incomplete-Ab12C");
  fs::create_directories(parent / "model.git.incomplete-Ab12Cd");

  std::vector<fs::path> dirs = {dir_, parent / "second.git", parent / "third.git",
                                other_owner / "x.git"};
  auto results = MirrorRepository::RecoverAllAfterCrash(dirs);
  ASSERT_EQ(results.size(), dirs.size());
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*results[0], UnorderedElementsAre(parent / ".model.git.incomplete-Ab12Cd",
                                                dir_ / "packed-refs.lock"));
  EXPECT_TRUE(results[1]->empty());
  EXPECT_THAT(*results[2], ElementsAre(parent / ".third.git.incomplete-Qq11Ww"));
  EXPECT_THAT(*results[3], ElementsAre(other_owner / ".x.git.incomplete-Zz99Yy"));
  EXPECT_TRUE(fs::exists(parent / ".busy.git.incomplete-Ab12Cd"));
  EXPECT_TRUE(fs::exists(parent / ".model.git.incomplete-Ab12C"));
  EXPECT_TRUE(fs::exists(parent / "model.git.incomplete-Ab12Cd"));
  EXPECT_TRUE(fs::is_directory(dir_ / "objects"));
  EXPECT_TRUE(fs::is_directory(parent / "second.git" / "objects"));
}

TEST_F(MirrorRepositoryTest, RecoveryOfAMissingMirrorCleansOnlyIncompleteSiblings) {
  fs::create_directories(dir_.parent_path() / ".model.git.incomplete-Ab12Cd" / "refs");
  auto removed = MirrorRepository::RecoverAfterCrash(dir_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_THAT(*removed, Contains(dir_.parent_path() / ".model.git.incomplete-Ab12Cd"));
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace mirrord
