#include "daemon/hf_answer_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

const std::string kCommitA(40, 'a');
const std::string kCommitB(40, 'b');

HfCachedRevision Rev(const std::string& commit) {
  return HfCachedRevision{"org/model", "/srv/org/model.git", 7, commit, 1700000000, false};
}

HfCachedFile File(const std::string& path, uint64_t size) {
  HfCachedFile f;
  f.entry.path = path;
  f.entry.oid = std::string(40, 'c');
  f.entry.blob_size = size;
  return f;
}

TEST(HfAnswerCache, RevisionIsFoundUntilInvalidated) {
  HfAnswerCache cache;
  const uint64_t g = cache.generation();
  cache.PutRevision(g, HfRepoType::kModel, "org/model", "main", Rev(kCommitA));
  std::optional<HfCachedRevision> r = cache.FindRevision(HfRepoType::kModel, "org/model", "main");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->commit, kCommitA);
  EXPECT_EQ(r->repo_id, 7);
  // Another type or revision is another key.
  EXPECT_FALSE(cache.FindRevision(HfRepoType::kDataset, "org/model", "main"));
  EXPECT_FALSE(cache.FindRevision(HfRepoType::kModel, "org/model", "dev"));

  cache.Invalidate();  // a publication
  EXPECT_FALSE(cache.FindRevision(HfRepoType::kModel, "org/model", "main"));
  cache.PutRevision(cache.generation(), HfRepoType::kModel, "org/model", "main", Rev(kCommitB));
  EXPECT_EQ(cache.FindRevision(HfRepoType::kModel, "org/model", "main")->commit, kCommitB);
}

TEST(HfAnswerCache, LookupThatStartedBeforeAPublicationIsNotStored) {
  HfAnswerCache cache;
  const uint64_t before = cache.generation();  // the lookup starts, reads the old refs...
  cache.Invalidate();                          // ...a publication lands...
  cache.PutRevision(before, HfRepoType::kModel, "org/model", "main", Rev(kCommitA));
  EXPECT_FALSE(cache.FindRevision(HfRepoType::kModel, "org/model", "main"));
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(HfAnswerCache, RevisionsExpire) {
  // A zero TTL: stored, but never answered (another node may publish without telling us).
  HfAnswerCache cache(100, 1 << 20, std::chrono::milliseconds(0));
  cache.PutRevision(cache.generation(), HfRepoType::kModel, "org/model", "main", Rev(kCommitA));
  EXPECT_FALSE(cache.FindRevision(HfRepoType::kModel, "org/model", "main"));
}

TEST(HfAnswerCache, FilesAndPagesSurviveInvalidation) {
  HfAnswerCache cache;
  HfCachedFile f = File("config.json", 12);
  f.body = "{\"a\": 1}\n";
  cache.PutFile("org/model", kCommitA, "config.json", f);
  cache.PutPage("org/model", kCommitA, std::string("tree\0\0", 6), HfCachedPage{"[]", 0});
  cache.Invalidate();
  std::shared_ptr<const HfCachedFile> got = cache.FindFile("org/model", kCommitA, "config.json");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->body, "{\"a\": 1}\n");
  EXPECT_EQ(got->entry.blob_size, 12u);
  EXPECT_EQ(cache.FindFile("org/model", kCommitB, "config.json"), nullptr);
  EXPECT_EQ(cache.FindFile("org/other", kCommitA, "config.json"), nullptr);
  ASSERT_NE(cache.FindPage("org/model", kCommitA, std::string("tree\0\0", 6)), nullptr);
  EXPECT_EQ(cache.FindPage("org/model", kCommitA, std::string("tree\0x\0", 7)), nullptr);
}

TEST(HfAnswerCache, KeysWithSeparatorsDoNotCollide) {
  HfAnswerCache cache;
  cache.PutFile("a", kCommitA, "b/c", File("b/c", 1));
  EXPECT_EQ(cache.FindFile("a/b", kCommitA, "c"), nullptr);
  EXPECT_NE(cache.FindFile("a", kCommitA, "b/c"), nullptr);
}

TEST(HfAnswerCache, LeastRecentlyUsedGoesFirst) {
  HfAnswerCache cache(3, 1 << 20);
  for (std::string p : {"1", "2", "3"}) cache.PutFile("m", kCommitA, p, File(p, 1));
  ASSERT_NE(cache.FindFile("m", kCommitA, "1"), nullptr);  // 1 is now the most recent
  cache.PutFile("m", kCommitA, "4", File("4", 1));
  EXPECT_EQ(cache.entries(), 3u);
  EXPECT_NE(cache.FindFile("m", kCommitA, "1"), nullptr);
  EXPECT_EQ(cache.FindFile("m", kCommitA, "2"), nullptr);
  EXPECT_NE(cache.FindFile("m", kCommitA, "3"), nullptr);
  EXPECT_NE(cache.FindFile("m", kCommitA, "4"), nullptr);
}

// The attack: an anonymous client makes the endpoint store as much as it can (long paths,
// large bodies, many revisions and pages). Entries and bytes stay under the caps throughout;
// an answer too large for its share is refused outright.
TEST(HfAnswerCache, FloodStaysWithinEntryAndByteCaps) {
  constexpr size_t kMaxEntries = 500;
  constexpr size_t kMaxBytes = 256 << 10;
  HfAnswerCache cache(kMaxEntries, kMaxBytes);
  const std::string long_path(4000, 'p');
  for (int i = 0; i < 20000; ++i) {
    const std::string n = std::to_string(i);
    HfCachedFile f = File(long_path + n, 100);
    if (i % 3 == 0) f.body = std::string(kMaxBytes / 32, 'x');
    cache.PutFile("org/model", kCommitA, long_path + n, std::move(f));
    cache.PutRevision(cache.generation(), HfRepoType::kModel, "org/model", "rev" + n,
                      Rev(kCommitA));
    cache.PutPage("org/model", kCommitA, "shape" + n, HfCachedPage{std::string(1000, 'j'), 0});
    ASSERT_LE(cache.entries(), kMaxEntries) << i;
    ASSERT_LE(cache.bytes(), kMaxBytes) << i;
  }
  EXPECT_GT(cache.entries(), 0u);
  // One answer over max_bytes / 16 is never stored, however often it is asked for.
  cache.PutPage("org/model", kCommitA, "huge", HfCachedPage{std::string(kMaxBytes / 8, 'j'), 0});
  EXPECT_EQ(cache.FindPage("org/model", kCommitA, "huge"), nullptr);
  EXPECT_LE(cache.bytes(), kMaxBytes);
}

TEST(HfAnswerCache, ReplacingAKeyKeepsOneEntry) {
  HfAnswerCache cache;
  cache.PutFile("m", kCommitA, "f", File("f", 1));
  const size_t bytes = cache.bytes();
  cache.PutFile("m", kCommitA, "f", File("f", 1));
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), bytes);
}

}  // namespace
}  // namespace mirrord
