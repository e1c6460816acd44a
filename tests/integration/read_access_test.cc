// Read access control (issue 13 item 1) with the real daemon, git, git-lfs and mirrorctl:
// repos of an upstream that needs a token are private; `mirrorctl token create` hands out
// read tokens for repo globs; git and git-lfs send them as HTTP Basic; a private repo
// without a valid token answers exactly as an absent one; an LFS object is served under a
// repo only if that repo references it; failed authentication is rate-limited and logged
// without the token; a revoked token stops working at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/base64.h"
#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/lfs_pointer_repo.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/read_tokens.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kPrivate = "lab/private-model";
constexpr std::string_view kPublic = "lab/public-model";
constexpr std::string_view kAbsent = "lab/absent-model";
constexpr std::string_view kSharedContent = "weights shared by the public and the private repo\n";
constexpr std::string_view kPrivateContent = "weights only the private repo has\n";

class ReadAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("read-access-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    ASSERT_OK_AND_ASSIGN(shared_oid_, lfs_->PutObject(kSharedContent));
    ASSERT_OK_AND_ASSIGN(private_oid_, lfs_->PutObject(kPrivateContent));
    MakeRepo(kPrivate, {{"shared.bin", shared_oid_, kSharedContent.size()},
                        {"private.bin", private_oid_, kPrivateContent.size()}});
    MakeRepo(kPublic, {{"shared.bin", shared_oid_, kSharedContent.size()}});

    std::filesystem::path upstream_token = dir_->path() / "upstream.token";
    ASSERT_OK(WriteFileAtomically(upstream_token, "upstream-secret\n"));
    const std::string url = upstream_->BaseUrl() + "/{repo}.git";
    MirrordOptions o;
    // [upstreams.private] needs a token upstream, so its repos are private by default;
    // [upstreams.open] too, but says private = false.
    o.extra_toml = "[sync]\nmaintenance = false\n\n[upstreams.private]\nurl = \"" + url +
                   "\"\ntoken_file = \"" + upstream_token.string() +
                   "\"\n\n[upstreams.open]\nurl = \"" + url + "\"\ntoken_file = \"" +
                   upstream_token.string() + "\"\nprivate = false\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    Sync(kPrivate, "private");
    Sync(kPublic, "open");
  }

  void MakeRepo(std::string_view name, const std::vector<LfsPointerFile>& files) {
    ASSERT_OK(MakeLfsPointerRepo(*upstream_, dir_->path(), name, files));
  }

  void Sync(std::string_view name, std::string_view upstream) {
    ASSERT_OK_AND_ASSIGN(
        ProcessResult r,
        mirrord_->Mirrorctl({"sync", std::string(name), "--upstream", std::string(upstream)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  std::string CreateToken(std::string_view name, std::string_view glob) {
    Result<std::string> token = CreateReadToken(*mirrord_, name, glob);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    if (token.ok()) tokens_.push_back(*token);
    return token.value_or("");
  }

  Result<HttpReply> Get(std::string_view path, std::string_view authorization = {}) {
    HttpCall call;
    if (!authorization.empty()) call.headers.emplace_back("Authorization", authorization);
    return HttpFetch(mirrord_->BaseUrl() + std::string(path), call);
  }

  Result<HttpReply> Batch(std::string_view repo, std::string_view oid, uint64_t size,
                          std::string_view authorization = {}) {
    HttpCall call;
    call.method = "POST";
    call.headers.emplace_back("Accept", "application/vnd.git-lfs+json");
    call.headers.emplace_back("Content-Type", "application/vnd.git-lfs+json");
    if (!authorization.empty()) call.headers.emplace_back("Authorization", authorization);
    call.body = R"({"operation":"download","transfers":["basic"],"objects":[{"oid":")" +
                std::string(oid) + R"(","size":)" + std::to_string(size) + "}]}";
    return HttpFetch(mirrord_->BaseUrl() + "/" + std::string(repo) + ".git/info/lfs/objects/batch",
                     call);
  }

  // Git options that answer a credential prompt with `token` (any user name).
  static GitOptions WithToken(std::string_view token) {
    GitOptions g;
    g.config = {"credential.helper=!f() { echo username=anyone; echo password=" +
                std::string(token) + "; }; f"};
    return g;
  }

  // The same answer: status, the headers a client acts on, and body.
  static void ExpectSameAnswer(const HttpReply& a, const HttpReply& b) {
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.body, b.body);
    for (std::string_view h :
         {"WWW-Authenticate", "Content-Type", "Content-Length", "Retry-After"}) {
      EXPECT_EQ(a.Header(h), b.Header(h)) << h;
    }
  }

  void ExpectNoTokenInLogs() {
    const std::string logs = mirrord_->Logs();
    for (const std::string& t : tokens_) {
      EXPECT_THAT(logs, Not(HasSubstr(t)));
      EXPECT_THAT(logs, Not(HasSubstr(mirrord::Base64("anyone:" + t))));
    }
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string shared_oid_;
  std::string private_oid_;
  std::vector<std::string> tokens_;
};

