// Private upstreams: a token from [upstreams.NAME] token_file is sent as HTTP Basic
// credentials, its absence or a wrong one is a permission error, and the token never shows
// up in logs, mirrorctl output or the admin API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kPath = "lab/private-model";

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A throwaway token from a seeded generator.
std::string MakeToken(uint32_t seed) {
  std::mt19937 rng(seed);
  std::string t = "mtok_";
  for (int i = 0; i < 32; ++i) t += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
  return t;
}

class MirrorToken : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-token-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "private\n", "one").status());
    ASSERT_OK(work.CreateAnnotatedTag("v1", "one"));
    ASSERT_OK(work.CheckoutNewBranch("dev"));
    ASSERT_OK(work.CommitFile("dev.txt", "dev\n", "dev").status());
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kPath));
    ASSERT_OK(work.PushMirror(bare_.string()));

    token_ = MakeToken(7);
    wrong_token_ = MakeToken(8);
    expected_header_ = "Basic " + Base64("x-access-token:" + token_);
    upstream_->SetRequireAuth(expected_header_);
    std::filesystem::path good = dir_->path() / "good.token";
    std::filesystem::path bad = dir_->path() / "wrong.token";
    ASSERT_OK(WriteFileAtomically(good, token_ + "\n"));
    ASSERT_OK(WriteFileAtomically(bad, wrong_token_ + "\n"));

    const std::string url = upstream_->BaseUrl() + "/{repo}.git";
    MirrordOptions o;
    o.server_toml = "log_level = \"debug\"";  // the chattiest logs are the riskiest
    o.extra_toml = "[upstreams.private]\nurl = \"" + url + "\"\ntoken_file = \"" + good.string() +
                   "\"\n\n[upstreams.anonymous]\nurl = \"" + url +
                   "\"\n\n[upstreams.wrong]\nurl = \"" + url + "\"\ntoken_file = \"" +
                   bad.string() + "\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  Result<ProcessResult> Mirrorctl(const std::vector<std::string>& args) {
    ASSIGN_OR_RETURN(ProcessResult r, mirrord_->Mirrorctl(args));
    outputs_ += r.stdout_text + r.stderr_text;
    return r;
  }

  // Git options that send a read token for lab/* (repos of the `private` upstream are
  // private: issue 13).
  Result<GitOptions> ReadTokenGitOptions() {
    ASSIGN_OR_RETURN(ProcessResult created,
                     Mirrorctl({"token", "create", "reader", "--repos", "lab/*", "--json"}));
    if (!created.ok()) return Internal("mirrorctl token create: " + created.Describe());
    ASSIGN_OR_RETURN(boost::json::value token_json, ParseJson(created.stdout_text));
    const std::string read_token(token_json.at("token").as_string());
    GitOptions reader;
    reader.config = {"http.extraHeader=Authorization: Basic " + Base64("reader:" + read_token)};
    return reader;
  }

  Result<RepoStatus> StatusJson(std::string_view name) {
    ASSIGN_OR_RETURN(ProcessResult r, Mirrorctl({"status", std::string(name), "--json"}));
    if (!r.ok()) return Internal("mirrorctl status --json: " + r.Describe());
    ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.stdout_text));
    return RepoStatusFromJson(v);
  }

  void ExpectNoSecretAnywhere() {
    ASSERT_OK_AND_ASSIGN(ProcessResult list, Mirrorctl({"list"}));
    EXPECT_TRUE(list.ok()) << list.Describe();
    ASSERT_OK_AND_ASSIGN(ProcessResult all, Mirrorctl({"status", "--json"}));
    EXPECT_TRUE(all.ok()) << all.Describe();
    ASSERT_OK_AND_ASSIGN(ProcessResult human, Mirrorctl({"status"}));
    EXPECT_TRUE(human.ok()) << human.Describe();
    // The admin API as such, and the metrics page.
    ASSERT_OK_AND_ASSIGN(std::string admin, mirrord_->AdminToken());
    HttpCall call;
    call.headers.emplace_back("Authorization", "Bearer " + admin);
    ASSERT_OK_AND_ASSIGN(HttpReply repos, HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos", call));
    ASSERT_OK_AND_ASSIGN(HttpReply metrics, HttpFetch(mirrord_->BaseUrl() + "/metrics"));
    const std::string logs = mirrord_->Logs();
    for (const std::string& secret : {token_, wrong_token_, Base64("x-access-token:" + token_),
                                      Base64("x-access-token:" + wrong_token_)}) {
      SCOPED_TRACE(secret);
      EXPECT_THAT(outputs_, Not(HasSubstr(secret)));
      EXPECT_THAT(logs, Not(HasSubstr(secret)));
      EXPECT_THAT(repos.body, Not(HasSubstr(secret)));
      EXPECT_THAT(metrics.body, Not(HasSubstr(secret)));
    }
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::filesystem::path bare_;
  std::string token_;
  std::string wrong_token_;
  std::string expected_header_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string outputs_;
};

TEST_F(MirrorToken, TokenFromTokenFileIsSentAndNeverShown) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       Mirrorctl({"sync", "lab/private-model", "--upstream", "private"}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  // Every request carried exactly the expected credentials.
  std::vector<RequestRecord> log = upstream_->requests();
  ASSERT_FALSE(log.empty());
  for (const RequestRecord& rec : log) {
    EXPECT_EQ(rec.status, 200) << rec.target;
    EXPECT_EQ(rec.authorization, expected_header_) << rec.target;
  }
  // A repo of an upstream that needs a token is private (issue 13): the mirror serves it,
  // equal to the upstream, to a client with a read token, never to anyone without one.
  GitOptions auth;
  auth.config = {"http.extraHeader=Authorization: " + expected_header_};
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor(kPath)}, {}, auth));
  ASSERT_OK_AND_ASSIGN(ProcessResult anonymous, RunGit({"ls-remote", mirrord_->UrlFor(kPath)}));
  EXPECT_FALSE(anonymous.ok()) << anonymous.Describe();
  ASSERT_OK_AND_ASSIGN(GitOptions reader, ReadTokenGitOptions());
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kPath)}, {}, reader));
  EXPECT_EQ(got, want);
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(kPath));
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(status.upstream, "private");
  ExpectNoSecretAnywhere();
}

