// Push jobs against a real SQLite catalog and job queue, with a fake ImagePusher (our own
// seam: deploy/image_pusher.h): the pushes a build queues (per `push` target, mapped
// repository and tags, the model artifact with it), an operator's request, and what the
// runner records for a success, a failure (the pusher's words naming the blob), a
// cancellation and a registry that left the config; secrets are read at each run.
#include "daemon/push_job_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <limits>
#include <optional>

#include "daemon/push_jobs.h"
#include "storage/sqlite_job_queue.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::StatusIs;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kImageDigest = "sha256:" + std::string(64, 'a');
const std::string kModelDigest = "sha256:" + std::string(64, 'b');
const std::string kCommit = std::string(40, 'c');

// Records every call; answers with `answer` (or, when `fail` is set, that status).
class FakePusher final : public ImagePusher {
 public:
  struct Call {
    RegistryTarget target;
    PushRequest request;
  };
  Result<PushReport> Push(const RegistryTarget& target, const PushRequest& request,
                          const std::function<void(const PushProgress&)>& progress,
                          const std::atomic<bool>* cancelled) override {
    calls.push_back({target, request});
    if (progress) progress(PushProgress{100, 50, 2, 1, "sha256:x"});
    if (cancel_on_call) {
      cancel_on_call->store(true);
      if (cancelled != nullptr && cancelled->load()) return Cancelled("push cancelled");
    }
    if (fail) return *fail;
    return answer;
  }
  std::vector<Call> calls;
  PushReport answer;
  std::optional<Status> fail;
  std::atomic<bool>* cancel_on_call = nullptr;
};

class PushJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
    dir_.emplace(std::move(dir));
    password_file_ = dir_->path() / "lab.password";
    WriteSecret("s3cret\n");
    config_ = DefaultConfig();
    config_.storage_root = dir_->path();
    RegistryConfig lab;
    lab.name = "lab";
    lab.url = "https://registry.lab:5000";
    lab.username = "bot";
    lab.password_file = password_file_;
    RegistryConfig mirror;
    mirror.name = "mirror";
    mirror.url = "http://127.0.0.1:5001";
    mirror.insecure = true;
    config_.registries = {{"lab", lab}, {"mirror", mirror}};
    BuildRecipe recipe;
    recipe.name = "lab/m";
    recipe.repo = "org/m";
    PushTarget plain;
    plain.registry = "lab";
    PushTarget mapped;
    mapped.registry = "mirror";
    mapped.repository = "models/{name}";
    mapped.tags = {"{commit}", "latest"};
    recipe.push = {plain, mapped};
    config_.builds = {recipe};
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.db"));
    ASSERT_OK_AND_ASSIGN(queue_, SqliteJobQueue::Open(dir_->path() / "catalog.db"));
    RepoRecord r;
    r.name = "org/m";
    ASSERT_OK_AND_ASSIGN(repo_, catalog_->InsertRepo(r));
    live_.emplace(config_);
    jobs_.emplace(*live_, *catalog_, *queue_, SystemClock::Instance(), [this] { ++wakes_; });
    runner_.emplace(*live_, *catalog_, pusher_, metrics_, SystemClock::Instance());
  }

  void WriteSecret(const std::string& text) {
    std::ofstream(password_file_, std::ios::trunc) << text;
  }

  BuildRunRecord Built() {
    BuildRunRecord b;
    b.build = "lab/m";
    b.ref = "refs/heads/main";
    b.commit = kCommit;
    b.image_digest = kImageDigest;
    b.model_digest = kModelDigest;
    b.tags = {"main", kCommit};
    return b;
  }

  // Claims the next job and runs it with `cancel`.
  std::pair<QueuedJob, JobOutcome> RunNext(std::atomic<bool>* cancel = nullptr) {
    ClaimRequest claim;
    claim.owner = "node";
    claim.now_ms = std::numeric_limits<int64_t>::max() / 4;
    Result<std::optional<QueuedJob>> job = queue_->Claim(claim);
    EXPECT_TRUE(job.ok() && job->has_value());
    if (!job.ok() || !job->has_value()) return {};
    std::atomic<bool> never{false};
    JobContext context;
    context.cancel = cancel != nullptr ? cancel : &never;
    JobOutcome out = runner_->Run(**job, context);
    EXPECT_OK(queue_->Finish((*job)->run_id, "node"));
    return {**job, out};
  }

  std::optional<TempDir> dir_;
  std::filesystem::path password_file_;
  Config config_;
  std::optional<LiveConfig> live_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<SqliteJobQueue> queue_;
  RepoRecord repo_;
  int wakes_ = 0;
  FakePusher pusher_;
  Metrics metrics_;
  std::optional<PushJobs> jobs_;
  std::optional<PushJobRunner> runner_;
};

