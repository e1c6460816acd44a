// Push jobs end to end (issue 14): a model pushed with git-lfs to the test upstream is
// mirrored and built; the build queues a push job to [registries.lab], a real
// `docker-registry` (Debian's distribution 2.8) with htpasswd auth started by the test; the
// run is listed by GET /api/v1/pushes and `skopeo inspect --raw` from that registry gives
// the manifest digest mirrord serves. `mirrorctl push NAME:TAG REGISTRY` does the same by
// hand, with its exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
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
#include "tests/fixtures/seeded_bytes.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr std::string_view kRepo = "org/model";
constexpr char kUser[] = "pusher";
constexpr char kPassword[] = "s3cret-push";

class Push : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("push-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.LfsTrack("*.safetensors"));
    ASSERT_OK(work.WriteFile("config.json", "{\"layers\": 2}\n"));
    ASSERT_OK(work.WriteFile("model-00001-of-00002.safetensors", SeededBytes(200 << 10, 1)));
    ASSERT_OK(work.WriteFile("model-00002-of-00002.safetensors", SeededBytes(50 << 10, 2)));
    ASSERT_OK_AND_ASSIGN(commit_, work.Commit("model"));
    ASSERT_OK(upstream_->CreateBareRepo(kRepo).status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor(kRepo), {"refs/heads/main:refs/heads/main"}));

    ASSERT_OK_AND_ASSIGN(registry_,
                         DockerRegistry::Start(dir_->path() / "registry", kUser, kPassword));
    const fs::path password_file = dir_->path() / "lab.password";
    ASSERT_OK(WriteFileAtomically(password_file, std::string(kPassword) + "\n"));
    MirrordOptions o;
    o.extra_toml =
        "[sync]\nmaintenance = false\n"
        "[registries.lab]\nurl = \"http://" +
        registry_->HostPort() +
        "\"\ninsecure = true\n"
        "username = \"" +
        kUser + "\"\npassword_file = \"" + password_file.string() +
        "\"\n"
        "[[repos]]\nname = \"org/model\"\nurl = \"" +
        upstream_->UrlFor(kRepo) +
        "\"\n"
        "[[builds]]\nname = \"lab/model\"\nrepo = \"org/model\"\npush = [\"lab\"]\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(ProcessResult sync, mirrord_->Mirrorctl({"sync", std::string(kRepo)}));
    ASSERT_TRUE(sync.ok()) << sync.Describe() << "\n" << mirrord_->Logs();
  }

  // GET /api/v1/pushes?image=lab/model: the push runs, newest first.
  Result<std::vector<PushRunView>> Pushes() {
    ASSIGN_OR_RETURN(std::string token, mirrord_->AdminToken());
    HttpCall call;
    call.headers = {{"Authorization", "Bearer " + token}};
    ASSIGN_OR_RETURN(HttpReply reply,
                     HttpFetch(mirrord_->BaseUrl() + "/api/v1/pushes?image=lab/model", call));
    if (reply.status != 200) {
      return Internal("GET /api/v1/pushes: " + std::to_string(reply.status) + " " + reply.body);
    }
    std::vector<PushRunView> out;
    const json::value answer = json::parse(reply.body);
    for (const json::value& v : answer.at("pushes").as_array()) {
      ASSIGN_OR_RETURN(PushRunView run, PushRunViewFromJson(v));
      out.push_back(std::move(run));
    }
    return out;
  }

  // The first push run of manifest `digest` to reach a final state (nullopt: none within
  // the deadline).
  // True when mirrord's queue holds no job at all (no build still to finish, no push still
  // to run or rewrite the lab registry's tags).
  bool QueueIsEmpty() {
    Result<std::string> token = mirrord_->AdminToken();
    if (!token.ok()) return false;
    HttpCall call;
    call.headers = {{"Authorization", "Bearer " + *token}};
    Result<HttpReply> reply = HttpFetch(mirrord_->BaseUrl() + "/api/v1/queue", call);
    if (!reply.ok() || reply->status != 200) return false;
    const json::value answer = json::parse(reply->body);
    return answer.at("jobs").as_array().empty();
  }

  // The first push run of `digest`, once all have ended and nothing else is queued: the
  // sync that publishes the model queues a build too, so a second build (and push) of the
  // same digest may follow the one the test asked for; distribution rewrites a tag's link
  // file in place, so reading a tag while a push rewrites it can fail. (A later push of the
  // same digest finds every blob there and uploads none.)
  std::optional<PushRunView> WaitForPush(const std::string& digest) {
    std::optional<PushRunView> found;
    PollUntil(
        [&] {
          Result<std::vector<PushRunView>> runs = Pushes();
          if (!runs.ok()) return false;
          found.reset();
          bool all_final = true;
          for (const PushRunView& r : *runs) {
            if (r.digest != digest) continue;
            if (!IsFinalRunState(r.state)) all_final = false;
            if (IsFinalRunState(r.state)) found = r;  // newest first: the last is the first
          }
          return found.has_value() && all_final && QueueIsEmpty();
        },
        std::chrono::seconds(120));
    return found;
  }

  // `skopeo inspect --raw` of REPOSITORY:TAG in the lab registry: the manifest's digest.
  Result<std::string> DigestInLab(const std::string& repository, const std::string& tag) {
    Result<std::string> raw =
        RunProcessOk({"skopeo", "inspect", "--raw", "--tls-verify=false", "--creds",
                      std::string(kUser) + ":" + kPassword,
                      "docker://" + registry_->HostPort() + "/" + repository + ":" + tag});
    if (!raw.ok()) {
      return Status(raw.status().code(),
                    raw.status().message() + "\nlab registry log:\n" + registry_->Logs());
    }
    return "sha256:" + Sha256Hex(*raw);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<DockerRegistry> registry_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string commit_;
};

