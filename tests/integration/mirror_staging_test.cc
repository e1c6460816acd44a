// Unpublished objects are never served (issue 10 item 4), with the real mirrord, the test
// upstream and the real git client: after a sync fails in its LFS phase, its commit is
// staged but fetching it by SHA fails over protocol v0 AND v2 (v2 lets a client want any
// object the served repository has, so the staged objects must not be there); once a later
// sync publishes it, the same fetch works.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/lfs_upstream_repo.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kRepo = "org/staged";

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class MirrorStaging : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-staging-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(LfsUpstreamRepo repo, LfsUpstreamRepo::Create(dir_->path(), kRepo));
    upstream_ = std::move(repo.upstream);
    lfs_ = std::move(repo.lfs);
    work_ = std::move(repo.work);
    bare_ = std::move(repo.bare);
    url_ = std::move(repo.url);
    // Maintenance stays on (the default): publication feeds it new packs.
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(MirrordOptions{}));
  }

  // A new LFS object at the upstream and its pointer committed and pushed; returns the
  // commit.
  std::string CommitLfsFile(std::string_view path, uint64_t size, uint64_t seed) {
    Result<std::string> oid = lfs_->PutGeneratedObject(size, seed);
    EXPECT_OK(oid);
    if (!oid.ok()) return "";
    EXPECT_OK(work_->WriteFile(path, LfsPointerText(*oid, size)));
    EXPECT_OK(work_->Commit("add " + std::string(path)).status());
    GitOptions o;
    o.env["GIT_LFS_SKIP_PUSH"] = "1";
    EXPECT_OK(work_->PushMirror(bare_.string(), o));
    Result<std::string> head = Git({"--git-dir=" + bare_.string(), "rev-parse", "HEAD"});
    EXPECT_OK(head);
    return head.ok() ? Trim(*head) : "";
  }

  Result<ProcessResult> Sync() {
    return mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_});
  }

  // `git fetch <mirror> <sha>` into a fresh repository with the given protocol version.
  Result<ProcessResult> FetchBySha(const std::string& sha, int protocol_version) {
    std::filesystem::path dest =
        dir_->path() / ("fetch-" + std::to_string(++fetches_) + "-v" +
                        std::to_string(protocol_version));
    RETURN_IF_ERROR(Git({"init", "-q", "--bare", dest.string()}).status());
    GitOptions o;
    o.protocol_version = protocol_version;
    o.env["GIT_LFS_SKIP_SMUDGE"] = "1";
    return RunGit({"--git-dir=" + dest.string(), "fetch", "--no-tags", mirrord_->UrlFor(kRepo), sha},
                  {}, o);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
  std::unique_ptr<MirrordProcess> mirrord_;
  int fetches_ = 0;
};

TEST_F(MirrorStaging, StagedCommitIsNotServedBySha) {
  std::string published = CommitLfsFile("first.bin", 64 * 1024, 11);
  ASSERT_OK_AND_ASSIGN(ProcessResult first, Sync());
  ASSERT_TRUE(first.ok()) << first.Describe() << "\n" << mirrord_->Logs();

  // The next commit's LFS object cannot be fetched: the sync fails in its LFS phase after
  // its git objects were fetched and verified.
  std::string staged = CommitLfsFile("second.bin", 64 * 1024, 12);
  ASSERT_NE(staged, published);
  Fault down;
  down.path_substring = "/lfs/objects/";
  down.method = "GET";
  down.status = 503;
  down.extra_headers["Retry-After"] = "0";
  upstream_->AddFault(down);
  ASSERT_OK_AND_ASSIGN(ProcessResult failed, Sync());
  ASSERT_FALSE(failed.ok()) << failed.Describe();
  EXPECT_THAT(failed.stderr_text, HasSubstr("LFS objects could not be fetched"));

  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    // The published commit is fetchable by SHA (so a failure below is about the staged
    // commit, not the fetch itself)...
    ASSERT_OK_AND_ASSIGN(ProcessResult ok, FetchBySha(published, version));
    EXPECT_TRUE(ok.ok()) << ok.Describe();
    // ...the staged one is not.
    ASSERT_OK_AND_ASSIGN(ProcessResult refused, FetchBySha(staged, version));
    EXPECT_FALSE(refused.ok()) << refused.Describe();
    // v0: the client does not even ask (no allow-*-sha1-in-want capability); v2: it asks,
    // and upload-pack does not have the object.
    EXPECT_THAT(refused.stderr_text,
                HasSubstr(version == 0 ? "unadvertised object" : "not our ref"))
        << refused.Describe();
  }

  // The upstream recovers; the next sync publishes the commit and the same fetches work.
  upstream_->ClearFaults();
  ASSERT_OK_AND_ASSIGN(ProcessResult second, Sync());
  ASSERT_TRUE(second.ok()) << second.Describe() << "\n" << mirrord_->Logs();
  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    ASSERT_OK_AND_ASSIGN(ProcessResult ok, FetchBySha(staged, version));
    EXPECT_TRUE(ok.ok()) << ok.Describe();
  }
  // And a full clone of the published state is complete.
  std::filesystem::path clone = dir_->path() / "clone";
  GitOptions no_smudge;
  no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK(Git({"clone", "-q", "--mirror", mirrord_->UrlFor(kRepo), clone.string()}, {},
                no_smudge)
                .status());
  ASSERT_OK_AND_ASSIGN(std::string head, Git({"--git-dir=" + clone.string(), "rev-parse", "HEAD"}));
  EXPECT_EQ(Trim(head), staged);
  EXPECT_OK(Git({"--git-dir=" + clone.string(), "fsck", "--no-dangling"}).status());
}

}  // namespace
}  // namespace mirrord::test
