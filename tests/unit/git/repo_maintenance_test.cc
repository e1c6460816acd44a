// RunMaintenance: geometric packs under a multi-pack bitmap, a commit-graph, and the
// periodic full repack, via the real git CLI.
#include "git/repo_maintenance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/ref_publisher.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using gittest::Git;

std::vector<std::string> FilesEndingWith(const fs::path& dir, std::string_view suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.ends_with(suffix)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class RepoMaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-maint-test-");
    ASSERT_TRUE(tmp.ok());
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    upstream_ = std::make_unique<gittest::Upstream>(tmp_->path() / "up");
    mirror_ = tmp_->path() / "m.git";
    ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror_).ok());
  }
  void Sync() {
    FetchOptions o;
    o.url = upstream_->file_url();
    o.refspecs = {"refs/heads/*", "refs/tags/*"};
    auto fetched = FetchMirror(mirror_, o);
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
    ASSERT_TRUE(PublishRefs(mirror_, fetched->refs, fetched->head).ok());
  }
  std::string G(std::vector<std::string> args) {
    args.insert(args.begin(), "--git-dir=" + mirror_.string());
    return Git(std::move(args));
  }
  // `git rev-list --test-bitmap` walks the history and checks the bitmap against it.
  void ExpectBitmapValid() {
    gittest::CmdResult r = gittest::Run(
        {"git", "--git-dir=" + mirror_.string(), "rev-list", "--test-bitmap", "refs/heads/main"});
    EXPECT_TRUE(r.ok()) << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr("OK!"));
  }
  fs::path pack_dir() const { return mirror_ / "objects" / "pack"; }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<gittest::Upstream> upstream_;
  fs::path mirror_;
};

TEST_F(RepoMaintenanceTest, WritesAMultiPackBitmapAndACommitGraph) {
  // Two syncs: two packs, a big one and a small one.
  upstream_->Commit("big", 40, 4096);
  Sync();
  upstream_->Commit("small", 1);
  Sync();
  ASSERT_EQ(FilesEndingWith(pack_dir(), ".pack").size(), 2u);

  Status s = RunMaintenance(mirror_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // Geometric: the small pack is rolled into a pack of its own size class, the big pack is
  // not rewritten; one multi-pack index and bitmap cover them.
  EXPECT_TRUE(fs::exists(pack_dir() / "multi-pack-index"));
  EXPECT_EQ(FilesEndingWith(pack_dir(), ".bitmap").size(), 1u);
  EXPECT_TRUE(fs::exists(mirror_ / "objects" / "info" / "commit-graph"));
  G({"fsck", "--no-dangling"});
  G({"commit-graph", "verify"});
  G({"multi-pack-index", "verify"});
  ExpectBitmapValid();
  // Clients can still clone everything.
  Git({"clone", "-q", "--mirror", mirror_.string(), (tmp_->path() / "clone.git").string()});
}

TEST_F(RepoMaintenanceTest, GeometricRepackKeepsTheBigPackAndFullRepackDropsUnreachable) {
  upstream_->Commit("big", 40, 4096);
  Sync();
  ASSERT_TRUE(RunMaintenance(mirror_).ok());
  std::vector<std::string> big = FilesEndingWith(pack_dir(), ".pack");
  ASSERT_EQ(big.size(), 1u);

  // A force push leaves a commit no ref reaches.
  std::string doomed = upstream_->Commit("doomed", 1);
  Sync();
  upstream_->G({"reset", "-q", "--hard", "HEAD~1"});
  upstream_->Commit("replacement", 1);
  Sync();
  ASSERT_TRUE(RunMaintenance(mirror_).ok());
  std::vector<std::string> packs = FilesEndingWith(pack_dir(), ".pack");
  EXPECT_THAT(packs, ::testing::Contains(big[0]));  // the big pack was not rewritten
  // Not yet due: the unreachable commit is still there.
  EXPECT_EQ(
      gittest::Run({"git", "--git-dir=" + mirror_.string(), "cat-file", "-e", doomed}).exit_code,
      0);

  MaintenanceOptions full;
  full.full_repack_interval = std::chrono::seconds(0);
  Status s = RunMaintenance(mirror_, full);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(FilesEndingWith(pack_dir(), ".pack").size(), 1u);
  EXPECT_NE(
      gittest::Run({"git", "--git-dir=" + mirror_.string(), "cat-file", "-e", doomed}).exit_code,
      0);
  G({"fsck", "--no-dangling"});
  ExpectBitmapValid();
}

TEST(RepoMaintenanceFailureTest, ReportsFailuresAsStatus) {
  auto tmp = test::TempDir::Create("mirrord-maint-test-");
  ASSERT_TRUE(tmp.ok());
  fs::path mirror = tmp->path() / "m.git";
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror).ok());
  Status s = RunMaintenance(mirror, {.git_binary = "/nonexistent/git"});
  // Empty repository: nothing to repack, the commit-graph step fails to start.
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();

  s = RunMaintenance(tmp->path() / "not-a-repo");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);

  // git itself failing: its stderr reaches the message.
  s = RunMaintenance(mirror, {.git_binary = "false"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("exit 1"));
}

}  // namespace
}  // namespace mirrord
