// RunMaintenance: one pack with a bitmap plus a commit-graph, via the real git CLI.
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

TEST(RepoMaintenanceTest, WritesOnePackWithBitmapAndACommitGraph) {
  auto tmp = test::TempDir::Create("mirrord-maint-test-");
  ASSERT_TRUE(tmp.ok());
  gittest::Upstream upstream(tmp->path() / "up");
  fs::path mirror = tmp->path() / "m.git";
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror).ok());
  FetchOptions o;
  o.url = upstream.file_url();
  o.refspecs = {"refs/heads/*", "refs/tags/*"};
  // Two syncs: two packs.
  for (int i = 0; i < 2; ++i) {
    upstream.Commit("c" + std::to_string(i), 4);
    auto fetched = FetchMirror(mirror, o);
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
    ASSERT_TRUE(PublishRefs(mirror, fetched->refs, fetched->head).ok());
  }
  fs::path pack_dir = mirror / "objects" / "pack";
  ASSERT_EQ(FilesEndingWith(pack_dir, ".pack").size(), 2u);

  Status s = RunMaintenance(mirror);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto packs = FilesEndingWith(pack_dir, ".pack");
  EXPECT_EQ(packs.size(), 1u);
  EXPECT_EQ(FilesEndingWith(pack_dir, ".bitmap").size(), 1u);
  EXPECT_TRUE(fs::exists(mirror / "objects" / "info" / "commit-graph"));
  Git({"--git-dir=" + mirror.string(), "fsck", "--no-dangling"});
  Git({"--git-dir=" + mirror.string(), "commit-graph", "verify"});

  // Already maintained: the repack is skipped (same pack), the graph is rewritten.
  s = RunMaintenance(mirror);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(FilesEndingWith(pack_dir, ".pack"), packs);
  // Clients can still clone everything.
  Git({"clone", "-q", "--mirror", mirror.string(), (tmp->path() / "clone.git").string()});
}

TEST(RepoMaintenanceTest, ReportsFailuresAsStatus) {
  auto tmp = test::TempDir::Create("mirrord-maint-test-");
  ASSERT_TRUE(tmp.ok());
  fs::path mirror = tmp->path() / "m.git";
  ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror).ok());
  Status s = RunMaintenance(mirror, "/nonexistent/git");
  // Empty repository: nothing to repack, the commit-graph step fails to start.
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();

  s = RunMaintenance(tmp->path() / "not-a-repo");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);

  // git itself failing: its stderr reaches the message.
  s = RunMaintenance(mirror, "false");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("exit 1"));
}

}  // namespace
}  // namespace mirrord
