// Base images from a real registry: a base made with umoci is pushed with `skopeo copy` to
// a real `docker-registry` (distribution 2.8) started by the test; mirrord pulls it through
// the distribution API once (digest-verified, kept in its store), builds the model image on
// top of it, and serves the result: `umoci unpack` of a `skopeo copy` from mirrord holds the
// base's files and the upstream's weights, and the config inherits the base's environment.
// A second build fetches no base blob again; with the registry gone a build fails clearly
// and what is served does not change. Builds are queued jobs (POST /api/v1/builds/NAME, and
// the one every sync that publishes a new commit queues); the tests wait for their runs.
// A kill -9 of mirrord while a build waits on the base registry publishes nothing; after
// the restart the same run is retried and completes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/api_json.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/docker_registry.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/token_issuer.h"

namespace mirrord::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;

class BuildBase : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("build-base-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    std::mt19937 rng(7);
    weights_.resize(200 << 10);
    for (char& c : weights_) c = static_cast<char>(rng() & 0xff);
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.LfsTrack("*.safetensors"));
    ASSERT_OK(work.WriteFile("config.json", "{}\n"));
    ASSERT_OK(work.WriteFile("model.safetensors", weights_));
    ASSERT_OK(work.Commit("model").status());
    ASSERT_OK(upstream_->CreateBareRepo("org/model").status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor("org/model"), {"refs/heads/main:refs/heads/main"}));
    work_.emplace(std::move(work));

    // The base: one layer with /etc/base-release and an environment, made with umoci.
    ASSERT_OK_AND_ASSIGN(registry_, DockerRegistry::Start(dir_->path() / "registry"));
    fs::path layout = dir_->path() / "base-layout";
    fs::path src = dir_->path() / "base-src";
    ASSERT_OK(CreateDirectories(src / "etc"));
    ASSERT_OK(WriteFileAtomically(src / "etc/base-release", "base 1\n"));
    fs::path layer = dir_->path() / "base-layer.tar";
    for (std::vector<std::string> argv : std::vector<std::vector<std::string>>{
             {"tar", "--numeric-owner", "-C", src.string(), "-cf", layer.string(), "etc"},
             {"umoci", "init", "--layout", layout.string()},
             {"umoci", "new", "--image", layout.string() + ":base"},
             {"umoci", "raw", "add-layer", "--image", layout.string() + ":base", layer.string()},
             {"umoci", "config", "--image", layout.string() + ":base", "--config.env",
              "BASE_ENV=1", "--config.cmd", "/bin/base"},
             {"skopeo", "copy", "--dest-tls-verify=false", "oci:" + layout.string() + ":base",
              "docker://" + registry_->HostPort() + "/base:v1"}}) {
      ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess(argv));
      ASSERT_TRUE(r.ok()) << argv[0] << " " << argv[1] << ": " << r.Describe();
    }
    ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                         RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                     "docker://" + registry_->HostPort() + "/base:v1"}));
    ASSERT_TRUE(inspect.ok()) << inspect.Describe();
    json::object info = json::parse(inspect.stdout_text).as_object();
    base_digest_ = std::string(info["Digest"].as_string());
    base_layer_ = std::string(info["Layers"].as_array().at(0).as_string());

    MirrordOptions o;
    o.extra_toml = "[sync]\nmaintenance = false\n"
                   "[registries.local]\nurl = \"http://" + registry_->HostPort() + "\"\n"
                   "insecure = true\n"
                   "[[repos]]\nname = \"org/model\"\nurl = \"" + upstream_->UrlFor("org/model") +
                   "\"\n[[builds]]\nname = \"lab/model\"\nrepo = \"org/model\"\n"
                   "base = \"" + registry_->HostPort() + "/base:v1\"\n"
                   "require_cuda = \">=12.1\"\n";
    if (corrupt_base_) {
      // The registry's copy of the base layer changes under it before any build pulls it.
      fs::path blob = dir_->path() / "registry/data/docker/registry/v2/blobs/sha256" /
                      base_layer_.substr(7, 2) / base_layer_.substr(7) / "data";
      ASSERT_TRUE(fs::exists(blob)) << blob;
      ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(blob));
      bytes[bytes.size() / 2] ^= 1;
      ASSERT_OK(WriteFileAtomically(blob, bytes));
    }
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", "org/model"}));
    ASSERT_TRUE(sync.ok()) << sync.Describe() << "\n" << mirrord_->Logs();
  }

  // Queues a build of lab/model's main (coalesced with the one the sync queued, or after
  // it) and waits for its run to end.
  Result<BuildRunView> BuildCall() { return BuildAndWait(*mirrord_, "lab/model"); }

  size_t BaseLayerFetches() const {
    std::string logs = registry_->Logs();
    size_t n = 0;
    for (size_t at = logs.find("GET /v2/base/blobs/" + base_layer_); at != std::string::npos;
         at = logs.find("GET /v2/base/blobs/" + base_layer_, at + 1)) {
      ++n;
    }
    return n;
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<DockerRegistry> registry_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::optional<WorkRepo> work_;
  std::string weights_, base_digest_, base_layer_;
  bool corrupt_base_ = false;
};

