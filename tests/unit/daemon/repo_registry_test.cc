// RepoRegistry against a real SQLite catalog: registration rules, upstream identity and the
// webhook URL matching.
#include "daemon/repo_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::StatusIs;
using test::TempDir;

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(UpstreamIdentityTest, IgnoresSchemeCredentialsSuffixAndCase) {
  EXPECT_EQ(UpstreamIdentity("https://github.com/THUDM/GLM-4.git"), "github.com/thudm/glm-4");
  EXPECT_EQ(UpstreamIdentity("http://user:pw@GitHub.com/THUDM/GLM-4/"), "github.com/thudm/glm-4");
  EXPECT_EQ(UpstreamIdentity("git://github.com/THUDM/GLM-4.git"), "github.com/thudm/glm-4");
  EXPECT_EQ(UpstreamIdentity("https://github.com/THUDM/GLM-4?x=1#y"), "github.com/thudm/glm-4");
  EXPECT_NE(UpstreamIdentity("https://github.com/THUDM/GLM-4"),
            UpstreamIdentity("https://gitlab.com/THUDM/GLM-4"));
  EXPECT_NE(UpstreamIdentity("https://github.com/THUDM/GLM-4"),
            UpstreamIdentity("https://github.com/THUDM/GLM-4v"));
}

TEST(UpstreamHostTest, HostAndPortWithoutCredentials) {
  EXPECT_EQ(UpstreamHost("https://tok@HuggingFace.co/x/y"), "huggingface.co");
  EXPECT_EQ(UpstreamHost("http://127.0.0.1:8080/a.git"), "127.0.0.1:8080");
  EXPECT_EQ(UpstreamHost("https://a@b@host.example?q"), "host.example");
}

class RepoRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
    Config config = DefaultConfig();
    config.storage_root = dir_->path();
    config_ = std::make_unique<LiveConfig>(std::move(config));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.db"));
    registry_ = std::make_unique<RepoRegistry>(*config_, *catalog_, SystemClock::Instance());
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<LiveConfig> config_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<RepoRegistry> registry_;
};

TEST_F(RepoRegistryTest, RegistersOnceAndRefusesAnotherSource) {
  ASSERT_OK_AND_ASSIGN(auto first, registry_->Register({"THUDM/GLM-4", "", "", ""}));
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.repo.upstream, "github");
  EXPECT_EQ(first.repo.path, "THUDM/GLM-4");
  ASSERT_OK_AND_ASSIGN(auto again, registry_->Register({"THUDM/GLM-4", "github", "", ""}));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.repo.id, first.repo.id);
  EXPECT_THAT(registry_->Register({"THUDM/GLM-4", "", "", "https://example.com/x.git"}).status(),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(*registry_->UpstreamUrl(first.repo), "https://github.com/THUDM/GLM-4.git");
}

TEST_F(RepoRegistryTest, RefusesBadSources) {
  EXPECT_THAT(registry_->Register({"a/b", "github", "", "https://x/y.git"}).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(registry_->Register({"a/b", "", "", "ftp://x/y.git"}).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(registry_->Register({"a/b", "", "", "https://x/y z.git"}).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(registry_->Register({"a/b", "nowhere", "", ""}).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(registry_->Register({"../etc", "", "", ""}).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(registry_->Get("not/there").status(), StatusIs(StatusCode::kNotFound));
}

TEST_F(RepoRegistryTest, WebhookUrlsMatchEveryLocalNameOfThatUpstream) {
  ASSERT_OK(registry_->Register({"THUDM/GLM-4", "", "", ""}).status());
  ASSERT_OK(registry_->Register({"mirror/glm", "github", "thudm/glm-4", ""}).status());
  ASSERT_OK(registry_->Register({"other/x", "", "", "https://example.com/THUDM/GLM-4.git"})
                .status());
  ASSERT_OK(registry_->Register({"hf/THUDM/GLM-4", "hf", "THUDM/GLM-4", ""}).status());
  ASSERT_OK_AND_ASSIGN(
      std::vector<std::string> found,
      registry_->FindReposOfUpstream({"git@github.com:THUDM/GLM-4.git",
                                      "https://github.com/THUDM/GLM-4.git",
                                      "https://github.com/THUDM/GLM-4"}));
  EXPECT_THAT(found, UnorderedElementsAre("THUDM/GLM-4", "mirror/glm"));
  // ssh forms alone never match.
  ASSERT_OK_AND_ASSIGN(found, registry_->FindReposOfUpstream({"git@github.com:THUDM/GLM-4.git"}));
  EXPECT_THAT(found, IsEmpty());
  ASSERT_OK_AND_ASSIGN(found, registry_->FindReposOfUpstream({"https://github.com/THUDM/GLM"}));
  EXPECT_THAT(found, IsEmpty());
  ASSERT_OK_AND_ASSIGN(found,
                       registry_->FindReposOfUpstream({"https://EXAMPLE.com/thudm/glm-4/"}));
  EXPECT_THAT(found, ElementsAre("other/x"));
}

TEST_F(RepoRegistryTest, RecordsUpstreamEvents) {
  ASSERT_OK(registry_->Register({"THUDM/GLM-4", "", "", ""}).status());
  ASSERT_OK(registry_->RecordUpstreamEvent("THUDM/GLM-4", "archived"));
  ASSERT_OK_AND_ASSIGN(RepoRecord r, registry_->Get("THUDM/GLM-4"));
  EXPECT_EQ(r.upstream_event, "archived");
  EXPECT_GT(r.upstream_event_at, 0);
  EXPECT_THAT(registry_->RecordUpstreamEvent("no/repo", "archived"),
              StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace mirrord