TEST_F(PushJobsTest, ABuildQueuesOnePushPerTargetWithTheImageAndItsModel) {
  std::vector<QueuedPush> queued = jobs_->OnBuilt(config_.builds[0], Built(), "webhook");
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_GE(wakes_, 2);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> jobs, queue_->List());
  ASSERT_EQ(jobs.size(), 2u);
  for (const QueuedJob& j : jobs) {
    EXPECT_EQ(j.kind, JobKind::kPush);
    EXPECT_EQ(j.repo, "org/m");
    EXPECT_EQ(j.build, "lab/m@" + kImageDigest);
    ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(j.run_id));
    EXPECT_EQ(run.state, "queued");
    EXPECT_EQ(run.repo_name, "org/m");
    EXPECT_EQ(run.image, "lab/m");
    EXPECT_EQ(run.digest, kImageDigest);
    EXPECT_EQ(run.model_digest, kModelDigest);
    EXPECT_EQ(run.registry, j.ref);
    if (j.ref == "lab") {
      // A plain name: the image's own name and tags.
      EXPECT_EQ(j.host, "registry.lab:5000");
      EXPECT_EQ(run.repository, "lab/m");
      EXPECT_THAT(run.tags, ElementsAre("main", kCommit));
      EXPECT_THAT(run.model_tags, ElementsAre("main-model", kCommit + "-model"));
    } else {
      EXPECT_EQ(j.ref, "mirror");
      EXPECT_EQ(j.host, "127.0.0.1:5001");
      EXPECT_EQ(run.repository, "models/lab/m");
      EXPECT_THAT(run.tags, ElementsAre(kCommit, "latest"));
      EXPECT_THAT(run.model_tags, ElementsAre(kCommit + "-model", "latest-model"));
    }
  }
  // A push run is neither the repo's last sync nor a build run.
  ASSERT_OK_AND_ASSIGN(std::optional<SyncRunRecord> last, catalog_->LastFinishedRun(repo_.id));
  EXPECT_FALSE(last.has_value());
  EXPECT_THAT(catalog_->GetBuildRun(queued[0].run_id).status(), StatusIs(StatusCode::kNotFound));
}

TEST_F(PushJobsTest, ASuccessRecordsWhatWasSentAndCountsItPerRegistry) {
  BuildRunRecord built = Built();
  config_.builds[0].push.resize(1);  // lab only
  live_->Set(std::make_shared<const Config>(config_));
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], built, "webhook").size(), 1u);
  pusher_.answer.bytes_sent = 1000;
  pusher_.answer.blobs_uploaded = 2;
  pusher_.answer.blobs_mounted = 1;
  pusher_.answer.blobs_skipped = 3;
  auto [job, out] = RunNext();
  EXPECT_EQ(out.kind, JobOutcome::Kind::kSucceeded);
  EXPECT_EQ(out.repo_id, repo_.id);
  // The image, then its model artifact, each to the same repository with its tags.
  ASSERT_EQ(pusher_.calls.size(), 2u);
  EXPECT_EQ(pusher_.calls[0].request.manifest_digest, kImageDigest);
  EXPECT_EQ(pusher_.calls[0].request.source_name, "lab/m");
  EXPECT_EQ(pusher_.calls[0].request.repository, "lab/m");
  EXPECT_THAT(pusher_.calls[0].request.tags, ElementsAre("main", kCommit));
  EXPECT_EQ(pusher_.calls[1].request.manifest_digest, kModelDigest);
  EXPECT_THAT(pusher_.calls[1].request.tags, ElementsAre("main-model", kCommit + "-model"));
  // The target as configured, the password read from its file (without the newline).
  EXPECT_EQ(pusher_.calls[0].target.url, "https://registry.lab:5000");
  EXPECT_EQ(pusher_.calls[0].target.username, "bot");
  EXPECT_EQ(pusher_.calls[0].target.password, "s3cret");
  EXPECT_FALSE(pusher_.calls[0].target.insecure);
  ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(job.run_id));
  EXPECT_EQ(run.state, "succeeded");
  EXPECT_EQ(run.error, "");
  EXPECT_EQ(run.bytes_sent, 2000u);
  EXPECT_EQ(run.blobs_uploaded, 4);
  EXPECT_EQ(run.blobs_mounted, 2);
  EXPECT_EQ(run.blobs_skipped, 6);
  ASSERT_OK_AND_ASSIGN(PushRunView view, runner_->View(job.run_id));
  EXPECT_EQ(view.state, "succeeded");
  EXPECT_EQ(view.bytes_sent, 2000u);
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("mirrord_image_push_bytes_total{registry=\"lab\"} 2000"));
  EXPECT_THAT(text,
              HasSubstr("mirrord_image_pushes_total{outcome=\"succeeded\",registry=\"lab\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("mirrord_image_push_blobs_total{action=\"uploaded\",registry=\"lab\"} 4"));
  EXPECT_THAT(text,
              HasSubstr("mirrord_image_push_blobs_total{action=\"mounted\",registry=\"lab\"} 2"));
  EXPECT_THAT(text,
              HasSubstr("mirrord_image_push_blobs_total{action=\"skipped\",registry=\"lab\"} 6"));
  EXPECT_THAT(text, HasSubstr("mirrord_image_push_duration_seconds_count{registry=\"lab\"} 1"));
}

