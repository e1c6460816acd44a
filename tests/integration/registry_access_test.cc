// Read access on the registry and the Hugging Face endpoint (issue 13 item 1): the images of
// a private repo's [[builds]] recipe are private; skopeo pulls them with --creds (the Docker
// token flow against /v2/token), the token endpoint's registry token works as Bearer and
// stops working when its read token is revoked, /v2/_catalog hides what the caller may not
// read, and private and absent names answer alike. The HF endpoint takes HF_TOKEN as
// "Authorization: Bearer".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/read_tokens.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "org/model";
constexpr std::string_view kWeights = "private weights, served under the private repo only\n";

fs::path StubBinary() {
  return fs::path(MIRRORD_BINARY_DIR) / "tests/fixtures/model_stub/model_stub";
}

std::string BasicHeader(std::string_view token) { return BasicAuthorization("anyone", token); }

class RegistryAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("registry-access-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.LfsTrack("*.safetensors"));
    ASSERT_OK(work.WriteFile("config.json", "{\"layers\": 1}\n"));
    ASSERT_OK(work.WriteFile("model.safetensors", kWeights));
    ASSERT_OK(work.Commit("model").status());
    ASSERT_OK(upstream_->CreateBareRepo(kRepo).status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor(kRepo), {"refs/heads/main:refs/heads/main"}));

    ASSERT_TRUE(fs::exists(StubBinary())) << StubBinary();
    ASSERT_OK_AND_ASSIGN(std::string stub, ReadFileToString(StubBinary()));
    MirrordOptions o;
    o.extra_toml = "[sync]\nmaintenance = false\n[[repos]]\nname = \"org/model\"\nurl = \"" +
                   upstream_->UrlFor(kRepo) +
                   "\"\nprivate = true\n"
                   "[[builds]]\nname = \"lab/model\"\nrepo = \"org/model\"\n"
                   "entrypoint = [\"/usr/local/bin/serve\"]\n"
                   "[[builds.files]]\nsource = \"" +
                   StubBinary().string() +
                   "\"\ndest = \"/usr/local/bin/serve\"\nmode = \"0755\"\nsha256 = \"" +
                   Sha256Hex(stub) + "\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", std::string(kRepo)}));
    ASSERT_TRUE(sync.ok()) << sync.Describe() << "\n" << mirrord_->Logs();
  }

  std::string CreateToken(std::string_view name, std::string_view glob) {
    Result<std::string> token = CreateReadToken(*mirrord_, name, glob);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.value_or("");
  }

  Result<HttpReply> Get(const std::string& path, std::string authorization = {}) {
    HttpCall call;
    if (!authorization.empty()) call.headers.emplace_back("Authorization", authorization);
    return HttpFetch(mirrord_->BaseUrl() + path, call);
  }

  std::string Registry() const { return "127.0.0.1:" + std::to_string(mirrord_->port()); }

  static void ExpectSameAnswer(const HttpReply& a, const HttpReply& b) {
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.body, b.body);
    for (std::string_view h :
         {"Content-Type", "Content-Length", "X-Error-Code", "X-Error-Message"}) {
      EXPECT_EQ(a.Header(h), b.Header(h)) << h;
    }
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(RegistryAccess, PrivateImagesNeedAGrantingToken) {
  Result<BuildRunView> run = BuildAndWait(*mirrord_, "lab/model");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_EQ(run->state, "succeeded") << run->error << "\n" << mirrord_->Logs();
  const std::string reader = CreateToken("reader", "org/*");
  const std::string other = CreateToken("other", "elsewhere/**");
  const std::string image = "docker://" + Registry() + "/lab/model:main";

  // skopeo without credentials: refused; with --creds: the token flow, and it works.
  ASSERT_OK_AND_ASSIGN(ProcessResult anon,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false", image}));
  EXPECT_FALSE(anon.ok()) << anon.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult with_creds,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false", "--creds",
                                   "anyone:" + reader, image}));
  ASSERT_TRUE(with_creds.ok()) << with_creds.Describe() << "\n" << mirrord_->Logs();
  EXPECT_EQ(json::parse(with_creds.stdout_text).at("Digest").as_string(), run->image_digest);
  ASSERT_OK_AND_ASSIGN(
      ProcessResult scoped_out,
      RunProcess({"skopeo", "inspect", "--tls-verify=false", "--creds", "anyone:" + other, image}));
  EXPECT_FALSE(scoped_out.ok()) << scoped_out.Describe();

  // The challenge, and private vs absent names.
  ASSERT_OK_AND_ASSIGN(HttpReply ping, Get("/v2/"));
  EXPECT_EQ(ping.status, 401);
  EXPECT_EQ(ping.Header("WWW-Authenticate"),
            "Bearer realm=\"" + mirrord_->BaseUrl() + "/v2/token\",service=\"mirrord\"");
  ASSERT_OK_AND_ASSIGN(HttpReply priv401, Get("/v2/lab/model/manifests/main"));
  ASSERT_OK_AND_ASSIGN(HttpReply absent401, Get("/v2/lab/absent/manifests/main"));
  EXPECT_EQ(priv401.status, 401);
  EXPECT_THAT(priv401.Header("WWW-Authenticate").value_or(""),
              HasSubstr("scope=\"repository:lab/model:pull\""));
  EXPECT_EQ(priv401.body, absent401.body);
  EXPECT_EQ(priv401.Header("Content-Type"), absent401.Header("Content-Type"));
  ASSERT_OK_AND_ASSIGN(HttpReply priv404, Get("/v2/lab/model/manifests/main", BasicHeader(other)));
  ASSERT_OK_AND_ASSIGN(HttpReply absent404,
                       Get("/v2/lab/absent/manifests/main", BasicHeader(other)));
  EXPECT_EQ(priv404.status, 404);
  ExpectSameAnswer(priv404, absent404);

  // The token endpoint: anonymous tokens see nothing private; the reader's see it.
  ASSERT_OK_AND_ASSIGN(HttpReply anon_token,
                       Get("/v2/token?service=mirrord&scope=repository:lab/model:pull"));
  ASSERT_EQ(anon_token.status, 200) << anon_token.body;
  const std::string anon_bearer =
      "Bearer " + std::string(json::parse(anon_token.body).at("token").as_string());
  ASSERT_OK_AND_ASSIGN(HttpReply anon_catalog, Get("/v2/_catalog", anon_bearer));
  EXPECT_EQ(anon_catalog.status, 200);
  EXPECT_THAT(anon_catalog.body, Not(HasSubstr("lab/model")));
  ASSERT_OK_AND_ASSIGN(HttpReply anon_manifest, Get("/v2/lab/model/manifests/main", anon_bearer));
  EXPECT_EQ(anon_manifest.status, 401);
  ASSERT_OK_AND_ASSIGN(HttpReply bad_login,
                       Get("/v2/token?service=mirrord", BasicHeader(other + "x")));
  EXPECT_EQ(bad_login.status, 401);
  ASSERT_OK_AND_ASSIGN(
      HttpReply issued,
      Get("/v2/token?service=mirrord&scope=repository:lab/model:pull", BasicHeader(reader)));
  ASSERT_EQ(issued.status, 200) << issued.body;
  json::object answer = json::parse(issued.body).as_object();
  EXPECT_EQ(answer.at("token"), answer.at("access_token"));
  EXPECT_EQ(answer.at("expires_in").as_int64(), 300);
  const std::string bearer = "Bearer " + std::string(answer.at("token").as_string());
  EXPECT_THAT(issued.body, Not(HasSubstr(reader)));
  ASSERT_OK_AND_ASSIGN(HttpReply catalog, Get("/v2/_catalog", bearer));
  EXPECT_THAT(catalog.body, HasSubstr("lab/model"));
  ASSERT_OK_AND_ASSIGN(HttpReply manifest, Get("/v2/lab/model/manifests/main", bearer));
  EXPECT_EQ(manifest.status, 200) << manifest.body;

  // Revoking the read token ends its registry tokens at once.
  ASSERT_OK_AND_ASSIGN(ProcessResult revoke, mirrord_->Mirrorctl({"token", "revoke", "reader"}));
  ASSERT_TRUE(revoke.ok()) << revoke.Describe();
  ASSERT_OK_AND_ASSIGN(HttpReply revoked, Get("/v2/lab/model/manifests/main", bearer));
  EXPECT_EQ(revoked.status, 404);
  EXPECT_THAT(mirrord_->Logs(), Not(HasSubstr(reader)));
}