TEST_F(Push, ABuildPushesTheImageAndItsModelToTheLabRegistry) {
  ASSERT_OK_AND_ASSIGN(BuildRunView built, BuildAndWait(*mirrord_, "lab/model"));
  ASSERT_EQ(built.state, "succeeded") << built.error << "\n" << mirrord_->Logs();
  std::optional<PushRunView> push = WaitForPush(built.image_digest);
  ASSERT_TRUE(push.has_value()) << "no push run of " << built.image_digest << " ended\n"
                                << mirrord_->Logs();
  // What the job was asked to push, whatever became of it.
  EXPECT_EQ(push->image, "lab/model");
  EXPECT_EQ(push->registry, "lab");
  EXPECT_EQ(push->repository, "lab/model");
  EXPECT_EQ(push->repo, kRepo);
  EXPECT_EQ(push->model_digest, built.model_digest);
  EXPECT_THAT(push->tags, Contains("main"));
  EXPECT_THAT(push->tags, Contains(commit_));
  EXPECT_THAT(push->model_tags, Contains("main-model"));
  ASSERT_EQ(push->state, "succeeded") << push->error << "\n" << mirrord_->Logs();
  EXPECT_EQ(push->error, "");
  EXPECT_GT(push->bytes_sent, 0u);
  EXPECT_GT(push->blobs_uploaded, 0u);

  upstream_->Stop();  // what the lab registry has came from mirrord
  ASSERT_OK_AND_ASSIGN(std::string in_lab, DigestInLab("lab/model", "main"));
  EXPECT_EQ(in_lab, built.image_digest);
  ASSERT_OK_AND_ASSIGN(in_lab, DigestInLab("lab/model", commit_));
  EXPECT_EQ(in_lab, built.image_digest);
  ASSERT_OK_AND_ASSIGN(in_lab, DigestInLab("lab/model", "main-model"));
  EXPECT_EQ(in_lab, built.model_digest);

  ASSERT_OK_AND_ASSIGN(HttpReply metrics, HttpFetch(mirrord_->BaseUrl() + "/metrics"));
  EXPECT_THAT(metrics.body,
              HasSubstr("mirrord_image_pushes_total{outcome=\"succeeded\",registry=\"lab\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("mirrord_image_push_bytes_total{registry=\"lab\"}"));
}

TEST_F(Push, MirrorctlPushesOneTagByHand) {
  ASSERT_OK_AND_ASSIGN(BuildRunView built, BuildAndWait(*mirrord_, "lab/model"));
  ASSERT_EQ(built.state, "succeeded") << built.error << "\n" << mirrord_->Logs();

  // Refused before anything is queued: a malformed image, an unknown registry or tag.
  ASSERT_OK_AND_ASSIGN(ProcessResult bad, mirrord_->Mirrorctl({"push", "lab/model", "lab"}));
  EXPECT_EQ(bad.exit_code, 2) << bad.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult nowhere,
                       mirrord_->Mirrorctl({"push", "lab/model:main", "nowhere"}));
  EXPECT_EQ(nowhere.exit_code, 4) << nowhere.Describe();
  EXPECT_THAT(nowhere.stderr_text, HasSubstr("nowhere"));
  ASSERT_OK_AND_ASSIGN(ProcessResult no_tag,
                       mirrord_->Mirrorctl({"push", "lab/model:no-such-tag", "lab"}));
  EXPECT_EQ(no_tag.exit_code, 4) << no_tag.Describe();

  ASSERT_OK_AND_ASSIGN(
      ProcessResult pushed,
      mirrord_->Mirrorctl({"--json", "push", "lab/model:main", "lab"}, std::chrono::seconds(120)));
  ASSERT_FALSE(pushed.stdout_text.empty()) << pushed.Describe();
  Result<PushRunView> run = PushRunViewFromJson(json::parse(pushed.stdout_text));
  ASSERT_TRUE(run.ok()) << run.status().ToString() << "\n" << pushed.stdout_text;
  EXPECT_EQ(run->digest, built.image_digest);
  EXPECT_EQ(run->registry, "lab");
  EXPECT_THAT(run->tags, Contains("main"));
  EXPECT_TRUE(IsFinalRunState(run->state)) << run->state;
  ASSERT_EQ(pushed.exit_code, 0) << pushed.Describe() << "\n" << run->error;
  EXPECT_EQ(run->state, "succeeded");
  // The build's own push (queued after the build) may still be rewriting the tag.
  ASSERT_TRUE(PollUntil([&] { return QueueIsEmpty(); }, std::chrono::seconds(120)));
  ASSERT_OK_AND_ASSIGN(std::string in_lab, DigestInLab("lab/model", "main"));
  EXPECT_EQ(in_lab, built.image_digest);
}

}  // namespace
}  // namespace mirrord::test
