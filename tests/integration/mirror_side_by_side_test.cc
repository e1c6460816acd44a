// The same OWNER/NAME on two hosts with different content, mirrored side by side under two
// local names through configured upstream URL templates.
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
#include "common/file_util.h"
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

constexpr std::string_view kPath = "THUDM/chatglm3-6b";
constexpr std::string_view kGithubName = "THUDM/chatglm3-6b";
constexpr std::string_view kHfName = "hf/THUDM/chatglm3-6b";

class MirrorSideBySide : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-side-by-side-"));
    dir_.emplace(std::move(dir));
    // Two hosts, each with its own THUDM/chatglm3-6b.
    ASSERT_OK_AND_ASSIGN(code_host_, TestUpstream::Start(dir_->path() / "code-host"));
    ASSERT_OK_AND_ASSIGN(model_host_, TestUpstream::Start(dir_->path() / "model-host"));

    ASSERT_OK_AND_ASSIGN(WorkRepo code, WorkRepo::Init(dir_->path() / "code-work"));
    ASSERT_OK(code.CommitFile("README.md", "inference code\n", "code").status());
    ASSERT_OK(code.CommitFile("cli_demo.py", "print('chat')\n", "demo").status());
    ASSERT_OK(code.CreateAnnotatedTag("v1.0", "code release"));
    ASSERT_OK_AND_ASSIGN(code_bare_, code_host_->CreateBareRepo(kPath));
    ASSERT_OK(code.PushMirror(code_bare_.string()));

    ASSERT_OK_AND_ASSIGN(WorkRepo model, WorkRepo::Init(dir_->path() / "model-work"));
    ASSERT_OK(model.CommitFile("README.md", "model card\n", "card").status());
    ASSERT_OK(model.CommitFile("config.json", "{\"hidden_size\": 4096}\n", "config").status());
    ASSERT_OK(model.CreateBranch("refs-pr-1"));
    ASSERT_OK_AND_ASSIGN(model_bare_, model_host_->CreateBareRepo(kPath));
    ASSERT_OK(model.PushMirror(model_bare_.string()));

    // The built-in upstreams pointed at the two test hosts: one template with ".git", one
    // without (the model host's URLs have none).
    MirrordOptions o;
    o.extra_toml = "[upstreams.github]\nurl = \"" + code_host_->BaseUrl() +
                   "/{repo}.git\"\n\n[upstreams.hf]\nurl = \"" + model_host_->BaseUrl() +
                   "/{repo}\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> code_host_;
  std::unique_ptr<TestUpstream> model_host_;
  std::filesystem::path code_bare_;
  std::filesystem::path model_bare_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorSideBySide, SameOwnerNameFromTwoUpstreams) {
  ASSERT_OK_AND_ASSIGN(ProcessResult gh, mirrord_->Mirrorctl({"sync", std::string(kGithubName),
                                                              "--upstream", "github"}));
  ASSERT_TRUE(gh.ok()) << gh.Describe() << "\n" << mirrord_->Logs();
  ASSERT_OK_AND_ASSIGN(ProcessResult hf,
                       mirrord_->Mirrorctl({"sync", std::string(kHfName), "--upstream", "hf",
                                            "--path", std::string(kPath)}));
  ASSERT_TRUE(hf.ok()) << hf.Describe() << "\n" << mirrord_->Logs();

  // Each mirror equals its own upstream, ref for ref.
  struct Pair {
    std::string_view name;
    std::filesystem::path bare;
    std::string upstream_url;
  };
  for (const Pair& p : {Pair{kGithubName, code_bare_, code_host_->UrlFor(kPath)},
                        Pair{kHfName, model_bare_, model_host_->BaseUrl() + "/" + std::string(kPath)}}) {
    SCOPED_TRACE(std::string(p.name));
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", p.upstream_url}));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(p.name)}));
    EXPECT_EQ(got, want);
    std::filesystem::path dest = Scratch(std::string(p.name == kHfName ? "hf" : "gh") + ".git");
    ASSERT_OK(Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(p.name), dest.string()})
                  .status());
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> refs, ForEachRef(dest));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> upstream_refs, ForEachRef(p.bare));
    EXPECT_EQ(refs, upstream_refs);
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, p.name));
    EXPECT_EQ(status.state, "ready");
    EXPECT_EQ(status.url, p.upstream_url);
    EXPECT_EQ(status.upstream, p.name == kHfName ? "hf" : "github");
  }

  // Checkouts have their own content.
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kGithubName), Scratch("gh").string()})
                .status());
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kHfName), Scratch("hf").string()})
                .status());
  ASSERT_OK_AND_ASSIGN(std::string gh_readme, ReadFileToString(Scratch("gh") / "README.md"));
  ASSERT_OK_AND_ASSIGN(std::string hf_readme, ReadFileToString(Scratch("hf") / "README.md"));
  EXPECT_EQ(gh_readme, "inference code\n");
  EXPECT_EQ(hf_readme, "model card\n");
  EXPECT_TRUE(std::filesystem::exists(Scratch("gh") / "cli_demo.py"));
  EXPECT_FALSE(std::filesystem::exists(Scratch("gh") / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(Scratch("hf") / "config.json"));
  EXPECT_FALSE(std::filesystem::exists(Scratch("hf") / "cli_demo.py"));

  // Two separate mirrors in the store.
  EXPECT_TRUE(std::filesystem::is_directory(mirrord_->store_dir() / "repos" / "THUDM" /
                                            "chatglm3-6b.git"));
  EXPECT_TRUE(std::filesystem::is_directory(mirrord_->store_dir() / "repos" / "hf" / "THUDM" /
                                            "chatglm3-6b.git"));

  // Each host was asked only for its own repository.
  for (const RequestRecord& r : code_host_->requests()) {
    EXPECT_TRUE(r.target.starts_with("/THUDM/chatglm3-6b.git/")) << r.target;
  }
  for (const RequestRecord& r : model_host_->requests()) {
    EXPECT_TRUE(r.target.starts_with("/THUDM/chatglm3-6b/")) << r.target;
  }
}

TEST_F(MirrorSideBySide, ANameKeepsItsSource) {
  ASSERT_OK_AND_ASSIGN(ProcessResult gh, mirrord_->Mirrorctl({"sync", std::string(kGithubName),
                                                              "--upstream", "github"}));
  ASSERT_TRUE(gh.ok()) << gh.Describe();
  // The same name from the other host is refused, with a hint, and changes nothing.
  ASSERT_OK_AND_ASSIGN(ProcessResult other,
                       mirrord_->Mirrorctl({"sync", std::string(kGithubName), "--upstream", "hf",
                                            "--path", std::string(kPath)}));
  EXPECT_EQ(other.exit_code, 1) << other.Describe();
  EXPECT_THAT(other.stderr_text, HasSubstr("another source")) << other.stderr_text;
  EXPECT_THAT(other.stderr_text, HasSubstr("mirrorctl remove")) << other.stderr_text;
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kGithubName));
  EXPECT_EQ(status.upstream, "github");
  EXPECT_EQ(status.url, code_host_->UrlFor(kPath));
  // Syncing again with the same source is fine.
  ASSERT_OK_AND_ASSIGN(ProcessResult again, mirrord_->Mirrorctl({"sync", std::string(kGithubName),
                                                                 "--upstream", "github"}));
  EXPECT_TRUE(again.ok()) << again.Describe();
  EXPECT_THAT(again.stdout_text, HasSubstr("0 refs added, 0 updated, 0 deleted"));
}

}  // namespace
}  // namespace mirrord::test