TEST_F(RegistryAccess, HfEndpointTakesHfTokenAsBearer) {
  const std::string reader = CreateToken("reader", "org/**");
  const std::string other = CreateToken("other", "elsewhere/*");
  const std::string file = "/org/model/resolve/main/model.safetensors";
  const std::string absent_file = "/org/other/resolve/main/model.safetensors";
  ASSERT_OK_AND_ASSIGN(HttpReply got, Get(file, "Bearer " + reader));
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, kWeights);
  ASSERT_OK_AND_ASSIGN(HttpReply info, Get("/api/models/org/model", "Bearer " + reader));
  EXPECT_EQ(info.status, 200) << info.body;

  // Without a token, or with one of another glob: the absent repo's answer, byte for byte
  // (a resolve answer names the id asked for: the absent one's, with its id replaced by
  // the private one's, is the same length and text).
  auto as_if = [](HttpReply r) {
    auto swap = [](std::string s) {
      for (size_t at; (at = s.find("org/other")) != std::string::npos;)
        s.replace(at, 9, "org/model");
      return s;
    };
    r.body = swap(r.body);
    for (auto& [name, value] : r.headers) value = swap(value);
    return r;
  };
  ASSERT_OK_AND_ASSIGN(HttpReply anon, Get(file));
  ASSERT_OK_AND_ASSIGN(HttpReply anon_absent, Get(absent_file));
  EXPECT_EQ(anon.status, 404);
  EXPECT_EQ(anon.Header("X-Error-Code"), "RepoNotFound");
  ExpectSameAnswer(anon, as_if(anon_absent));
  ASSERT_OK_AND_ASSIGN(HttpReply scoped, Get(file, "Bearer " + other));
  ASSERT_OK_AND_ASSIGN(HttpReply scoped_absent, Get(absent_file, "Bearer " + other));
  EXPECT_EQ(scoped.status, 404);
  ExpectSameAnswer(scoped, as_if(scoped_absent));
  ASSERT_OK_AND_ASSIGN(HttpReply info_anon, Get("/api/models/org/model"));
  ASSERT_OK_AND_ASSIGN(HttpReply info_absent, Get("/api/models/org/other"));
  ExpectSameAnswer(info_anon, info_absent);
  ASSERT_OK_AND_ASSIGN(HttpReply info_scoped, Get("/api/models/org/model", "Bearer " + other));
  ASSERT_OK_AND_ASSIGN(HttpReply info_scoped_absent,
                       Get("/api/models/org/other", "Bearer " + other));
  ExpectSameAnswer(info_scoped, info_scoped_absent);
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("protocol=hf repo=org/model"));
  EXPECT_THAT(mirrord_->Logs(), Not(HasSubstr(reader)));
}

}  // namespace
}  // namespace mirrord::test
