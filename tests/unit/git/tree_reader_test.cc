// PublishedTreeReader against real repositories built with the git CLI: only published refs
// and what they reach are visible (never the staging namespace), LFS pointers are
// recognised, and paginated listings add up to the whole listing.
#include "git/tree_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::Git;
using test::WorkRepo;

constexpr std::string_view kOid =
    "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

class TreeReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("tree-reader-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.WriteFile("a.txt", "a\n"));
    ASSERT_OK_AND_ASSIGN(first_, work.Commit("first"));
    ASSERT_OK(work.WriteFile("dir/b.txt", "b\n"));
    ASSERT_OK(work.WriteFile("dir/sub/c.txt", "c\n"));
    ASSERT_OK(
        work.WriteFile("weights.bin", "version https://git-lfs.github.com/spec/v1\noid sha256:" +
                                          std::string(kOid) + "\nsize 12345\n"));
    ASSERT_OK_AND_ASSIGN(second_, work.Commit("second"));
    ASSERT_OK(work.CreateTag("v1", first_));
    bare_ = dir_->path() / "bare.git";
    ASSERT_OK(Git({"clone", "--bare", "--quiet", work.dir().string(), bare_.string()}).status());
    ASSERT_OK(Git({"pack-refs", "--all"}, bare_).status());
    // A fetched but unpublished commit, in the staging namespace.
    ASSERT_OK(work.WriteFile("staged.txt", "not yet\n"));
    ASSERT_OK_AND_ASSIGN(staged_, work.Commit("staged"));
    ASSERT_OK(
        Git({"push", "--quiet", bare_.string(), "HEAD:refs/mirrord/staging/heads/main"}, work.dir())
            .status());
  }

  std::optional<test::TempDir> dir_;
  std::filesystem::path bare_;
  std::string first_, second_, staged_;
};

TEST_F(TreeReaderTest, ResolvesOnlyPublishedRevisions) {
  ASSERT_OK_AND_ASSIGN(PublishedTreeReader reader, PublishedTreeReader::Open(bare_));
  for (std::string_view rev : {"main", "refs/heads/main", "HEAD"}) {
    ASSERT_OK_AND_ASSIGN(ResolvedCommit c, reader.ResolveRevision(rev));
    EXPECT_EQ(c.oid, second_) << rev;
    EXPECT_GT(c.commit_time, 0);
  }
  ASSERT_OK_AND_ASSIGN(ResolvedCommit tag, reader.ResolveRevision("v1"));
  EXPECT_EQ(tag.oid, first_);
  ASSERT_OK_AND_ASSIGN(ResolvedCommit ancestor, reader.ResolveRevision(first_));
  EXPECT_EQ(ancestor.oid, first_);
  // The staged commit exists in the object database but no published ref reaches it.
  for (std::string rev : {staged_, std::string("refs/mirrord/staging/heads/main"),
                          second_.substr(0, 10), std::string("nope"), std::string("")}) {
    Result<ResolvedCommit> r = reader.ResolveRevision(rev);
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << rev;
  }
  ASSERT_OK_AND_ASSIGN(std::string tree_id, Git({"rev-parse", "main^{tree}"}, bare_));
  tree_id.resize(40);
  EXPECT_EQ(reader.ResolveRevision(tree_id).status().code(), StatusCode::kNotFound);
}

TEST_F(TreeReaderTest, StatRecognisesLfsPointersAndDirectories) {
  ASSERT_OK_AND_ASSIGN(PublishedTreeReader reader, PublishedTreeReader::Open(bare_));
  ASSERT_OK_AND_ASSIGN(TreeEntryInfo w, reader.Stat(second_, "weights.bin"));
  ASSERT_TRUE(w.lfs.has_value());
  EXPECT_EQ(w.lfs->oid, kOid);
  EXPECT_EQ(w.size(), 12345u);
  EXPECT_GT(w.blob_size, 0u);
  ASSERT_OK_AND_ASSIGN(TreeEntryInfo a, reader.Stat(second_, "a.txt"));
  EXPECT_FALSE(a.lfs.has_value());
  EXPECT_EQ(a.size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::string blob, Git({"rev-parse", "main:a.txt"}, bare_));
  EXPECT_EQ(a.oid, blob.substr(0, 40));
  ASSERT_OK_AND_ASSIGN(std::string content, reader.ReadBlob(a.oid, 100));
  EXPECT_EQ(content, "a\n");
  EXPECT_EQ(reader.ReadBlob(a.oid, 1).status().code(), StatusCode::kResourceExhausted);
  ASSERT_OK_AND_ASSIGN(TreeEntryInfo d, reader.Stat(second_, "dir/sub"));
  EXPECT_EQ(d.type, TreeEntryInfo::Type::kDirectory);
  EXPECT_EQ(reader.Stat(second_, "missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reader.Stat(first_, "weights.bin").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reader.Stat(second_, "dir/../a.txt").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TreeReaderTest, PagesAddUpToTheWholeListing) {
  ASSERT_OK_AND_ASSIGN(PublishedTreeReader reader, PublishedTreeReader::Open(bare_));
  bool more = true;
  ASSERT_OK_AND_ASSIGN(std::vector<TreeEntryInfo> all,
                       reader.List(second_, "", true, 0, 100, &more));
  EXPECT_FALSE(more);
  std::vector<std::string> paths;
  for (const TreeEntryInfo& e : all) paths.push_back(e.path);
  EXPECT_THAT(paths, ::testing::ElementsAre("a.txt", "dir", "dir/b.txt", "dir/sub", "dir/sub/c.txt",
                                            "weights.bin"));
  std::vector<std::string> paged;
  for (uint64_t offset = 0;; offset += 2) {
    ASSERT_OK_AND_ASSIGN(std::vector<TreeEntryInfo> page,
                         reader.List(second_, "", true, offset, 2, &more));
    for (const TreeEntryInfo& e : page) paged.push_back(e.path);
    if (!more) break;
  }
  EXPECT_EQ(paged, paths);
  ASSERT_OK_AND_ASSIGN(std::vector<TreeEntryInfo> top,
                       reader.List(second_, "", false, 0, 100, &more));
  EXPECT_EQ(top.size(), 3u);
  ASSERT_OK_AND_ASSIGN(std::vector<TreeEntryInfo> sub,
                       reader.List(second_, "dir", false, 0, 100, &more));
  ASSERT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub[0].path, "dir/b.txt");
  EXPECT_EQ(reader.List(second_, "a.txt", false, 0, 10, &more).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace mirrord
