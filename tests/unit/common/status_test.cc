#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "common/admin_token.h"
#include "common/file_util.h"
#include "common/log.h"
#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), "InvalidArgument: odd");
  EXPECT_EQ(r.status().WithContext("quarter 6").message(), "quarter 6: odd");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(StatusTest, RetryAfterIsATypedFactKeptThroughContext) {
  Status s = Unavailable("upstream busy").WithRetryAfter(std::chrono::seconds(30));
  EXPECT_EQ(s.retry_after(), std::chrono::seconds(30));
  EXPECT_EQ(s.message(), "upstream busy");
  Status wrapped = s.WithContext("fetch o/r");
  EXPECT_EQ(wrapped.message(), "fetch o/r: upstream busy");
  EXPECT_EQ(wrapped.retry_after(), std::chrono::seconds(30));
  EXPECT_FALSE(Unavailable("x (retry after 5 s)").retry_after());
  EXPECT_EQ(Unavailable("x").WithRetryAfter(std::chrono::seconds(-3)).retry_after(),
            std::chrono::seconds(0));
  EXPECT_TRUE(Status::Ok().WithRetryAfter(std::chrono::seconds(5)).ok());
  EXPECT_FALSE(Status::Ok().WithRetryAfter(std::chrono::seconds(5)).retry_after());
  // Equality sees the typed fact.
  EXPECT_NE(s, Unavailable("upstream busy"));
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(ENOENT, "open").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EACCES, "open").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EIO, "read").code(), StatusCode::kInternal);
}

TEST(LogTest, RedactsUrlCredentials) {
  EXPECT_EQ(RedactUrlCredentials("fetch https://user:secret@github.com/a/b.git failed"),
            "fetch https://***@github.com/a/b.git failed");
  EXPECT_EQ(RedactUrlCredentials("https://github.com/a/b.git"), "https://github.com/a/b.git");
  EXPECT_EQ(RedactUrlCredentials("x https://t@h/p and http://u:p@h2"), "x https://***@h/p and http://***@h2");
}

class TempDirTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "/mirrord-common-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(TempDirTest, AtomicWriteReplacesWholeFile) {
  auto f = dir_ / "x";
  ASSERT_TRUE(WriteFileAtomically(f, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(f, "second", 0600).ok());
  EXPECT_EQ(*ReadFileToString(f), "second");
  EXPECT_EQ(std::filesystem::status(f).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  // No temporary files left behind.
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(WriteFileAtomically(dir_ / "missing" / "x", "y").code(), StatusCode::kNotFound);
}

TEST_F(TempDirTest, AdminTokenCreatedOnceWithMode0600) {
  auto f = dir_ / "sub" / "admin.token";
  auto t1 = LoadOrCreateAdminToken(f);
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  EXPECT_EQ(t1->size(), 64u);
  auto perms = std::filesystem::status(f).permissions() & std::filesystem::perms::all;
  EXPECT_EQ(perms, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto t2 = LoadOrCreateAdminToken(f);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(*t1, *t2);
  EXPECT_EQ(*ReadTokenFile(f), *t1);
  std::filesystem::permissions(f, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  EXPECT_EQ(LoadOrCreateAdminToken(f).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadTokenFile(dir_ / "none").status().code(), StatusCode::kNotFound);
}

TEST_F(TempDirTest, AdminTokenRaceOnAnEmptyRootYieldsOneToken) {
  // Processes starting together on an empty root: every one must answer with the token
  // that ends up in the file. Threads race on the same path (the file is created
  // exclusively, so there is exactly one winner whatever the interleaving).
  constexpr int kRacers = 8;
  for (int round = 0; round < 20; ++round) {
    auto f = dir_ / ("round" + std::to_string(round)) / "admin.token";
    std::vector<Result<std::string>> got(kRacers, Result<std::string>(Internal("unset")));
    std::vector<std::thread> racers;
    for (int i = 0; i < kRacers; ++i) {
      racers.emplace_back([&got, &f, i] { got[i] = LoadOrCreateAdminToken(f); });
    }
    for (std::thread& t : racers) t.join();
    ASSERT_OK_AND_ASSIGN(std::string on_disk, ReadTokenFile(f));
    for (const Result<std::string>& t : got) {
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_EQ(*t, on_disk);
    }
    // No temporary files left behind.
    int entries = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(f.parent_path())) ++entries;
    EXPECT_EQ(entries, 1);
  }
}

TEST(SecretsTest, ConstantTimeCompareIsCorrect) {
  EXPECT_TRUE(SecretsEqual("abc", "abc"));
  EXPECT_FALSE(SecretsEqual("abc", "abd"));
  EXPECT_FALSE(SecretsEqual("abc", "abcd"));
  EXPECT_TRUE(SecretsEqual("", ""));
}

}  // namespace
}  // namespace mirrord
