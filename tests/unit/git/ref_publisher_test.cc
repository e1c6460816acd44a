// PublishRefs / ReadPublishedRefs: atomicity under concurrent readers, refusal to publish
// missing objects, validation, lock handling.
#include "git/ref_publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/mirror_staging.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

using gittest::ForEachRef;
using gittest::Git;
using gittest::Trim;
using gittest::Upstream;
using ::testing::HasSubstr;

class RefPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-publish-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    upstream_ = std::make_unique<Upstream>(tmp_->path() / "upstream");
    first_ = upstream_->Commit("first");
    upstream_->G({"tag", "-a", "t1", "-m", "annotated"});
    tag_ = Trim(upstream_->G({"rev-parse", "t1"}));
    second_ = upstream_->Commit("second");
    mirror_ = tmp_->path() / "repo.git";
    ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror_).ok());
    // Bring the objects in (staging refs only; nothing published yet).
    FetchOptions o;
    o.url = upstream_->file_url();
    o.refspecs = {"+refs/heads/*", "+refs/tags/*"};
    auto fetched = FetchMirror(mirror_, o);
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  }

  std::string PackedRefs() {
    auto text = ReadFileToString(mirror_ / "packed-refs");
    return text.ok() ? *text : "";
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<Upstream> upstream_;
  std::filesystem::path mirror_;
  std::string first_, second_, tag_;
};

TEST_F(RefPublisherTest, PublishesExactlyTheGivenSetWithPeeledTags) {
  std::vector<PublishedRef> refs = {
      {"refs/heads/main", second_, ""}, {"refs/heads/old", first_, ""}, {"refs/tags/t1", tag_, ""}};
  auto summary = PublishRefs(mirror_, refs, "refs/heads/main");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->added, 3);

  auto read = ReadPublishedRefs(mirror_);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  std::vector<PublishedRef> expected = {{"refs/heads/main", second_, ""},
                                        {"refs/heads/old", first_, ""},
                                        {"refs/tags/t1", tag_, first_}};
  EXPECT_EQ(*read, expected);
  EXPECT_EQ(*ReadHeadTarget(mirror_), "refs/heads/main");
  EXPECT_EQ(PackedRefs().rfind("# pack-refs with: peeled fully-peeled sorted \n", 0), 0u);
  // git agrees, including the peeled tag.
  EXPECT_THAT(Git({"--git-dir=" + mirror_.string(), "show-ref", "-d"}),
              HasSubstr(first_ + " refs/tags/t1^{}"));

  // Second publication: one updated, one deleted, one added; HEAD kept when empty.
  refs = {{"refs/heads/main", first_, ""},
          {"refs/tags/t1", tag_, first_},
          {"refs/heads/new", second_, ""}};
  summary = PublishRefs(mirror_, refs, "");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->added, 1);
  EXPECT_EQ(summary->updated, 1);
  EXPECT_EQ(summary->deleted, 1);
  EXPECT_EQ(*ReadHeadTarget(mirror_), "refs/heads/main");
  // Staging refs are untouched by publication.
  EXPECT_THAT(Git({"--git-dir=" + StagingDirectory(mirror_).string(), "for-each-ref",
                   "refs/mirrord"}),
              HasSubstr("refs/mirrord/staging/heads/main"));
}