TEST_F(BuildBase, PullsTheBaseOnceAndServesTheImageOnTopOfIt) {
  ASSERT_OK_AND_ASSIGN(BuildRunView first, BuildCall());
  ASSERT_EQ(first.state, "succeeded") << first.error << "\n" << mirrord_->Logs();
  std::string digest = first.image_digest;
  const size_t fetches = BaseLayerFetches();
  EXPECT_GE(fetches, 1u) << registry_->Logs();

  std::string mirror = "127.0.0.1:" + std::to_string(mirrord_->port());
  ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                   "docker://" + mirror + "/lab/model:main"}));
  ASSERT_TRUE(inspect.ok()) << inspect.Describe();
  json::object info = json::parse(inspect.stdout_text).as_object();
  EXPECT_EQ(info["Digest"].as_string(), digest);
  ASSERT_GE(info["Layers"].as_array().size(), 3u);
  EXPECT_EQ(info["Layers"].as_array().at(0).as_string(), base_layer_);
  std::string env = json::serialize(info["Env"]);
  EXPECT_THAT(env, HasSubstr("\"BASE_ENV=1\""));
  EXPECT_THAT(env, HasSubstr("\"NVIDIA_REQUIRE_CUDA=cuda>=12.1\""));

  ASSERT_OK_AND_ASSIGN(HttpReply manifest,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/main"));
  EXPECT_THAT(manifest.body, HasSubstr("\"org.opencontainers.image.base.digest\":\"" +
                                       base_digest_ + "\""));

  fs::path layout = dir_->path() / "pulled";
  fs::path bundle = dir_->path() / "bundle";
  for (std::vector<std::string> argv : std::vector<std::vector<std::string>>{
           {"skopeo", "copy", "--src-tls-verify=false", "docker://" + mirror + "/lab/model:main",
            "oci:" + layout.string() + ":m"},
           {"umoci", "unpack", "--image", layout.string() + ":m", bundle.string()}}) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess(argv));
    ASSERT_TRUE(r.ok()) << argv[0] << ": " << r.Describe();
  }
  EXPECT_EQ(*ReadFileToString(bundle / "rootfs/etc/base-release"), "base 1\n");
  ASSERT_OK_AND_ASSIGN(std::string got,
                       ReadFileToString(bundle / "rootfs/models/org/model/model.safetensors"));
  EXPECT_TRUE(got == weights_);

  // Rebuilding asks the registry for the tag again, never for a blob it holds.
  ASSERT_OK_AND_ASSIGN(BuildRunView second, BuildCall());
  ASSERT_EQ(second.state, "succeeded") << second.error;
  EXPECT_EQ(second.image_digest, digest);
  EXPECT_EQ(BaseLayerFetches(), fetches);

  // With the base registry gone the build fails clearly (retryably: a registry comes back);
  // the served image is unchanged.
  registry_->Stop();
  ASSERT_OK_AND_ASSIGN(BuildRunView gone, BuildCall());
  EXPECT_EQ(gone.state, "failed");
  ASSERT_TRUE(gone.failure.has_value()) << gone.error;
  EXPECT_EQ(gone.failure->phase, FailurePhase::kBuild);
  EXPECT_EQ(gone.failure->code, "Unavailable") << gone.error;
  EXPECT_TRUE(gone.failure->retryable);
  EXPECT_THAT(gone.error, HasSubstr(registry_->HostPort()));
  ASSERT_OK_AND_ASSIGN(HttpReply still,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/main"));
  EXPECT_EQ(still.Header("Docker-Content-Digest"), digest);
}

