// PruneUnreachable and CheckMirrorIntegrity (git/repo_maintenance.h) with the real git CLI:
// the grace counts from an unreachable loose object's mtime, a dry run lists without
// deleting, reachable history is never touched, and fsck finds a damaged pack.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/ref_publisher.h"
#include "git/repo_maintenance.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

class RepoPruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-prune-test-");
    ASSERT_TRUE(tmp.ok());
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    upstream_ = std::make_unique<gittest::Upstream>(tmp_->path() / "up");
    mirror_ = tmp_->path() / "m.git";
    ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror_).ok());
    upstream_->Commit("history", 3);
    FetchOptions o;
    o.url = upstream_->file_url();
    o.refspecs = {"refs/heads/*", "refs/tags/*"};
    auto fetched = FetchMirror(mirror_, o);
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
    ASSERT_TRUE(PublishRefs(mirror_, fetched->refs, fetched->head).ok());
  }

  // Writes a loose blob no ref reaches, last modified `age` ago; returns its id.
  std::string Unreachable(const std::string& content, hours age) {
    gittest::CmdResult r = gittest::Run(
        {"git", "--git-dir=" + mirror_.string(), "hash-object", "-w", "--stdin"}, {}, content);
    EXPECT_TRUE(r.ok()) << r.err;
    std::string id = r.out.substr(0, 40);
    fs::path loose = mirror_ / "objects" / id.substr(0, 2) / id.substr(2);
    fs::last_write_time(loose, fs::file_time_type::clock::now() - age);
    return id;
  }

  bool Has(const std::string& id) {
    return gittest::Run({"git", "--git-dir=" + mirror_.string(), "cat-file", "-e", id}).exit_code ==
           0;
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<gittest::Upstream> upstream_;
  fs::path mirror_;
};

TEST_F(RepoPruneTest, PrunesOnlyUnreachableObjectsPastTheGrace) {
  const std::string old_blob = Unreachable("left behind by a force push", hours(48));
  const std::string new_blob = Unreachable("written by a fetch in progress", hours(0));

  Result<PruneReport> dry = PruneUnreachable(mirror_, hours(24), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->objects, 1u);
  EXPECT_GT(dry->bytes, 0u);
  EXPECT_TRUE(Has(old_blob)) << "a dry run deletes nothing";

  Result<PruneReport> kept = PruneUnreachable(mirror_, hours(72), /*dry_run=*/false);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->objects, 0u);
  EXPECT_TRUE(Has(old_blob)) << "within the grace";

  Result<PruneReport> pruned = PruneUnreachable(mirror_, hours(24), /*dry_run=*/false);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->objects, 1u);
  EXPECT_EQ(pruned->bytes, dry->bytes);
  EXPECT_FALSE(Has(old_blob));
  EXPECT_TRUE(Has(new_blob));
  EXPECT_TRUE(CheckMirrorIntegrity(mirror_).ok()) << "reachable history intact";
  // Clients still clone everything.
  gittest::Git({"clone", "-q", "--mirror", mirror_.string(), (tmp_->path() / "c.git").string()});
}

TEST_F(RepoPruneTest, IntegrityCheckFindsADamagedPack) {
  ASSERT_TRUE(CheckMirrorIntegrity(mirror_).ok());
  fs::path pack;
  for (const auto& e : fs::directory_iterator(mirror_ / "objects" / "pack")) {
    if (e.path().extension() == ".pack") pack = e.path();
  }
  ASSERT_FALSE(pack.empty());
  ASSERT_EQ(::chmod(pack.c_str(), 0644), 0);
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(pack) / 2));
    f.put('\x5a');
    f.put('\xa5');
  }
  Status s = CheckMirrorIntegrity(mirror_);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_EQ(CheckMirrorIntegrity(tmp_->path() / "nothing").code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mirrord