TEST_F(RefPublisherTest, ReadersNeverSeeAMixOfTwoSets) {
  // Two sets that differ in every ref and in size.
  std::vector<PublishedRef> a, b;
  for (int i = 0; i < 30; ++i) a.push_back({"refs/heads/a" + std::to_string(i), first_, ""});
  for (int i = 0; i < 20; ++i) b.push_back({"refs/heads/b" + std::to_string(i), second_, ""});
  for (int i = 0; i < 10; ++i) b.push_back({"refs/heads/a" + std::to_string(i), second_, ""});
  std::sort(a.begin(), a.end(), [](auto& x, auto& y) { return x.name < y.name; });
  std::sort(b.begin(), b.end(), [](auto& x, auto& y) { return x.name < y.name; });
  ASSERT_TRUE(PublishRefs(mirror_, a, "").ok());
  std::string git_a = ForEachRef(mirror_);
  ASSERT_TRUE(PublishRefs(mirror_, b, "").ok());
  std::string git_b = ForEachRef(mirror_);
  ASSERT_NE(git_a, git_b);

  std::atomic<bool> done{false};
  std::atomic<int> api_reads{0}, git_reads{0}, mixed{0};
  std::thread api_reader([&] {
    while (!done.load()) {
      auto read = ReadPublishedRefs(mirror_);
      if (!read.ok() || (*read != a && *read != b)) ++mixed;
      ++api_reads;
    }
  });
  std::thread git_reader([&] {
    while (!done.load()) {
      std::string seen = ForEachRef(mirror_);
      if (seen != git_a && seen != git_b) {
        ++mixed;
        ADD_FAILURE() << "git saw a mixed set:\n" << seen;
      }
      ++git_reads;
    }
  });
  for (int i = 0; i < 50; ++i) {
    auto s = PublishRefs(mirror_, i % 2 == 0 ? a : b, "");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  done.store(true);
  api_reader.join();
  git_reader.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_GT(api_reads.load(), 0);
  EXPECT_GT(git_reads.load(), 0);
}

TEST_F(RefPublisherTest, RefusesRefsWhoseObjectsAreMissing) {
  ASSERT_TRUE(PublishRefs(mirror_, {{"refs/heads/main", first_, ""}}, "refs/heads/main").ok());
  std::string before = PackedRefs();
  auto s = PublishRefs(mirror_,
                       {{"refs/heads/main", second_, ""},
                        {"refs/heads/ghost", "1234567890123456789012345678901234567890", ""}},
                       "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.status().message(), HasSubstr("refs/heads/ghost"));
  EXPECT_EQ(PackedRefs(), before);

  // A commit whose tree is gone is refused too.
  std::string gd = "--git-dir=" + mirror_.string();
  std::string blob =
      Trim(gittest::Run({"git", gd, "hash-object", "-w", "--stdin"}, {}, "unique\n").out);
  std::string tree =
      Trim(gittest::Run({"git", gd, "mktree"}, {}, "100644 blob " + blob + "\tfile\n").out);
  std::string orphan = Trim(gittest::Run({"git", gd, "commit-tree", tree, "-m", "x"}).out);
  ASSERT_EQ(orphan.size(), 40u);
  ASSERT_TRUE(std::filesystem::remove(mirror_ / "objects" / tree.substr(0, 2) / tree.substr(2)));
  s = PublishRefs(mirror_, {{"refs/heads/orphan", orphan, ""}}, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_EQ(PackedRefs(), before);
}

TEST_F(RefPublisherTest, RejectsMalformedInput) {
  auto code = [&](std::vector<PublishedRef> refs, std::string head) {
    auto s = PublishRefs(mirror_, refs, head);
    return s.ok() ? StatusCode::kOk : s.status().code();
  };
  EXPECT_EQ(code({{"refs/heads/a", first_, ""}, {"refs/heads/a", first_, ""}}, ""),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/mirrord/staging/heads/a", first_, ""}}, ""), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/heads/a..b", first_, ""}}, ""), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"HEAD", first_, ""}}, ""), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/heads/a", "XYZ", ""}}, ""), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/heads/a", first_, ""}}, "refs/heads/b"), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/heads/a", first_, ""}, {"refs/heads/a/b", first_, ""}}, ""),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"refs/tags/t1", tag_, second_}}, ""), StatusCode::kFailedPrecondition);
}