TEST_F(PushJobsTest, AFailureKeepsThePushersWordsAndIsRetryable) {
  config_.builds[0].push.resize(1);
  live_->Set(std::make_shared<const Config>(config_));
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], Built(), "webhook").size(), 1u);
  pusher_.fail = Unavailable("blob sha256:" + std::string(64, 'd') +
                             ": registry.lab:5000 answered 503 to PATCH");
  auto [job, out] = RunNext();
  EXPECT_EQ(out.kind, JobOutcome::Kind::kFailed);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_EQ(out.failure->phase, FailurePhase::kPush);
  EXPECT_TRUE(out.failure->retryable);
  EXPECT_EQ(out.failure->code, "Unavailable");
  ASSERT_EQ(pusher_.calls.size(), 1u);  // the model is not tried after the image failed
  ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(job.run_id));
  EXPECT_EQ(run.state, "failed");
  EXPECT_THAT(run.error, HasSubstr("blob sha256:" + std::string(64, 'd')));
  EXPECT_THAT(run.error, HasSubstr("answered 503"));
  EXPECT_THAT(run.error, HasSubstr("to lab/lab/m"));
  ASSERT_OK_AND_ASSIGN(SyncRunRecord record, catalog_->GetRun(job.run_id));
  ASSERT_TRUE(record.failure.has_value());
  EXPECT_EQ(record.failure->phase, FailurePhase::kPush);
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("mirrord_image_pushes_total{outcome=\"failed\",registry=\"lab\"} 1"));
  // A retry copies what the run pushes into a new run.
  ASSERT_OK_AND_ASSIGN(int64_t retry, catalog_->CopyPushRun(job.run_id, "retry", 5));
  ASSERT_OK_AND_ASSIGN(PushRunRecord again, catalog_->GetPushRun(retry));
  EXPECT_EQ(again.state, "queued");
  EXPECT_EQ(again.digest, kImageDigest);
  EXPECT_EQ(again.model_digest, kModelDigest);
  EXPECT_EQ(again.repository, "lab/m");
  EXPECT_EQ(again.tags, run.tags);
  EXPECT_EQ(again.trigger, "retry");
}

TEST_F(PushJobsTest, ACancelledPushIsInterruptedNotFailed) {
  config_.builds[0].push.resize(1);
  live_->Set(std::make_shared<const Config>(config_));
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], Built(), "webhook").size(), 1u);
  std::atomic<bool> cancel{false};
  pusher_.cancel_on_call = &cancel;
  auto [job, out] = RunNext(&cancel);
  EXPECT_EQ(out.kind, JobOutcome::Kind::kCancelled);
  EXPECT_FALSE(out.failure.has_value());
  EXPECT_EQ(pusher_.calls.size(), 1u);  // the model artifact is not started
  ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(job.run_id));
  EXPECT_EQ(run.state, "interrupted");
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("mirrord_image_pushes_total{outcome=\"cancelled\",registry=\"lab\"} 1"));
}

TEST_F(PushJobsTest, SecretsAreReadWhenEachPushStarts) {
  config_.builds[0].push.resize(1);
  live_->Set(std::make_shared<const Config>(config_));
  BuildRunRecord first = Built();
  first.model_digest.clear();
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], first, "webhook").size(), 1u);
  RunNext();
  WriteSecret("rotated");
  BuildRunRecord second = first;
  second.image_digest = "sha256:" + std::string(64, 'e');
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], second, "webhook").size(), 1u);
  RunNext();
  ASSERT_EQ(pusher_.calls.size(), 2u);
  EXPECT_EQ(pusher_.calls[0].target.password, "s3cret");
  EXPECT_EQ(pusher_.calls[1].target.password, "rotated");
  // An unreadable secret fails the run (retryably: the file can come back) without a push.
  std::filesystem::remove(password_file_);
  BuildRunRecord third = first;
  third.image_digest = "sha256:" + std::string(64, 'f');
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], third, "webhook").size(), 1u);
  auto [job, out] = RunNext();
  EXPECT_EQ(out.kind, JobOutcome::Kind::kFailed);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_TRUE(out.failure->retryable);
  EXPECT_EQ(pusher_.calls.size(), 2u);
  ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(job.run_id));
  EXPECT_THAT(run.error, HasSubstr("password_file " + password_file_.string()));
  EXPECT_THAT(run.error, ::testing::Not(HasSubstr("rotated")));
}

