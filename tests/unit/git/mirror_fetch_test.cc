// FetchMirror + PublishRefs against real upstream repositories built with the git CLI,
// fetched through libgit2's local transport (file:// URLs).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/mirror_staging.h"
#include "git/ref_publisher.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

using gittest::ForEachRef;
using gittest::Git;
using gittest::Trim;
using gittest::Upstream;
using ::testing::HasSubstr;
using ::testing::Not;

class MirrorFetchTest : public gittest::MirrorFixture {
 protected:
  // One sync: fetch then publish. Returns the fetch result.
  FetchResult Sync(const FetchOptions& options, RefUpdateSummary* summary = nullptr) {
    auto fetched = FetchMirror(mirror_, options);
    EXPECT_TRUE(fetched.ok()) << fetched.status().ToString();
    if (!fetched.ok()) return {};
    auto published = PublishRefs(mirror_, fetched->refs, fetched->head);
    EXPECT_TRUE(published.ok()) << published.status().ToString();
    if (summary != nullptr && published.ok()) *summary = *published;
    return *fetched;
  }

  void ExpectMirrorEqualsUpstream() {
    EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
    // What a client sees: upload-pack's advertisement (hideRefs applies).
    std::string advertised = Git({"ls-remote", mirror_.string()});
    EXPECT_THAT(advertised, Not(HasSubstr("refs/mirrord")));
    std::string upstream_advertised = Git({"ls-remote", upstream_->dir().string()});
    EXPECT_EQ(advertised, upstream_advertised);
  }

};

TEST_F(MirrorFetchTest, InitialFetchAndPublishEqualsUpstream) {
  upstream_->Commit("one", 5);
  upstream_->G({"tag", "-a", "v1", "-m", "version 1"});
  upstream_->G({"tag", "light"});
  upstream_->G({"branch", "feature"});
  upstream_->Commit("two", 3);

  RefUpdateSummary summary;
  FetchResult result = Sync(Options(), &summary);
  EXPECT_EQ(result.head, "refs/heads/main");
  EXPECT_EQ(summary.added, 4);
  EXPECT_EQ(summary.updated, 0);
  EXPECT_EQ(summary.deleted, 0);
  EXPECT_GT(result.received_objects, 0u);
  EXPECT_EQ(result.received_objects, result.total_objects);
  ExpectMirrorEqualsUpstream();
  EXPECT_EQ(Trim(Git({"--git-dir=" + mirror_.string(), "symbolic-ref", "HEAD"})),
            "refs/heads/main");

  // The annotated tag carries its peeled commit, like `git show-ref -d`.
  std::string tag_commit = Trim(upstream_->G({"rev-parse", "v1^{}"}));
  bool found = false;
  for (const PublishedRef& r : result.refs) {
    if (r.name == "refs/tags/v1") {
      found = true;
      EXPECT_EQ(r.peeled, tag_commit);
    } else {
      EXPECT_EQ(r.peeled, "") << r.name;
    }
  }
  EXPECT_TRUE(found);
  // Staging refs live in the staging repository, not in the served mirror.
  EXPECT_THAT(Git({"--git-dir=" + StagingDirectory(mirror_).string(), "for-each-ref",
                   "refs/mirrord/staging"}),
              HasSubstr("refs/mirrord/staging/heads/main"));
  EXPECT_EQ(Git({"--git-dir=" + mirror_.string(), "for-each-ref", "refs/mirrord"}), "");
  // And the mirror is a complete, cloneable repository.
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
  Git({"clone", "-q", mirror_.string(), (tmp_->path() / "clone").string()});
}

TEST_F(MirrorFetchTest, IncrementalForcePushDeletedBranchAndNewTagConverge) {
  upstream_->Commit("base", 2);
  upstream_->G({"branch", "doomed"});
  std::string before_force = upstream_->Commit("will be rewritten");
  Sync(Options());
  ExpectMirrorEqualsUpstream();

  // New commit: an incremental fetch.
  upstream_->Commit("incremental");
  RefUpdateSummary summary;
  FetchResult result = Sync(Options(), &summary);
  EXPECT_EQ(summary.updated, 1);
  EXPECT_LT(result.received_objects, 10u);
  ExpectMirrorEqualsUpstream();

  // Force push (history rewritten), branch deleted, annotated tag added: one sync.
  upstream_->G({"reset", "-q", "--hard", "HEAD~2"});
  upstream_->Commit("rewritten");
  upstream_->G({"branch", "-D", "doomed"});
  upstream_->G({"tag", "-a", "v2", "-m", "version 2"});
  result = Sync(Options(), &summary);
  EXPECT_EQ(summary.added, 1);
  EXPECT_EQ(summary.updated, 1);
  EXPECT_EQ(summary.deleted, 1);
  ExpectMirrorEqualsUpstream();
  // The deleted branch's staging ref is pruned too.
  EXPECT_THAT(Git({"--git-dir=" + mirror_.string(), "for-each-ref"}), Not(HasSubstr("doomed")));
  EXPECT_THAT(Git({"--git-dir=" + StagingDirectory(mirror_).string(), "for-each-ref"}),
              Not(HasSubstr("doomed")));
  EXPECT_THAT(Git({"--git-dir=" + mirror_.string(), "for-each-ref"}), Not(HasSubstr(before_force)));
}