TEST_F(ReadAccess, GitCloneOfAPrivateRepoNeedsAGrantingToken) {
  // Public: as before, no credentials needed.
  ASSERT_OK_AND_ASSIGN(ProcessResult pub, RunGit({"clone", "-q", mirrord_->UrlFor(kPublic),
                                                  (dir_->path() / "pub").string()}));
  EXPECT_TRUE(pub.ok()) << pub.Describe();

  // Private, no credentials: git gets the challenge (and, without a helper, gives up).
  ASSERT_OK_AND_ASSIGN(ProcessResult anon, RunGit({"clone", "-q", mirrord_->UrlFor(kPrivate),
                                                   (dir_->path() / "anon").string()}));
  EXPECT_FALSE(anon.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "anon" / "README.md"));
  const std::string refs = "/info/refs?service=git-upload-pack";
  ASSERT_OK_AND_ASSIGN(HttpReply priv401, Get("/" + std::string(kPrivate) + ".git" + refs));
  ASSERT_OK_AND_ASSIGN(HttpReply absent401, Get("/" + std::string(kAbsent) + ".git" + refs));
  EXPECT_EQ(priv401.status, 401);
  EXPECT_EQ(priv401.Header("WWW-Authenticate"), "Basic realm=\"mirrord\"");
  ExpectSameAnswer(priv401, absent401);

  // A token for the private repo's glob: clone works with credentials in the URL and via a
  // credential helper.
  const std::string reader = CreateToken("reader", "lab/private-*");
  std::string url = mirrord_->UrlFor(kPrivate);
  url.insert(url.find("://") + 3, "someone:" + reader + "@");
  ASSERT_OK_AND_ASSIGN(ProcessResult in_url,
                       RunGit({"clone", "-q", url, (dir_->path() / "in-url").string()}, {}, [] {
                         GitOptions g;
                         g.env["GIT_LFS_SKIP_SMUDGE"] = "1";
                         return g;
                       }()));
  EXPECT_TRUE(in_url.ok()) << in_url.Describe() << mirrord_->Logs();
  EXPECT_TRUE(std::filesystem::exists(dir_->path() / "in-url" / "README.md"));
  GitOptions helper = WithToken(reader);
  helper.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK_AND_ASSIGN(ProcessResult via_helper, RunGit({"clone", "-q", mirrord_->UrlFor(kPrivate),
                                                         (dir_->path() / "helper").string()},
                                                        {}, helper));
  EXPECT_TRUE(via_helper.ok()) << via_helper.Describe();

  // A token scoped to another glob is refused, and the answer is the absent name's.
  const std::string other = CreateToken("other", "other/**");
  GitOptions other_helper = WithToken(other);
  ASSERT_OK_AND_ASSIGN(ProcessResult scoped_out, RunGit({"clone", "-q", mirrord_->UrlFor(kPrivate),
                                                         (dir_->path() / "scoped").string()},
                                                        {}, other_helper));
  EXPECT_FALSE(scoped_out.ok());
  ASSERT_OK_AND_ASSIGN(HttpReply priv404, Get("/" + std::string(kPrivate) + ".git" + refs,
                                              BasicAuthorization("anyone", other)));
  ASSERT_OK_AND_ASSIGN(HttpReply absent404, Get("/" + std::string(kAbsent) + ".git" + refs,
                                                BasicAuthorization("anyone", other)));
  EXPECT_EQ(priv404.status, 404);
  ExpectSameAnswer(priv404, absent404);
  // A token that does grant an absent name gets the handler's own 404, never a challenge.
  ASSERT_OK_AND_ASSIGN(HttpReply granted_absent, Get("/lab/private-nothing.git" + refs,
                                                     BasicAuthorization("anyone", reader)));
  EXPECT_EQ(granted_absent.status, 404);
  // Garbage credentials are the same 404 too.
  ASSERT_OK_AND_ASSIGN(HttpReply garbage, Get("/" + std::string(kPrivate) + ".git" + refs,
                                              BasicAuthorization("anyone", "not-a-token")));
  ExpectSameAnswer(garbage, absent404);

  // Refusals are logged: client, protocol, repo and reason, never the token.
  const std::string logs = mirrord_->Logs();
  EXPECT_THAT(logs, HasSubstr("read access refused: client=127.0.0.1 protocol=git repo=" +
                              std::string(kPrivate)));
  EXPECT_THAT(logs, HasSubstr("token other does not grant this repository"));
  ExpectNoTokenInLogs();

  // list shows names and globs, never tokens; revoke takes effect at once.
  ASSERT_OK_AND_ASSIGN(ProcessResult list, mirrord_->Mirrorctl({"token", "list"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_THAT(list.stdout_text, HasSubstr("reader"));
  EXPECT_THAT(list.stdout_text, HasSubstr("lab/private-*"));
  EXPECT_THAT(list.stdout_text, Not(HasSubstr(reader)));
  ASSERT_OK_AND_ASSIGN(ProcessResult revoke, mirrord_->Mirrorctl({"token", "revoke", "reader"}));
  ASSERT_TRUE(revoke.ok()) << revoke.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult after, RunGit({"clone", "-q", mirrord_->UrlFor(kPrivate),
                                                    (dir_->path() / "after").string()},
                                                   {}, helper));
  EXPECT_FALSE(after.ok()) << after.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult again, mirrord_->Mirrorctl({"token", "revoke", "reader"}));
  EXPECT_EQ(again.exit_code, 4) << again.Describe();
}

