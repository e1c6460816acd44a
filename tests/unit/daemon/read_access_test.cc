// ReadAccess::Decide with a real catalog: public, private and absent names with no, wrong,
// other-glob and granting credentials; absent and private decided alike.
#include "daemon/read_access.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "common/read_token.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using Kind = ReadDecision::Kind;

class ReadAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("read-access-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.sqlite"));
    Config c = DefaultConfig();
    c.upstreams["lab"] =
        UpstreamConfig{"lab", "https://git.lab/{repo}.git", "/x.token", std::nullopt};
    config_.emplace(std::make_shared<const Config>(std::move(c)));
    RepoRecord pub;
    pub.name = "gh/public";
    pub.upstream = "github";
    ASSERT_OK(catalog_->InsertRepo(pub).status());
    RepoRecord priv;
    priv.name = "lab/private";
    priv.upstream = "lab";
    ASSERT_OK(catalog_->InsertRepo(priv).status());
    ASSERT_OK_AND_ASSIGN(reader_, GenerateReadToken());
    ASSERT_OK_AND_ASSIGN(other_, GenerateReadToken());
    ASSERT_OK(catalog_->InsertReadToken({"reader", HashReadToken(reader_), {"lab/*"}, 1}));
    ASSERT_OK(catalog_->InsertReadToken({"other", HashReadToken(other_), {"elsewhere/**"}, 1}));
    access_.emplace(*config_, *catalog_, limiter_);
  }

  ReadDecision Decide(std::string_view name, std::optional<std::string> secret) {
    std::optional<HttpCredentials> c;
    if (secret) c = HttpCredentials{HttpCredentials::Scheme::kBasic, "u", *secret};
    Result<ReadDecision> d = access_->Decide(name, c, "192.0.2.1");
    EXPECT_TRUE(d.ok());
    return d.ok() ? *d : ReadDecision{};
  }

  class NoClock : public Clock {
   public:
    std::chrono::system_clock::time_point Now() const override { return {}; }
    std::chrono::steady_clock::time_point SteadyNow() const override { return {}; }
  } clock_;
  AuthFailureLimiter limiter_{clock_, {.max_failures = 100}};
  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
  std::optional<LiveConfig> config_;
  std::optional<ReadAccess> access_;
  std::string reader_, other_;
};

TEST_F(ReadAccessTest, PublicReposNeedNothing) {
  EXPECT_EQ(Decide("gh/public", std::nullopt).kind, Kind::kAllow);
  EXPECT_EQ(Decide("gh/public", "garbage").kind, Kind::kAllow);
  ReadDecision with_token = Decide("gh/public", other_);
  EXPECT_EQ(with_token.kind, Kind::kAllow);
  EXPECT_EQ(with_token.token_name, "");  // other does not grant gh/public
}

TEST_F(ReadAccessTest, PrivateAndAbsentAreDecidedAlike) {
  for (std::string_view name : {"lab/private", "lab/absent", "nowhere/x"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Decide(name, std::nullopt).kind, Kind::kChallenge);
    EXPECT_EQ(Decide(name, "garbage").kind, Kind::kDeny);
    EXPECT_EQ(Decide(name, other_).kind, Kind::kDeny);
    EXPECT_EQ(Decide(name, "mrd_" + std::string(64, '0')).kind, Kind::kDeny);
  }
}

TEST_F(ReadAccessTest, AGrantingTokenAllowsAndIsNamed) {
  ReadDecision d = Decide("lab/private", reader_);
  EXPECT_EQ(d.kind, Kind::kAllow);
  EXPECT_EQ(d.token_name, "reader");
  // It grants absent names of its glob too (the handler then says 404).
  EXPECT_EQ(Decide("lab/absent", reader_).kind, Kind::kAllow);
  EXPECT_EQ(Decide("lab/a/b", reader_).kind, Kind::kDeny);
  ASSERT_OK(catalog_->DeleteReadToken("reader"));
  EXPECT_EQ(Decide("lab/private", reader_).kind, Kind::kDeny);  // revoked at once
}

TEST_F(ReadAccessTest, WithoutPrivateReposAbsentNamesPassThrough) {
  config_->Set(std::make_shared<const Config>(DefaultConfig()));
  EXPECT_EQ(Decide("lab/absent", std::nullopt).kind, Kind::kPassThrough);
  // lab/private's upstream is gone from the config: it is public now.
  EXPECT_EQ(Decide("lab/private", std::nullopt).kind, Kind::kAllow);
}

TEST_F(ReadAccessTest, DenialsCountTowardsTheLimit) {
  AuthFailureLimiter strict(clock_, {.max_failures = 2});
  ReadAccess access(*config_, *catalog_, strict);
  std::optional<HttpCredentials> wrong =
      HttpCredentials{HttpCredentials::Scheme::kBasic, "u", "wrong"};
  std::optional<HttpCredentials> good =
      HttpCredentials{HttpCredentials::Scheme::kBasic, "u", reader_};
  EXPECT_EQ(access.Decide("lab/private", wrong, "c")->kind, Kind::kDeny);
  EXPECT_EQ(access.Decide("lab/private", good, "c")->kind, Kind::kAllow);  // not counted
  EXPECT_EQ(access.Decide("lab/private", wrong, "c")->kind, Kind::kDeny);
  ReadDecision limited = *access.Decide("lab/private", good, "c");
  EXPECT_EQ(limited.kind, Kind::kRateLimited);
  EXPECT_GE(limited.retry_after.count(), 1);
  EXPECT_EQ(access.Decide("lab/private", good, "d")->kind, Kind::kAllow);  // per client
  EXPECT_EQ(access.Decide("gh/public", std::nullopt, "c")->kind, Kind::kAllow);
}

}  // namespace
}  // namespace mirrord