TEST_F(MirrorToken, MissingTokenIsAPermissionError) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       Mirrorctl({"sync", "anon/private-model", "--upstream", "anonymous", "--path",
                                  std::string(kPath), "--json"}));
  // A first sync that may not read the upstream repository keeps nothing (exit 4), and
  // says why and what to do.
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_THAT(r.stderr_text, HasSubstr("refused access")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("401")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("token")) << r.stderr_text;  // says what to do
  EXPECT_THAT(r.stderr_text, HasSubstr("not kept")) << r.stderr_text;
  ASSERT_OK_AND_ASSIGN(boost::json::value out, ParseJson(r.stdout_text));
  ASSERT_TRUE(out.is_object()) << r.stdout_text;
  EXPECT_EQ(out.at("removed"), boost::json::value(true));
  ASSERT_OK_AND_ASSIGN(SyncRunView run, SyncRunViewFromJson(out.at("run")));
  EXPECT_EQ(run.state, "failed");
  EXPECT_THAT(run.error, HasSubstr("refused access"));
  ASSERT_TRUE(run.failure.has_value());
  EXPECT_EQ(run.failure->code, "PermissionDenied");
  ASSERT_OK_AND_ASSIGN(ProcessResult status, Mirrorctl({"status", "anon/private-model"}));
  EXPECT_EQ(status.exit_code, 4) << status.Describe();
  for (const RequestRecord& rec : upstream_->requests()) {
    EXPECT_FALSE(rec.has_authorization) << rec.target;
  }
  ASSERT_OK_AND_ASSIGN(ProcessResult ls,
                       RunGit({"ls-remote", mirrord_->UrlFor("anon/private-model")}));
  EXPECT_FALSE(ls.ok());
  ExpectNoSecretAnywhere();
}

TEST_F(MirrorToken, WrongTokenIsAPermissionErrorAndStaysSecret) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", "wrong/private-model", "--upstream",
                                                   "wrong", "--path", std::string(kPath)}));
  EXPECT_EQ(r.exit_code, 4) << r.Describe();  // a first sync: nothing is kept
  EXPECT_THAT(r.stderr_text, HasSubstr("refused access")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("check the upstream's token")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("[upstreams.wrong] token_file")) << r.stderr_text;
  ASSERT_OK_AND_ASSIGN(ProcessResult status, Mirrorctl({"status", "wrong/private-model"}));
  EXPECT_EQ(status.exit_code, 4) << status.Describe();
  // And the right token still works next to it.
  ASSERT_OK_AND_ASSIGN(ProcessResult ok,
                       Mirrorctl({"sync", "lab/private-model", "--upstream", "private"}));
  EXPECT_TRUE(ok.ok()) << ok.Describe();
  ExpectNoSecretAnywhere();
}

