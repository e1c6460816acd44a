// How `mirrorctl push` and `mirrorctl build` follow a queued run to its end: the progress
// lines, the final summary or JSON document, and each way following can end badly (mirrord
// lost, the run's status unanswered or unreadable, the run failed, retryable or not), with
// the exact messages and exit codes scripts read. mirrord's admin API is played by a real
// HTTP server answering each poll of the run from a script.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/api_json.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord {
namespace {

using ::testing::StartsWith;

// Stands still: progress lines print only when their phase changes, so what a follow prints
// depends on the polls alone.
class StillClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::hours(1));
  }
};

// The answers GET of the run gets, in order; the last one repeats.
class ScriptedRun {
 public:
  explicit ScriptedRun(std::vector<test::UpstreamResponse> answers)
      : answers_(std::move(answers)) {}
  test::UpstreamResponse Next() {
    size_t i = next_.fetch_add(1);
    return answers_[std::min(i, answers_.size() - 1)];
  }
  size_t polls() const { return next_.load(); }

 private:
  const std::vector<test::UpstreamResponse> answers_;
  std::atomic<size_t> next_{0};
};

// mirrord's 200 answers carrying these run views, in order.
template <typename... Views>
std::vector<test::UpstreamResponse> Answers(const Views&... views) {
  return {
      test::UpstreamResponse::Json(200, boost::json::serialize(boost::json::value_from(views)))...};
}

class FollowRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server is on 127.0.0.1: never route it through a proxy from the environment.
    ::setenv("no_proxy", "*", 1);
    ::setenv("NO_PROXY", "*", 1);
    ASSERT_OK_AND_ASSIGN(dir_, test::TempDir::Create("mirrord-follow-run-"));
    ASSERT_OK_AND_ASSIGN(server_, test::TestUpstream::Start(dir_->path() / "root"));
    client_ = std::make_unique<ApiClient>(server_->BaseUrl(), "token", "the test");
  }

  // POST `queue_path` answers {"run_id": 7, "ref": "refs/heads/main"}; GET `run_path` the
  // answers in order.
  void Script(const std::string& queue_path, const std::string& run_path,
              std::vector<test::UpstreamResponse> answers) {
    run_ = std::make_shared<ScriptedRun>(std::move(answers));
    server_->AddRoute(
        [queue_path](const test::UpstreamRequest& r) {
          return r.method == "POST" && r.path == queue_path;
        },
        [](const test::UpstreamRequest&) {
          return test::UpstreamResponse::Json(200, R"({"run_id":7,"ref":"refs/heads/main"})");
        });
    server_->AddRoute(
        [run_path](const test::UpstreamRequest& r) {
          return r.method == "GET" && r.path == run_path;
        },
        [run = run_](const test::UpstreamRequest&) { return run->Next(); });
  }

  int Push(bool json = false) {
    CommandIo io{out_, err_, /*out_is_tty=*/false, /*err_is_tty=*/false, clock_, json};
    PushArgs args;
    args.image = "lab/glm:main";
    args.registry = "lab";
    return RunPushCommand(*client_, args, io);
  }

  int Build(bool json = false) {
    CommandIo io{out_, err_, /*out_is_tty=*/false, /*err_is_tty=*/false, clock_, json};
    BuildArgs args;
    args.name = "lab/glm";
    return RunBuildCommand(*client_, args, io);
  }

  static constexpr const char* kPushQueue = "/api/v1/images/lab/glm:main/push";
  static constexpr const char* kPushRun = "/api/v1/pushes/7";
  static constexpr const char* kBuildQueue = "/api/v1/builds/lab/glm";
  static constexpr const char* kBuildRun = "/api/v1/builds/lab/glm/runs/7";

  StillClock clock_;
  std::optional<test::TempDir> dir_;
  std::unique_ptr<test::TestUpstream> server_;
  std::unique_ptr<ApiClient> client_;
  std::shared_ptr<ScriptedRun> run_;
  std::ostringstream out_, err_;
};