TEST_F(ReadAccess, LfsObjectsFollowTheRepoTheyAreAskedUnder) {
  const std::string reader = CreateToken("reader", "lab/**");
  const std::string other = CreateToken("other", "elsewhere/*");
  // The shared object through the public repo: no credentials needed.
  ASSERT_OK_AND_ASSIGN(HttpReply pub, Batch(kPublic, shared_oid_, kSharedContent.size()));
  EXPECT_EQ(pub.status, 200) << pub.body;
  EXPECT_THAT(pub.body, HasSubstr("\"download\""));
  // The private-only object is not referenced by the public repo: never served under it,
  // whatever the token.
  ASSERT_OK_AND_ASSIGN(HttpReply leak,
                       Get("/" + std::string(kPublic) + ".git/info/lfs/objects/" + private_oid_,
                           BasicAuthorization("anyone", reader)));
  EXPECT_EQ(leak.status, 404);
  // Through the private repo: challenged without a token, like an absent repo, 404 with a
  // token of another glob, like an absent repo, served with a granting token.
  ASSERT_OK_AND_ASSIGN(HttpReply priv401, Batch(kPrivate, shared_oid_, kSharedContent.size()));
  ASSERT_OK_AND_ASSIGN(HttpReply absent401, Batch(kAbsent, shared_oid_, kSharedContent.size()));
  EXPECT_EQ(priv401.status, 401);
  ExpectSameAnswer(priv401, absent401);
  const std::string obj = "/info/lfs/objects/" + private_oid_;
  ASSERT_OK_AND_ASSIGN(HttpReply priv404, Get("/" + std::string(kPrivate) + ".git" + obj,
                                              BasicAuthorization("anyone", other)));
  ASSERT_OK_AND_ASSIGN(HttpReply absent404, Get("/" + std::string(kAbsent) + ".git" + obj,
                                                BasicAuthorization("anyone", other)));
  EXPECT_EQ(priv404.status, 404);
  ExpectSameAnswer(priv404, absent404);
  ASSERT_OK_AND_ASSIGN(HttpReply got, Get("/" + std::string(kPrivate) + ".git" + obj,
                                          BasicAuthorization("anyone", reader)));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, kPrivateContent);

  // The real clients: `git lfs pull` with the token from a credential helper.
  GitOptions helper = WithToken(reader);
  helper.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  const std::filesystem::path clone = dir_->path() / "lfs-clone";
  ASSERT_OK_AND_ASSIGN(
      ProcessResult c,
      RunGit({"clone", "-q", mirrord_->UrlFor(kPrivate), clone.string()}, {}, helper));
  ASSERT_TRUE(c.ok()) << c.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult pull, RunGit({"lfs", "pull"}, clone, WithToken(reader)));
  ASSERT_TRUE(pull.ok()) << pull.Describe() << mirrord_->Logs();
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(clone / "private.bin"));
  EXPECT_EQ(bytes, kPrivateContent);
  // ... and a token of another glob cannot pull (with the local LFS cache emptied, so that
  // the objects must come from mirrord).
  std::filesystem::remove_all(clone / ".git" / "lfs" / "objects");
  ASSERT_OK(WriteFileAtomically(clone / "private.bin",
                                LfsPointerText(private_oid_, kPrivateContent.size())));
  ASSERT_OK_AND_ASSIGN(ProcessResult refused, RunGit({"lfs", "pull"}, clone, WithToken(other)));
  EXPECT_FALSE(refused.ok()) << refused.Describe();
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("protocol=lfs repo=" + std::string(kPrivate)));
  ExpectNoTokenInLogs();
}

