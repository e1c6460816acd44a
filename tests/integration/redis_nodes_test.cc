// Several mirrord nodes sharing a Redis job queue and one store: when the node running a
// sync dies, another node takes the job over once its lease has run out and completes the
// same run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/status.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/redis_server.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kRepo = "team/shared";
constexpr std::chrono::seconds kDeadline{60};

Result<HttpReply> AdminCall(MirrordProcess& m, std::string method, std::string_view path) {
  ASSIGN_OR_RETURN(std::string token, m.AdminToken());
  HttpCall call;
  call.method = std::move(method);
  call.headers = {{"Authorization", "Bearer " + token}};
  return HttpFetch(m.BaseUrl() + std::string(path), call);
}

Result<SyncRunView> GetRun(MirrordProcess& m, int64_t run_id) {
  ASSIGN_OR_RETURN(HttpReply r, AdminCall(m, "GET", "/api/v1/runs/" + std::to_string(run_id)));
  if (r.status != 200) return Internal("GET run: " + std::to_string(r.status) + " " + r.body);
  ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.body));
  return SyncRunViewFromJson(v);
}

Result<QueueView> QueueJson(MirrordProcess& m) {
  ASSIGN_OR_RETURN(ProcessResult r, m.Mirrorctl({"queue", "--json"}));
  if (!r.ok()) return Internal("mirrorctl queue --json: " + r.Describe());
  ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.stdout_text));
  return QueueViewFromJson(v);
}

// Polls `condition` until it holds or the deadline passes.
::testing::AssertionResult Eventually(const std::function<Result<bool>()>& condition) {
  auto end = std::chrono::steady_clock::now() + kDeadline;
  std::string last = "condition never held";
  while (true) {
    Result<bool> r = condition();
    if (r.ok() && *r) return ::testing::AssertionSuccess();
    if (!r.ok()) last = r.status().ToString();
    if (std::chrono::steady_clock::now() > end) return ::testing::AssertionFailure() << last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
}

class RedisNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("redis-nodes-"));
    dir_.emplace(std::move(dir));
    std::filesystem::create_directories(dir_->path() / "redis");
    Result<RedisServer> redis = RedisServer::Start(dir_->path() / "redis");
    if (!redis.ok() && redis.status().code() == StatusCode::kNotFound) {
      GTEST_SKIP() << "redis-server not installed";
    }
    ASSERT_OK(redis);
    redis_.emplace(std::move(redis).value());
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "v1\n", "one").status());
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo("org/shared"));
    ASSERT_OK(work.Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
    work_.emplace(std::move(work));
    url_ = upstream_->UrlFor("org/shared");
  }

  // A node on the shared work dir (so the shared store: MirrordProcess puts the store at
  // WORK_DIR/store) and the shared queue. Each node rewrites WORK_DIR/mirrord.toml when it
  // starts; a running node has read its own already.
  Result<std::unique_ptr<MirrordProcess>> StartNode(std::string_view node_id) {
    MirrordOptions options;
    options.work_dir = dir_->path() / "node";
    options.extra_toml = "[queue]\nbackend = \"redis\"\nredis_url = \"" + redis_->url() +
                         "\"\nnode_id = \"" + std::string(node_id) + "\"\nlease = \"3s\"\n";
    return MirrordProcess::Start(std::move(options));
  }

  std::optional<TempDir> dir_;
  std::optional<RedisServer> redis_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
};

TEST_F(RedisNodes, AnotherNodeFinishesTheRunOfADeadNode) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> a, StartNode("node-a"));
  ASSERT_OK_AND_ASSIGN(ProcessResult first,
                       a->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
  ASSERT_TRUE(first.ok()) << first.Describe() << "\n" << a->Logs();

  ASSERT_OK_AND_ASSIGN(std::string head, work_->CommitFile("README.md", "v2\n", "two"));
  ASSERT_OK(work_->Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
  Fault stall;
  stall.path_substring = "git-upload-pack";
  stall.method = "POST";
  stall.stall = true;
  upstream_->AddFault(stall);
  ASSERT_OK_AND_ASSIGN(HttpReply r,
                       AdminCall(*a, "POST", "/api/v1/repos/" + std::string(kRepo) + ":sync"));
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_OK_AND_ASSIGN(boost::json::value v, ParseJson(r.body));
  ASSERT_TRUE(v.is_object() && v.as_object().contains("run_id")) << r.body;
  const int64_t run_id = v.as_object().at("run_id").as_int64();
  ASSERT_OK(
      upstream_->WaitForRequest([](const RequestRecord& rec) { return rec.stalled; }, kDeadline));
  ASSERT_OK_AND_ASSIGN(QueueView queue, QueueJson(*a));
  ASSERT_EQ(queue.jobs.size(), 1u);
  EXPECT_EQ(queue.jobs[0].run_id, run_id);
  EXPECT_EQ(queue.jobs[0].state, "running");
  EXPECT_EQ(queue.jobs[0].node, "node-a");

  ASSERT_OK(a->Kill());
  upstream_->ClearFaults();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> b, StartNode("node-b"));

  SyncRunView run;
  ASSERT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(run, GetRun(*b, run_id));
    return IsFinalRunState(run.state);
  })) << b->Logs();
  EXPECT_EQ(run.state, "succeeded") << run.error << "\n" << b->Logs();
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", b->UrlFor(kRepo)}));
  EXPECT_EQ(served, want);
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));
  ASSERT_OK_AND_ASSIGN(queue, QueueJson(*b));
  EXPECT_TRUE(queue.jobs.empty());
}

}  // namespace
}  // namespace mirrord::test