// The fence (a lease check) runs under packed-refs.lock, last before the rename; a refusal
// publishes nothing and leaves the staged objects unservable.
TEST_F(RefPublisherTest, AFenceThatRefusesPublishesNothing) {
  ASSERT_TRUE(PublishRefs(mirror_, {{"refs/heads/main", first_, ""}}, "refs/heads/main").ok());
  const std::string before = PackedRefs();
  // A new upstream commit, fetched: staged, not yet in the mirror.
  const std::string third = upstream_->Commit("third");
  FetchOptions o;
  o.url = upstream_->file_url();
  o.refspecs = {"+refs/heads/*", "+refs/tags/*"};
  ASSERT_TRUE(FetchMirror(mirror_, o).ok());
  const std::string gd = "--git-dir=" + mirror_.string();
  auto in_mirror = [&](const std::string& oid) {
    return gittest::Run({"git", gd, "cat-file", "-e", oid}).ok();
  };
  ASSERT_FALSE(in_mirror(third));  // staged only
  bool lock_held_during_check = false;
  auto refused = PublishRefs(mirror_, {{"refs/heads/main", third, ""}}, "refs/heads/main", [&] {
    lock_held_during_check = std::filesystem::exists(mirror_ / "packed-refs.lock");
    return Cancelled("stale fencing token");
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kCancelled);
  EXPECT_TRUE(lock_held_during_check);
  EXPECT_EQ(PackedRefs(), before);
  EXPECT_FALSE(std::filesystem::exists(mirror_ / "packed-refs.lock"));
  EXPECT_FALSE(in_mirror(third));
  EXPECT_EQ(ForEachRef(mirror_), first_ + " refs/heads/main\n");

  int checks = 0;
  auto published = PublishRefs(mirror_, {{"refs/heads/main", third, ""}}, "refs/heads/main", [&] {
    ++checks;
    return Status::Ok();
  });
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  EXPECT_EQ(checks, 1);
  EXPECT_TRUE(in_mirror(third));
  EXPECT_EQ(ForEachRef(mirror_), third + " refs/heads/main\n");
}

TEST_F(RefPublisherTest, StaleLockBlocksUntilRecoveryRemovesIt) {
  std::ofstream(mirror_ / "packed-refs.lock") << "stale";
  std::filesystem::create_directories(mirror_ / "refs" / "heads");
  std::ofstream(mirror_ / "refs" / "heads" / "main.lock") << "stale";
  auto s = PublishRefs(mirror_, {{"refs/heads/main", first_, ""}}, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr("packed-refs.lock"));

  auto removed = MirrorRepository::RecoverAfterCrash(mirror_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_THAT(*removed, ::testing::Contains(mirror_ / "packed-refs.lock"));
  EXPECT_THAT(*removed, ::testing::Contains(mirror_ / "refs" / "heads" / "main.lock"));
  s = PublishRefs(mirror_, {{"refs/heads/main", first_, ""}}, "refs/heads/main");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(ForEachRef(mirror_), first_ + " refs/heads/main\n");
}

TEST_F(RefPublisherTest, LoosePublicRefsAreRemovedSoTheyCannotShadowTheSet) {
  // Published once, so the objects are in the mirror (staged objects are not).
  ASSERT_TRUE(PublishRefs(mirror_, {{"refs/heads/main", second_, ""}}, "").ok());
  // An outside tool wrote a loose ref; ReadPublishedRefs shows what git would serve.
  Git({"--git-dir=" + mirror_.string(), "update-ref", "refs/heads/stray", second_});
  auto read = ReadPublishedRefs(mirror_);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].name, "refs/heads/stray");

  ASSERT_TRUE(PublishRefs(mirror_, {{"refs/heads/main", first_, ""}}, "").ok());
  EXPECT_FALSE(std::filesystem::exists(mirror_ / "refs" / "heads" / "stray"));
  EXPECT_EQ(ForEachRef(mirror_), first_ + " refs/heads/main\n");
  // The staging refs (in the staging repository) survive.
  EXPECT_THAT(Git({"--git-dir=" + StagingDirectory(mirror_).string(), "for-each-ref",
                   "refs/mirrord"}),
              HasSubstr("refs/mirrord/staging/heads/main"));
}

}  // namespace
}  // namespace mirrord