TEST_F(ReadAccess, FailedAuthenticationIsRateLimitedPerClient) {
  const std::string reader = CreateToken("reader", "lab/*");
  const std::string path = "/" + std::string(kPrivate) + ".git/info/refs?service=git-upload-pack";
  const std::string wrong = BasicAuthorization("x", "mrd_" + std::string(64, '0'));
  // The limit is 10 failures per minute per client address.
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(HttpReply r, Get(path, wrong));
    EXPECT_EQ(r.status, 404) << i;
  }
  ASSERT_OK_AND_ASSIGN(HttpReply limited, Get(path, wrong));
  EXPECT_EQ(limited.status, 429);
  ASSERT_TRUE(limited.Header("Retry-After").has_value());
  EXPECT_GE(std::stoi(*limited.Header("Retry-After")), 1);
  EXPECT_LE(std::stoi(*limited.Header("Retry-After")), 60);
  // While limited, no credentials are looked at, good ones included...
  ASSERT_OK_AND_ASSIGN(HttpReply good, Get(path, BasicAuthorization("x", reader)));
  EXPECT_EQ(good.status, 429);
  // ... but public repos stay readable without credentials.
  ASSERT_OK_AND_ASSIGN(HttpReply pub,
                       Get("/" + std::string(kPublic) + ".git/info/refs?service=git-upload-pack"));
  EXPECT_EQ(pub.status, 200);
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("reason=\"too many failed authentications\""));
  ExpectNoTokenInLogs();
}

}  // namespace
}  // namespace mirrord::test
