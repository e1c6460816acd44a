// HfReaderPool against real bare repositories made by git: an idle reader is reused, one
// whose directory was replaced is not, and the pool keeps at most its idle limit.
#include "daemon/hf_reader_pool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::TempDir;

class HfReaderPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("hf-reader-pool-"));
    dir_.emplace(std::move(dir));
  }
  std::filesystem::path Bare(const std::string& name) {
    std::filesystem::path p = dir_->path() / name;
    EXPECT_OK(test::Git({"init", "-q", "--bare", p.string()}).status());
    return p;
  }
  std::optional<TempDir> dir_;
};

TEST_F(HfReaderPoolTest, ReusesAReturnedReaderOfTheSameDirectory) {
  HfReaderPool pool;
  const std::filesystem::path a = Bare("a.git");
  const std::filesystem::path b = Bare("b.git");
  PublishedTreeReader* first = nullptr;
  {
    ASSERT_OK_AND_ASSIGN(PooledTreeReader r, pool.Take(a));
    first = &*r;
    EXPECT_EQ(pool.idle(), 0u);
  }
  EXPECT_EQ(pool.idle(), 1u);
  {
    ASSERT_OK_AND_ASSIGN(PooledTreeReader other, pool.Take(b));  // another mirror: a new one
    EXPECT_NE(&*other, first);
    ASSERT_OK_AND_ASSIGN(PooledTreeReader again, pool.Take(a));
    EXPECT_EQ(&*again, first);
    // Taken twice at once: the second taker gets its own reader.
    ASSERT_OK_AND_ASSIGN(PooledTreeReader second, pool.Take(a));
    EXPECT_NE(&*second, first);
  }
  EXPECT_EQ(pool.idle(), 3u);
}

TEST_F(HfReaderPoolTest, AReplacedDirectoryGetsAFreshReader) {
  HfReaderPool pool;
  const std::filesystem::path a = Bare("a.git");
  PublishedTreeReader* first = nullptr;
  {
    ASSERT_OK_AND_ASSIGN(PooledTreeReader r, pool.Take(a));
    first = &*r;
  }
  // Another repository renamed into the same path (a new inode there).
  const std::filesystem::path replacement = Bare("replacement.git");
  std::filesystem::remove_all(a);
  std::filesystem::rename(replacement, a);
  ASSERT_OK_AND_ASSIGN(PooledTreeReader fresh, pool.Take(a));
  EXPECT_NE(&*fresh, first);
  EXPECT_EQ(pool.idle(), 0u);  // the stale one was closed, not kept
}

TEST_F(HfReaderPoolTest, KeepsAtMostItsIdleLimit) {
  HfReaderPool pool(2);
  const std::filesystem::path a = Bare("a.git");
  {
    ASSERT_OK_AND_ASSIGN(PooledTreeReader r1, pool.Take(a));
    ASSERT_OK_AND_ASSIGN(PooledTreeReader r2, pool.Take(a));
    ASSERT_OK_AND_ASSIGN(PooledTreeReader r3, pool.Take(a));
  }
  EXPECT_EQ(pool.idle(), 2u);
  EXPECT_FALSE(pool.Take(dir_->path() / "missing.git").ok());
}

}  // namespace
}  // namespace mirrord