TEST_F(MirrorToken, CredentialsInAnExplicitUrlAreRedacted) {
  // user:password in a --url must never be echoed either.
  const std::string secret = MakeToken(9);
  upstream_->SetRequireAuth("Basic " + Base64("mirror-bot:" + secret));
  std::string url = upstream_->BaseUrl();
  url.insert(std::string_view("http://").size(), "mirror-bot:" + secret + "@");
  url += "/" + std::string(kPath) + ".git";
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", "url/private-model", "--url", url}));
  ASSERT_TRUE(r.ok()) << r.Describe();
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson("url/private-model"));
  EXPECT_THAT(status.url, Not(HasSubstr(secret)));
  // Fail it, so the error path prints the URL too.
  Fault f = Fault::AnswerStatus("/info/refs", 503);
  upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult failed, Mirrorctl({"sync", "url/private-model"}));
  EXPECT_EQ(failed.exit_code, 1) << failed.Describe();
  EXPECT_THAT(failed.stderr_text, HasSubstr("503"));
  ASSERT_OK_AND_ASSIGN(ProcessResult list, Mirrorctl({"list"}));
  ASSERT_OK_AND_ASSIGN(ProcessResult all, Mirrorctl({"status", "--json"}));
  EXPECT_TRUE(list.ok() && all.ok());
  EXPECT_THAT(outputs_, Not(HasSubstr(secret)));
  EXPECT_THAT(mirrord_->Logs(), Not(HasSubstr(secret)));
  EXPECT_THAT(outputs_, Not(HasSubstr(Base64("mirror-bot:" + secret))));
  EXPECT_THAT(mirrord_->Logs(), Not(HasSubstr(Base64("mirror-bot:" + secret))));
}

TEST_F(MirrorToken, TokenIsNotSentToAnotherOriginAfterARedirect) {
  // The configured host redirects to another host (a CDN, a moved repo): the fetch follows,
  // but the credentials stay with the configured origin.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestUpstream> other,
                       TestUpstream::Start(dir_->path() / "other-host"));
  ASSERT_OK_AND_ASSIGN(std::filesystem::path moved, other->CreateBareRepo("moved/model"));
  ASSERT_OK(
      Git({"--git-dir=" + bare_.string(), "push", "--quiet", "--mirror", moved.string()}).status());
  const std::string location = other->UrlFor("moved/model") + "/info/refs?service=git-upload-pack";
  upstream_->AddRoute("/lab/renamed.git/", [location](const UpstreamRequest&) {
    UpstreamResponse r;
    r.status = 301;
    r.headers.emplace_back("Location", location);
    return r;
  });
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       Mirrorctl({"sync", "lab/renamed", "--upstream", "private"}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  // The configured origin got the token; the other one never did.
  bool asked_origin = false;
  for (const RequestRecord& rec : upstream_->requests()) {
    if (rec.target.starts_with("/lab/renamed.git/")) {
      asked_origin = true;
      EXPECT_EQ(rec.authorization, expected_header_);
    }
  }
  EXPECT_TRUE(asked_origin);
  std::vector<RequestRecord> other_log = other->requests();
  ASSERT_FALSE(other_log.empty());
  for (const RequestRecord& rec : other_log) {
    EXPECT_FALSE(rec.has_authorization) << rec.target << ": " << rec.authorization;
    EXPECT_TRUE(rec.target.starts_with("/moved/model.git/")) << rec.target;
  }
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", other->UrlFor("moved/model")}));
  ASSERT_OK_AND_ASSIGN(GitOptions reader, ReadTokenGitOptions());
  ASSERT_OK_AND_ASSIGN(std::string got,
                       Git({"ls-remote", mirrord_->UrlFor("lab/renamed")}, {}, reader));
  EXPECT_EQ(got, want);
  ExpectNoSecretAnywhere();
}

}  // namespace
}  // namespace mirrord::test
