// Incremental syncs: whatever happened upstream (new commits, rewritten history, deleted
// branches, new and deleted tags), one sync makes the mirror equal again, and its summary
// counts exactly what changed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "team/llm";

// `mirrorctl status NAME --json`, decoded.
class MirrorIncremental : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-incremental-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "v1\n", "one").status());
    ASSERT_OK(work.CommitFile("model.py", "layers = 2\n", "two").status());
    ASSERT_OK(work.CreateAnnotatedTag("v1", "release 1"));
    ASSERT_OK(work.CreateTag("doomed-light"));
    ASSERT_OK(work.CreateAnnotatedTag("doomed-annotated", "will be deleted"));
    ASSERT_OK(work.CheckoutNewBranch("feature"));
    ASSERT_OK(work.CommitFile("feature.py", "a\n", "feature a").status());
    ASSERT_OK(work.CommitFile("feature.py", "b\n", "feature b").status());
    ASSERT_OK(work.CheckoutNewBranch("old", "main"));
    ASSERT_OK(work.CommitFile("old.txt", "old\n", "old work").status());
    ASSERT_OK(work.Checkout("main"));
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kRepo));
    ASSERT_OK(work.PushMirror(bare_.string()));
    work_.emplace(std::move(work));
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start());
    url_ = upstream_->UrlFor(kRepo);
  }

  Result<ProcessResult> Sync() {
    return mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_});
  }

  void ExpectMirrorEqualsUpstream() {
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
    EXPECT_EQ(got, want);
    std::filesystem::path dest = dir_->path() / ("mirror" + std::to_string(++clones_) + ".git");
    ASSERT_OK(Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), dest.string()})
                  .status());
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> want_refs, ForEachRef(bare_));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> got_refs, ForEachRef(dest));
    EXPECT_EQ(got_refs, want_refs);
    ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
  std::unique_ptr<MirrordProcess> mirrord_;
  int clones_ = 0;
};

TEST_F(MirrorIncremental, OneSyncCatchesUpWithEveryKindOfChange) {
  ASSERT_OK_AND_ASSIGN(ProcessResult first, Sync());
  ASSERT_TRUE(first.ok()) << first.Describe();
  // main, feature, old; v1, doomed-light, doomed-annotated.
  EXPECT_THAT(first.stdout_text, HasSubstr("team/llm: 6 refs added, 0 updated, 0 deleted"));
  ExpectMirrorEqualsUpstream();

  // A client clones now, to fetch the rewritten history later.
  std::filesystem::path client = dir_->path() / "client";
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), client.string()}).status());

  WorkRepo& w = *work_;
  // Updated: main (new commit, fast-forward) and feature (history rewritten, force-pushed).
  ASSERT_OK_AND_ASSIGN(std::string new_main, w.CommitFile("model.py", "layers = 3\n", "three"));
  ASSERT_OK(w.Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK(w.Checkout("feature"));
  ASSERT_OK(w.ResetHard("HEAD~2"));
  ASSERT_OK_AND_ASSIGN(std::string new_feature,
                       w.CommitFile("feature.py", "rewritten\n", "feature, rewritten"));
  ASSERT_OK(w.ForcePush(bare_.string(), "feature"));
  // Added: a branch and an annotated tag.
  ASSERT_OK(w.CheckoutNewBranch("next"));
  ASSERT_OK(w.CommitFile("next.txt", "next\n", "next").status());
  ASSERT_OK(w.Push(bare_.string(), {"refs/heads/next:refs/heads/next"}));
  ASSERT_OK(w.CreateAnnotatedTag("v2", "release 2", "main"));
  ASSERT_OK(w.Push(bare_.string(), {"refs/tags/v2:refs/tags/v2"}));
  // Deleted: a branch, a lightweight and an annotated tag.
  ASSERT_OK(w.DeleteRemoteRef(bare_.string(), "refs/heads/old"));
  ASSERT_OK(w.DeleteRemoteRef(bare_.string(), "refs/tags/doomed-light"));
  ASSERT_OK(w.DeleteRemoteRef(bare_.string(), "refs/tags/doomed-annotated"));

  ASSERT_OK_AND_ASSIGN(ProcessResult second, Sync());
  ASSERT_TRUE(second.ok()) << second.Describe() << "\n" << mirrord_->Logs();
  EXPECT_THAT(second.stdout_text, HasSubstr("team/llm: 2 refs added, 2 updated, 3 deleted"))
      << second.stdout_text;
  ExpectMirrorEqualsUpstream();

  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(status.ref_count, 5u);  // main, feature, next; v1, v2
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->state, "succeeded");
  EXPECT_EQ(status.last_run->refs_added, 2);
  EXPECT_EQ(status.last_run->refs_updated, 2);
  EXPECT_EQ(status.last_run->refs_deleted, 3);

  // The existing clone follows the force push and sees the deletions.
  ASSERT_OK(Git({"fetch", "--quiet", "--prune", "--prune-tags", "origin"}, client).status());
  ASSERT_OK_AND_ASSIGN(std::string feature, Git({"rev-parse", "origin/feature"}, client));
  EXPECT_EQ(feature, new_feature + "\n");
  ASSERT_OK_AND_ASSIGN(std::string main, Git({"rev-parse", "origin/main"}, client));
  EXPECT_EQ(main, new_main + "\n");
  EXPECT_FALSE(Git({"rev-parse", "--verify", "--quiet", "origin/old"}, client).ok());
  ASSERT_OK_AND_ASSIGN(std::string tags, Git({"tag", "--list"}, client));
  EXPECT_EQ(tags, "v1\nv2\n");
  ASSERT_OK(Git({"fsck", "--full", "--strict"}, client).status());

  // Nothing changed: nothing to report.
  ASSERT_OK_AND_ASSIGN(ProcessResult third, Sync());
  ASSERT_TRUE(third.ok()) << third.Describe();
  EXPECT_THAT(third.stdout_text, HasSubstr("team/llm: 0 refs added, 0 updated, 0 deleted"))
      << third.stdout_text;
  EXPECT_THAT(third.stdout_text, Not(HasSubstr("failed")));
  ExpectMirrorEqualsUpstream();
}

TEST_F(MirrorIncremental, DefaultBranchChangeIsFollowed) {
  ASSERT_OK_AND_ASSIGN(ProcessResult first, Sync());
  ASSERT_TRUE(first.ok()) << first.Describe();
  ASSERT_OK(Git({"--git-dir=" + bare_.string(), "symbolic-ref", "HEAD", "refs/heads/feature"})
                .status());
  ASSERT_OK_AND_ASSIGN(ProcessResult second, Sync());
  ASSERT_TRUE(second.ok()) << second.Describe();
  EXPECT_THAT(second.stdout_text, HasSubstr("team/llm: 0 refs added, 0 updated, 0 deleted"));
  ASSERT_OK_AND_ASSIGN(std::string symref,
                       Git({"ls-remote", "--symref", mirrord_->UrlFor(kRepo), "HEAD"}));
  EXPECT_THAT(symref, HasSubstr("ref: refs/heads/feature\tHEAD\n"));
  ExpectMirrorEqualsUpstream();
}

}  // namespace
}  // namespace mirrord::test