TEST_F(PushJobsTest, ARegistryThatLeftTheConfigFailsForGood) {
  config_.builds[0].push.resize(1);
  live_->Set(std::make_shared<const Config>(config_));
  ASSERT_EQ(jobs_->OnBuilt(config_.builds[0], Built(), "webhook").size(), 1u);
  Config without = config_;
  without.registries.erase("lab");
  live_->Set(std::make_shared<const Config>(without));
  auto [job, out] = RunNext();
  EXPECT_EQ(out.kind, JobOutcome::Kind::kFailed);
  ASSERT_TRUE(out.failure.has_value());
  EXPECT_FALSE(out.failure->retryable);
  EXPECT_THAT(pusher_.calls, IsEmpty());
}

TEST_F(PushJobsTest, AnOperatorPushesOneTagAndRequestsForTheSameManifestFoldIn) {
  ImageRecord main;
  main.name = "lab/m";
  main.tag = "main";
  main.digest = kImageDigest;
  main.media_type = "application/vnd.oci.image.manifest.v1+json";
  main.build = "lab/m";
  main.ref = "refs/heads/main";
  main.commit = kCommit;
  ImageRecord v1 = main;
  v1.tag = "v1";
  ASSERT_OK(catalog_->PutImages({main, v1}, {}));
  ASSERT_OK_AND_ASSIGN(QueuedPush first,
                       jobs_->Request("lab/m", "main", "mirror", "manual", JobPriority::kManual));
  EXPECT_FALSE(first.coalesced);
  EXPECT_EQ(first.repository, "models/lab/m");  // the recipe's mapping for that registry
  EXPECT_THAT(first.tags, ElementsAre("main"));
  ASSERT_OK_AND_ASSIGN(QueuedPush second,
                       jobs_->Request("lab/m", "v1", "mirror", "manual", JobPriority::kManual));
  EXPECT_TRUE(second.coalesced);
  EXPECT_EQ(second.run_id, first.run_id);
  ASSERT_OK_AND_ASSIGN(PushRunRecord run, catalog_->GetPushRun(first.run_id));
  EXPECT_THAT(run.tags, ElementsAre("main", "v1"));
  EXPECT_THAT(run.model_tags, IsEmpty());
  EXPECT_EQ(run.trigger, "manual");
  ASSERT_OK_AND_ASSIGN(std::vector<PushRunRecord> listed, catalog_->ListPushRuns("lab/m", 0));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].run_id, first.run_id);
  ASSERT_OK_AND_ASSIGN(listed, catalog_->ListPushRuns("other", 0));
  EXPECT_THAT(listed, IsEmpty());

  EXPECT_THAT(jobs_->Request("lab/m", "main", "nowhere", "manual", JobPriority::kManual).status(),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(jobs_->Request("lab/m", "nope", "lab", "manual", JobPriority::kManual).status(),
              StatusIs(StatusCode::kNotFound));
  Config without = config_;
  without.builds.clear();
  live_->Set(std::make_shared<const Config>(without));
  EXPECT_THAT(jobs_->Request("lab/m", "main", "lab", "manual", JobPriority::kManual).status(),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST(PlanPushTest, TemplatesExpandAndModelTagsStayWithin128Bytes) {
  PushTarget t;
  t.registry = "lab";
  t.repository = "x/{name}/y";
  t.tags = {"{ref}-{commit}", "{ref}-{commit}"};
  PushRunRecord p = PlanPush(t, "m", {}, "refs/heads/feature/a", std::string(40, 'c'), true);
  EXPECT_EQ(p.repository, "x/m/y");
  ASSERT_EQ(p.tags.size(), 1u);  // duplicates once
  EXPECT_EQ(p.tags[0], "feature-a-" + std::string(40, 'c'));
  PushTarget long_tag;
  long_tag.registry = "lab";
  p = PlanPush(long_tag, "m", {std::string(128, 'a')}, "", "", true);
  EXPECT_EQ(p.repository, "m");
  ASSERT_EQ(p.model_tags.size(), 1u);
  EXPECT_EQ(p.model_tags[0].size(), 128u);
  EXPECT_TRUE(p.model_tags[0].ends_with("-model"));
  EXPECT_EQ(RegistryHost("https://r.lab:5000"), "r.lab:5000");
  EXPECT_EQ(RegistryHost("http://127.0.0.1:5001/"), "127.0.0.1:5001");
}

}  // namespace
}  // namespace mirrord