// The build job of a new commit is killed (kill -9 of mirrord) while it waits on the base
// registry: nothing of it is listed, the previous image is served; after the restart the
// same run is claimed again and, once the registry answers, completes.
TEST_F(BuildBase, KillNineMidBuildPublishesNothingAndTheRestartCompletesTheRun) {
  ASSERT_OK_AND_ASSIGN(BuildRunView first, BuildCall());
  ASSERT_EQ(first.state, "succeeded") << first.error << "\n" << mirrord_->Logs();

  // New weights upstream; the base registry stops answering (SIGSTOP: connections are
  // accepted, requests never answered), so the next build waits inside its base pull.
  std::string weights2 = weights_;
  weights2[weights2.size() / 2] ^= 1;
  ASSERT_OK(work_->WriteFile("model.safetensors", weights2));
  ASSERT_OK_AND_ASSIGN(std::string commit2, work_->Commit("v2"));
  ASSERT_OK(
      work_->PushWithLfs(upstream_->UrlFor("org/model"), {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK(registry_->Freeze());
  // The sync publishes commit2 and queues its build.
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", "org/model"}));
  ASSERT_TRUE(sync.ok()) << sync.Describe() << "\n" << mirrord_->Logs();
  // The running build job, and its run in the base phase.
  auto running_build = [&]() -> int64_t {
    Result<ProcessResult> q = mirrord_->Mirrorctl({"queue", "--json"});
    if (!q.ok() || !q->ok()) return 0;
    Result<boost::json::value> v = ParseJson(q->stdout_text);
    Result<QueueView> queue = v.ok() ? QueueViewFromJson(*v) : Result<QueueView>(v.error());
    if (!queue.ok()) return 0;
    for (const QueueJobView& j : queue->jobs) {
      if (j.kind == "build" && j.state == "running") return j.run_id;
    }
    return 0;
  };
  int64_t run_id = 0;
  ASSERT_TRUE(PollUntil([&] { return (run_id = running_build()) != 0; }, std::chrono::seconds(60)))
      << mirrord_->Logs();
  auto in_base_phase = [&] {
    Result<BuildRunView> run = GetBuildRun(*mirrord_, "lab/model", run_id);
    return run.ok() && run->state == "running" && run->phase == "base";
  };
  ASSERT_TRUE(PollUntil(in_base_phase, std::chrono::seconds(60))) << mirrord_->Logs();
  ASSERT_OK(mirrord_->Kill());

  // Restarted, the run is back (same id) and waits on the base again; nothing of commit2
  // is listed and main is still the first image.
  ASSERT_OK(mirrord_->Restart());
  ASSERT_TRUE(PollUntil(in_base_phase, std::chrono::seconds(60))) << mirrord_->Logs();
  ASSERT_OK_AND_ASSIGN(HttpReply tags, HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/tags/list"));
  ASSERT_EQ(tags.status, 200) << tags.body;
  EXPECT_THAT(tags.body, HasSubstr("\"" + first.commit + "\""));
  EXPECT_THAT(tags.body, ::testing::Not(HasSubstr(commit2)));
  ASSERT_OK_AND_ASSIGN(HttpReply main_before,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/main"));
  EXPECT_EQ(main_before.Header("Docker-Content-Digest"), first.image_digest);

  // The registry answers again: the same run completes and serves commit2.
  ASSERT_OK(registry_->Thaw());
  ASSERT_OK_AND_ASSIGN(BuildRunView done,
                       WaitForBuildEnd(*mirrord_, "lab/model", run_id, std::chrono::seconds(120)));
  ASSERT_EQ(done.state, "succeeded") << done.error << "\n" << mirrord_->Logs();
  EXPECT_EQ(done.commit, commit2);
  EXPECT_NE(done.image_digest, first.image_digest);
  ASSERT_OK_AND_ASSIGN(HttpReply main_after,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/main"));
  EXPECT_EQ(main_after.Header("Docker-Content-Digest"), done.image_digest);
  ASSERT_OK_AND_ASSIGN(HttpReply commit_tag,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/" + commit2));
  EXPECT_EQ(commit_tag.status, 200);
}

// A registry that serves other bytes than the digest it names (its storage corrupted
// under it, before mirrord ever pulled it): the pull fails on the digest check, nothing is
// kept or published.
class BuildBaseCorrupt : public BuildBase {
 protected:
  BuildBaseCorrupt() { corrupt_base_ = true; }
};

TEST_F(BuildBaseCorrupt, BlobWithAnotherDigestIsRefused) {
  ASSERT_OK_AND_ASSIGN(BuildRunView refused, BuildCall());
  EXPECT_EQ(refused.state, "failed") << mirrord_->Logs();
  ASSERT_TRUE(refused.failure.has_value()) << refused.error;
  EXPECT_EQ(refused.failure->code, "DataLoss");
  EXPECT_THAT(refused.error, HasSubstr(base_layer_));
  EXPECT_FALSE(fs::exists(mirrord_->store_dir() / "oci/blobs/sha256" / base_layer_.substr(7)));
  ASSERT_OK_AND_ASSIGN(HttpReply none, HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/tags/list"));
  EXPECT_EQ(none.status, 404);
}

}  // namespace
}  // namespace mirrord::test

namespace mirrord::test {
namespace {

// A model on a test upstream, a base pushed with `skopeo --dest-creds builder:s3cret` to
// the registry at `registry_host` (which wants those credentials, one way or another), and
// mirrord whose [registries] entry holds them: a wrong password is a clear PermissionDenied
// (403) and nothing is published; the right one builds the image on that base.
void BuildsWithRegistryCredentials(const fs::path& dir, const std::string& registry_host) {
  ASSERT_OK(InstallGitLfsFilters());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestUpstream> upstream,
                       TestUpstream::Start(dir / "upstream"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestLfsEndpoint> lfs,
                       TestLfsEndpoint::Attach(*upstream, dir / "lfs-objects"));
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir / "work"));
  ASSERT_OK(work.LfsTrack("*.bin"));
  ASSERT_OK(work.WriteFile("w.bin", std::string(5000, 'w')));
  ASSERT_OK(work.Commit("model").status());
  ASSERT_OK(upstream->CreateBareRepo("org/model").status());
  ASSERT_OK(work.PushWithLfs(upstream->UrlFor("org/model"), {"refs/heads/main:refs/heads/main"}));

  fs::path layout = dir / "base-layout";
  for (std::vector<std::string> argv : std::vector<std::vector<std::string>>{
           {"umoci", "init", "--layout", layout.string()},
           {"umoci", "new", "--image", layout.string() + ":base"},
           {"umoci", "config", "--image", layout.string() + ":base", "--config.env", "AUTH=1"},
           {"skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", "builder:s3cret",
            "oci:" + layout.string() + ":base", "docker://" + registry_host + "/base:v1"}}) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess(argv));
    ASSERT_TRUE(r.ok()) << argv[0] << ": " << r.Describe();
  }
  ASSERT_OK(WriteFileAtomically(dir / "good.password", "s3cret\n"));
  ASSERT_OK(WriteFileAtomically(dir / "bad.password", "wrong\n"));
  auto toml = [&](const std::string& password_file) {
    return "[sync]\nmaintenance = false\n[registries.local]\nurl = \"http://" + registry_host +
           "\"\ninsecure = true\nusername = \"builder\"\n"
           "password_file = \"" + password_file + "\"\n[[repos]]\nname = \"org/model\"\n"
           "url = \"" + upstream->UrlFor("org/model") + "\"\n[[builds]]\nname = \"m\"\n"
           "repo = \"org/model\"\nbase = \"" + registry_host + "/base:v1\"\n";
  };
  MirrordOptions o;
  o.extra_toml = toml((dir / "bad.password").string());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> mirrord, MirrordProcess::Start(o));
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord->Mirrorctl({"sync", "org/model"}));
  ASSERT_TRUE(sync.ok()) << sync.Describe();
  ASSERT_OK_AND_ASSIGN(BuildRunView refused, BuildAndWait(*mirrord, "m"));
  EXPECT_EQ(refused.state, "failed");
  ASSERT_TRUE(refused.failure.has_value()) << refused.error;
  EXPECT_EQ(refused.failure->code, "PermissionDenied") << refused.error;
  ASSERT_OK_AND_ASSIGN(HttpReply none, HttpFetch(mirrord->BaseUrl() + "/v2/m/tags/list"));
  EXPECT_EQ(none.status, 404);

  ASSERT_OK(mirrord->SetExtraToml(toml((dir / "good.password").string())));
  ASSERT_OK(mirrord->Restart());
  ASSERT_OK_AND_ASSIGN(BuildRunView built, BuildAndWait(*mirrord, "m"));
  ASSERT_EQ(built.state, "succeeded") << built.error << "\n" << mirrord->Logs();
  ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                   "docker://127.0.0.1:" + std::to_string(mirrord->port()) +
                                       "/m:main"}));
  ASSERT_TRUE(inspect.ok()) << inspect.Describe();
  EXPECT_THAT(inspect.stdout_text, HasSubstr("\"AUTH=1\""));
}