TEST_F(MirrorFetchTest, HeadFollowsTheUpstreamDefaultBranch) {
  upstream_->Commit("base");
  upstream_->G({"checkout", "-q", "-b", "dev"});
  upstream_->Commit("on dev");
  FetchResult result = Sync(Options());
  EXPECT_EQ(result.head, "refs/heads/dev");
  EXPECT_EQ(Trim(Git({"--git-dir=" + mirror_.string(), "symbolic-ref", "HEAD"})), "refs/heads/dev");
}

TEST_F(MirrorFetchTest, RefspecsSelectWhatIsPublishedAndNarrowingPrunes) {
  upstream_->Commit("base");
  upstream_->G({"tag", "-a", "v1", "-m", "v1"});
  Sync(Options());
  ASSERT_THAT(ForEachRef(mirror_), HasSubstr("refs/tags/v1"));

  FetchOptions heads_only = Options();
  heads_only.refspecs = {"refs/heads/*"};
  FetchResult result = Sync(heads_only);
  ASSERT_EQ(result.refs.size(), 1u);
  EXPECT_EQ(result.refs[0].name, "refs/heads/main");
  EXPECT_THAT(Git({"--git-dir=" + mirror_.string(), "for-each-ref"}), Not(HasSubstr("v1")));

  // A renaming refspec publishes under the destination name.
  FetchOptions renamed = Options();
  renamed.refspecs = {"+refs/heads/*:refs/heads/upstream/*"};
  result = Sync(renamed);
  ASSERT_EQ(result.refs.size(), 1u);
  EXPECT_EQ(result.refs[0].name, "refs/heads/upstream/main");
  EXPECT_EQ(result.head, "refs/heads/upstream/main");
}

TEST_F(MirrorFetchTest, ProgressIsReportedAndCancelAborts) {
  upstream_->Commit("big", 200, 512);
  FetchOptions options = Options();
  std::atomic<bool> cancel{false};
  int calls = 0;
  options.cancel = &cancel;
  options.on_progress = [&](const FetchProgress& p) {
    ++calls;
    EXPECT_LE(p.received_objects, p.total_objects);
    cancel.store(true);
  };
  auto fetched = FetchMirror(mirror_, options);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kCancelled) << fetched.status().ToString();
  EXPECT_GE(calls, 1);
  // Nothing was published, and a later fetch works (no temporary files in the way).
  EXPECT_EQ(ForEachRef(mirror_), "");
  cancel.store(false);
  calls = 0;
  options.on_progress = [&](const FetchProgress&) { ++calls; };
  auto again = FetchMirror(mirror_, options);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GT(calls, 1);
}

TEST_F(MirrorFetchTest, CancelBeforeStartReturnsCancelled) {
  upstream_->Commit("base");
  std::atomic<bool> cancel{true};
  FetchOptions options = Options();
  options.cancel = &cancel;
  auto fetched = FetchMirror(mirror_, options);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kCancelled);
}

TEST_F(MirrorFetchTest, MissingUpstreamIsNotFound) {
  FetchOptions options = Options();
  options.url = "file://" + (tmp_->path() / "does-not-exist").string();
  auto fetched = FetchMirror(mirror_, options);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kNotFound) << fetched.status().ToString();
}

TEST_F(MirrorFetchTest, EmptyUpstreamPublishesNothing) {
  auto fetched = FetchMirror(mirror_, Options());
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_TRUE(fetched->refs.empty());
  EXPECT_EQ(fetched->head, "");
  auto published = PublishRefs(mirror_, fetched->refs, fetched->head);
  ASSERT_TRUE(published.ok()) << published.status().ToString();
}

TEST(StagingRefspecTest, MapsIntoTheStagingNamespace) {
  EXPECT_EQ(*StagingRefspec("+refs/heads/*:refs/heads/*"),
            "+refs/heads/*:refs/mirrord/staging/heads/*");
  EXPECT_EQ(*StagingRefspec("refs/tags/*"), "+refs/tags/*:refs/mirrord/staging/tags/*");
  EXPECT_EQ(*StagingRefspec("refs/heads/main:refs/heads/stable"),
            "+refs/heads/main:refs/mirrord/staging/heads/stable");
  EXPECT_EQ(*StagingRefspec("+refs/pull/*/head:refs/pull/*/head"),
            "+refs/pull/*/head:refs/mirrord/staging/pull/*/head");
}

TEST(StagingRefspecTest, RejectsWhatCannotBeMirrored) {
  for (const char* bad :
       {"^refs/heads/secret", "heads/*", "refs/heads/*:heads/*", "refs/heads/*:refs/mirrord/x/*",
        "refs/heads/*:refs/heads/main", "refs/*/*:refs/*/*", "a:b:c"}) {
    auto r = StagingRefspec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace mirrord