PushRunView PushRun(std::string state) {
  PushRunView v;
  v.run_id = 7;
  v.image = "lab/glm";
  v.digest = "sha256:" + std::string(64, 'a');
  v.registry = "lab";
  v.repository = "models/lab/glm";
  v.tags = {"main"};
  v.state = std::move(state);
  return v;
}

BuildRunView BuildRun(std::string state, std::string phase) {
  BuildRunView v;
  v.run_id = 7;
  v.build = "lab/glm";
  v.repo = "THUDM/GLM-4";
  v.ref = "refs/heads/main";
  v.commit = std::string(40, 'c');
  v.state = std::move(state);
  v.phase = std::move(phase);
  return v;
}

TEST_F(FollowRunTest, PushPrintsProgressWhileRunningThenTheResult) {
  PushRunView first = PushRun("running");
  first.blobs_total = 3;
  first.blobs_done = 1;
  PushRunView second = first;
  second.blobs_done = 2;  // the same "push" line: not printed again while the clock stands
  PushRunView done = PushRun("succeeded");
  done.blobs_uploaded = 3;
  Script(kPushQueue, kPushRun, Answers(first, second, done));
  EXPECT_EQ(Push(), kExitOk);
  EXPECT_EQ(out_.str(), "[running] 1/3 blobs\n" + FormatPushResult(done));
  EXPECT_EQ(err_.str(), "");
  EXPECT_EQ(run_->polls(), 3u);
}

TEST_F(FollowRunTest, BuildPrintsALineEachPhaseThenTheResult) {
  BuildRunView base = BuildRun("running", "base");
  BuildRunView layers = BuildRun("running", "layers");
  layers.layers_total = 2;
  layers.layers_done = 1;
  BuildRunView done = BuildRun("succeeded", "done");
  done.image_digest = "sha256:" + std::string(64, 'd');
  done.tags = {"main"};
  Script(kBuildQueue, kBuildRun, Answers(base, layers, done));
  EXPECT_EQ(Build(), kExitOk);
  EXPECT_EQ(out_.str(), "[base]\n[layers] 1/2 weight layers\n" + FormatBuildResult(done));
  EXPECT_EQ(err_.str(), "");
}

TEST_F(FollowRunTest, AFailedRetryableRunSaysSoAndMirrordRetries) {
  PushRunView push = PushRun("failed");
  push.error = "blob sha256:dd: registry answered 503";
  push.failure = RunFailure{FailurePhase::kPush, "Unavailable", true, std::nullopt};
  Script(kPushQueue, kPushRun, Answers(push));
  EXPECT_EQ(Push(), kExitFailed);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "mirrord: push of lab/glm:main to lab failed: blob sha256:dd: registry answered 503\n"
            "mirrorctl: mirrord retries it on its own; `mirrorctl queue` shows when\n");
}

TEST_F(FollowRunTest, AFailedBuildNamesItsRefAndGivesNoHintWhenNotRetryable) {
  BuildRunView build = BuildRun("failed", "failed");
  build.ref = "refs/tags/v1";  // the run's ref, not the one asked for
  build.error = "file weights.bin: sha256 mismatch";
  build.failure = RunFailure{FailurePhase::kBuild, "DataLoss", false, std::nullopt};
  Script(kBuildQueue, kBuildRun, Answers(build));
  EXPECT_EQ(Build(), kExitFailed);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(),
            "mirrord: build lab/glm of refs/tags/v1 failed: file weights.bin: sha256 mismatch\n");
}

TEST_F(FollowRunTest, AnInterruptedRunWithoutAnErrorSaysItsState) {
  Script(kPushQueue, kPushRun, Answers(PushRun("interrupted")));
  EXPECT_EQ(Push(), kExitFailed);
  EXPECT_EQ(err_.str(), "mirrord: push of lab/glm:main to lab failed: the run was interrupted\n");
  err_.str("");
  Script(kBuildQueue, kBuildRun, Answers(BuildRun("interrupted", "interrupted")));
  EXPECT_EQ(Build(), kExitFailed);
  EXPECT_EQ(err_.str(),
            "mirrord: build lab/glm of refs/heads/main failed: the run was interrupted\n");
}