// A registry that wants basic auth: the recipe's registry credentials get the base.
TEST(BuildBaseAuth, BasicCredentialsFromTheRegistryConfig) {
  if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("build-base-auth-"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DockerRegistry> registry,
                       DockerRegistry::Start(dir.path() / "registry", "builder", "s3cret"));
  BuildsWithRegistryCredentials(dir.path(), registry->HostPort());
}

// A registry with Docker's token auth: mirrord answers its Bearer challenge by asking the
// realm (a TokenIssuer) for a pull token of the base's repository with the basic
// credentials, and pulls with that token.
TEST(BuildBaseAuth, BearerTokenFromTheRegistrysRealm) {
  if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("build-base-token-"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TokenIssuer> issuer,
                       TokenIssuer::Start(dir.path() / "issuer", "builder", "s3cret"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<DockerRegistry> registry,
                       DockerRegistry::StartWithTokenAuth(dir.path() / "registry",
                                                          issuer->Settings()));
  // Without a token the registry challenges for the issuer's realm.
  ASSERT_OK_AND_ASSIGN(HttpReply challenge, HttpFetch("http://" + registry->HostPort() + "/v2/"));
  EXPECT_EQ(challenge.status, 401);
  EXPECT_THAT(challenge.Header("WWW-Authenticate").value_or(""),
              HasSubstr("Bearer realm=\"" + issuer->Settings().realm + "\""));
  const size_t before = issuer->requests().size();
  BuildsWithRegistryCredentials(dir.path(), registry->HostPort());
  // mirrord asked the realm for the base's pull scope, with the credentials.
  bool asked = false;
  std::vector<RequestRecord> requests = issuer->requests();
  for (size_t i = before; i < requests.size(); ++i) {
    const RequestRecord& r = requests[i];
    if (r.target.find("scope=repository%3Abase%3Apull") != std::string::npos &&
        r.authorization.starts_with("Basic ") && r.status == 200) {
      asked = true;
    }
  }
  EXPECT_TRUE(asked) << "no pull-scope token request with basic credentials; registry log:\n"
                     << registry->Logs();
}

}  // namespace
}  // namespace mirrord::test