TEST_F(FollowRunTest, WithJsonTheFinalRunIsTheOneDocumentAndTheExitCodeItsOutcome) {
  PushRunView running = PushRun("running");
  running.blobs_total = 3;
  PushRunView failed = PushRun("failed");
  failed.error = "registry answered 403";
  failed.failure = RunFailure{FailurePhase::kPush, "PermissionDenied", true, std::nullopt};
  Script(kPushQueue, kPushRun, Answers(running, failed));
  EXPECT_EQ(Push(/*json=*/true), kExitFailed);
  EXPECT_EQ(out_.str(), boost::json::serialize(boost::json::value_from(failed)) + "\n");
  EXPECT_EQ(err_.str(), "");  // no failure line, no retry hint: the document says it all

  out_.str("");
  BuildRunView done = BuildRun("succeeded", "done");
  Script(kBuildQueue, kBuildRun, Answers(BuildRun("running", "base"), done));
  EXPECT_EQ(Build(/*json=*/true), kExitOk);
  EXPECT_EQ(out_.str(), boost::json::serialize(boost::json::value_from(done)) + "\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(FollowRunTest, LosingMirrordWhileFollowingSaysTheRunCarriesOn) {
  // 401 on the poll: ApiClient's call fails (the token refused), as when mirrord is gone.
  Script(kPushQueue, kPushRun, {test::UpstreamResponse::Text(401, "no\n")});
  EXPECT_EQ(Push(), kExitUnreachable);
  EXPECT_EQ(err_.str(),
            "mirrorctl: lost mirrord while following push run 7 (the push carries "
            "on): mirrord at " +
                server_->BaseUrl() + " refused the admin token from the test\n");
  err_.str("");
  Script(kBuildQueue, kBuildRun, {test::UpstreamResponse::Text(401, "no\n")});
  EXPECT_EQ(Build(), kExitUnreachable);
  EXPECT_EQ(err_.str(),
            "mirrorctl: lost mirrord while following build run 7 of lab/glm (the build carries "
            "on): mirrord at " +
                server_->BaseUrl() + " refused the admin token from the test\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(FollowRunTest, AnErrorAnswerToThePollIsReportedWithItsExitCode) {
  const std::string gone = R"({"error":{"code":"NotFound","message":"no push run 7"}})";
  Script(kPushQueue, kPushRun, {test::UpstreamResponse::Json(404, gone)});
  EXPECT_EQ(Push(), kExitNotFound);
  EXPECT_EQ(err_.str(), "mirrorctl: push of lab/glm:main to lab: no push run 7\n");
  err_.str("");
  Script(kBuildQueue, kBuildRun, {test::UpstreamResponse::Text(500, "boom\n")});
  EXPECT_EQ(Build(), kExitFailed);
  EXPECT_EQ(err_.str(), "mirrorctl: build lab/glm: mirrord answered HTTP 500: boom\n");
}

TEST_F(FollowRunTest, AnUnreadableRunEndsTheFollow) {
  Script(kPushQueue, kPushRun, {test::UpstreamResponse::Json(200, "[1,2]")});
  EXPECT_EQ(Push(), kExitFailed);
  EXPECT_THAT(err_.str(), StartsWith("mirrorctl: mirrord sent an unreadable push run: "));
  EXPECT_EQ(run_->polls(), 1u);
  err_.str("");
  Script(kBuildQueue, kBuildRun, {test::UpstreamResponse::Json(200, "{not json")});
  EXPECT_EQ(Build(), kExitFailed);
  EXPECT_THAT(err_.str(), StartsWith("mirrorctl: mirrord sent an unreadable build run: "));
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace mirrord
