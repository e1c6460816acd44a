// Several mirrord nodes sharing a Redis job queue and one store: when the node running a
// sync dies, another node takes the job over once its lease has run out and completes the
// same run; a node cut off from Redis stops before its lease ends and writes nothing the new
// owner would contradict; a node SIGSTOPped in the middle of an LFS download (it keeps its
// lease's files locked, and wakes up later believing it still owns the sync) holds nobody up
// and, woken, writes nothing; nodes starting together on an empty root agree on the admin
// token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

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
#include "common/file_util.h"
#include "common/status.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/redis_server.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
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
    RedisServerOptions redis_options;
    redis_options.tcp = true;  // a node may reach it through a TcpProxy the test can cut
    Result<RedisServer> redis = RedisServer::Start(dir_->path() / "redis", redis_options);
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
  // `redis_url` empty: the server's own socket. `own_work_dir`: the node gets a config file
  // of its own (WORK_DIR/<node id>) over the same store, so nodes can start at once.
  Result<std::unique_ptr<MirrordProcess>> StartNode(std::string_view node_id,
                                                    std::string redis_url = "",
                                                    bool own_work_dir = false,
                                                    std::string more_toml = "") {
    MirrordOptions options;
    options.work_dir = dir_->path() / "node";
    if (own_work_dir) {
      options.store_dir = options.work_dir / "store";
      options.work_dir /= std::string(node_id);
    }
    if (redis_url.empty()) redis_url = redis_->url();
    options.extra_toml = "[queue]\nbackend = \"redis\"\nredis_url = \"" + redis_url +
                         "\"\nnode_id = \"" + std::string(node_id) + "\"\nlease = \"3s\"\n" +
                         more_toml;
    return MirrordProcess::Start(std::move(options));
  }

  // Starts a sync of kRepo on `node` whose fetch stalls upstream; returns its run id once
  // the upstream holds the stalled request.
  Result<int64_t> StartStalledSync(MirrordProcess& node) {
    Fault stall = Fault::Stall("git-upload-pack", "POST");
    upstream_->AddFault(stall);
    ASSIGN_OR_RETURN(HttpReply r,
                     AdminCall(node, "POST", "/api/v1/repos/" + std::string(kRepo) + ":sync"));
    if (r.status != 202) return Internal("sync: HTTP " + std::to_string(r.status) + " " + r.body);
    ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.body));
    if (!v.is_object() || !v.as_object().contains("run_id")) return Internal("no run_id: " + r.body);
    RETURN_IF_ERROR(
        upstream_->WaitForRequest([](const RequestRecord& rec) { return rec.stalled; }, kDeadline)
            .status());
    return v.as_object().at("run_id").as_int64();
  }

  // Waits for `node`'s line saying that run `run_id` of kRepo ended without its record
  // being written (the run belongs to another node now).
  static Status WaitUntilDisowned(MirrordProcess& node, int64_t run_id) {
    return node.process()
        ->WaitForLineContaining("run " + std::to_string(run_id) + " of " + std::string(kRepo) +
                                    " is no longer this node's",
                                kDeadline)
        .status();
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
  ASSERT_OK_AND_ASSIGN(const int64_t run_id, StartStalledSync(*a));
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
  // The takeover names the node that lost the job.
  EXPECT_THAT(b->Logs(), HasSubstr("(run " + std::to_string(run_id) +
                                   ") on node node-a lost its lease; queued again"));
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", b->UrlFor(kRepo)}));
  EXPECT_EQ(served, want);
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));
  ASSERT_OK_AND_ASSIGN(queue, QueueJson(*b));
  EXPECT_TRUE(queue.jobs.empty());
}

// The ISO timestamp that starts the first log line containing `needle`; "" when none does.
std::string StampOfLine(const std::string& logs, std::string_view needle) {
  size_t at = logs.find(needle);
  if (at == std::string::npos) return "";
  size_t start = logs.rfind('\n', at);
  start = start == std::string::npos ? 0 : start + 1;
  return logs.substr(start, logs.find(' ', start) - start);
}

TEST_F(RedisNodes, NodeCutOffFromRedisStopsBeforeItsLeaseEndsAndAnotherCompletes) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TcpProxy> proxy, TcpProxy::Start(redis_->port()));
  const std::string via_proxy = "redis://127.0.0.1:" + std::to_string(proxy->port());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> a, StartNode("node-a", via_proxy, true));
  ASSERT_OK_AND_ASSIGN(ProcessResult first,
                       a->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
  ASSERT_TRUE(first.ok()) << first.Describe() << "\n" << a->Logs();

  ASSERT_OK_AND_ASSIGN(std::string head, work_->CommitFile("README.md", "v2\n", "two"));
  ASSERT_OK(work_->Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK_AND_ASSIGN(int64_t run_id, StartStalledSync(*a));
  ASSERT_OK_AND_ASSIGN(QueueView queue, QueueJson(*a));
  ASSERT_EQ(queue.jobs.size(), 1u);
  EXPECT_EQ(queue.jobs[0].node, "node-a");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> b, StartNode("node-b", "", true));

  // node-a loses Redis mid-sync (connections dropped, reconnects refused); it stays alive.
  proxy->Stop();
  const std::string stop_line =
      "run " + std::to_string(run_id) + ": cannot renew its lease before it ends";
  ASSERT_OK(a->process()->WaitForLineContaining(stop_line, kDeadline).status()) << a->Logs();
  // Its sync ends without writing the run's record: the run is no longer provably its own.
  ASSERT_OK(WaitUntilDisowned(*a, run_id)) << a->Logs();
  upstream_->ClearFaults();

  SyncRunView run;
  ASSERT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(run, GetRun(*b, run_id));
    return IsFinalRunState(run.state);
  })) << b->Logs();
  EXPECT_EQ(run.state, "succeeded") << run.error << "\n" << b->Logs() << "\n" << a->Logs();
  const std::string takeover = "(run " + std::to_string(run_id) + ") on node node-a lost its lease";
  ASSERT_THAT(b->Logs(), HasSubstr(takeover));
  // node-a stopped before node-b could take the job over (both log with the same clock).
  EXPECT_LT(StampOfLine(a->Logs(), stop_line), StampOfLine(b->Logs(), takeover))
      << a->Logs() << "\n" << b->Logs();

  // The catalog agrees with what is served, on both nodes.
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", b->UrlFor(kRepo)}));
  EXPECT_EQ(served, want);
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));
  ASSERT_OK_AND_ASSIGN(SyncRunView seen_by_a, GetRun(*a, run_id));
  EXPECT_EQ(seen_by_a.state, "succeeded");
  ASSERT_OK_AND_ASSIGN(std::string served_by_a, Git({"ls-remote", a->UrlFor(kRepo)}));
  EXPECT_EQ(served_by_a, want);
}

TEST_F(RedisNodes, ANodeStoppedMidLfsHoldsNobodyUpAndWritesNothingWhenWoken) {
  ASSERT_OK(InstallGitLfsFilters());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TestLfsEndpoint> lfs,
                       TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
  constexpr uint64_t kSize = 6 << 20;
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs->PutGeneratedObject(kSize, 9));
  ASSERT_OK(work_->WriteFile(".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n"));
  ASSERT_OK(work_->WriteFile("weights.bin", LfsPointerText(oid, kSize)));
  ASSERT_OK_AND_ASSIGN(std::string head, work_->Commit("weights"));
  GitOptions skip_lfs;
  skip_lfs.env["GIT_LFS_SKIP_PUSH"] = "1";
  ASSERT_OK(work_->Push(bare_.string(), {"refs/heads/main:refs/heads/main"}, false, skip_lfs));

  // A stall of 2 s: a .part unchanged for twice that has a stopped holder.
  const std::string quick = "[sync]\nstall_timeout = \"2s\"\nmaintenance = false\n";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> a, StartNode("node-a", "", true, quick));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MirrordProcess> b, StartNode("node-b", "", true, quick));
  // node-a gets the first MiB of the object, then the upstream holds its GET.
  Fault hold;
  hold.path_substring = "/lfs/objects/" + oid;
  hold.method = "GET";
  hold.stall_after_bytes = 1 << 20;
  upstream_->AddFault(hold);
  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       a->Mirrorctl({"sync", std::string(kRepo), "--url", url_, "--no-follow"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  constexpr std::string_view kQueuedAs = "sync queued as run ";
  const size_t at = queued.stdout_text.find(kQueuedAs);
  ASSERT_NE(at, std::string::npos) << queued.stdout_text;
  const int64_t run_id = std::stoll(queued.stdout_text.substr(at + kQueuedAs.size()));
  ASSERT_OK(
      upstream_->WaitForRequest([](const RequestRecord& rec) { return rec.stalled; }, kDeadline)
          .status())
      << a->Logs();
  ASSERT_OK_AND_ASSIGN(QueueView queue, QueueJson(*b));
  ASSERT_EQ(queue.jobs.size(), 1u);
  ASSERT_EQ(queue.jobs[0].node, "node-a");

  // node-a freezes mid-LFS: alive, its lease lapsing, its .part locked.
  ASSERT_EQ(::kill(a->process()->pid(), SIGSTOP), 0);
  upstream_->ClearFaults();

  // node-b takes the job over once the lease has ended and completes the same run.
  ASSERT_EQ(WaitForRunEnd(*b, run_id, kDeadline), "succeeded") << b->Logs();
  ASSERT_OK_AND_ASSIGN(SyncRunView run, GetRun(*b, run_id));
  EXPECT_THAT(b->Logs(), HasSubstr("(run " + std::to_string(run_id) +
                                   ") on node node-a lost its lease; queued again"));
  EXPECT_THAT(b->Logs(), HasSubstr("(a stopped node?)"));
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", b->UrlFor(kRepo)}));
  EXPECT_EQ(served, want);
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));

  // node-a wakes up believing it runs the sync: it finds its lease gone, and its writes
  // (the run's record, the repo's state, refs) are refused by the fence.
  ASSERT_EQ(::kill(a->process()->pid(), SIGCONT), 0);
  ASSERT_OK(WaitUntilDisowned(*a, run_id)) << a->Logs();
  ASSERT_OK_AND_ASSIGN(SyncRunView after, GetRun(*b, run_id));
  EXPECT_EQ(after.state, "succeeded");
  EXPECT_EQ(after.finished_at, run.finished_at);
  EXPECT_FALSE(after.failure.has_value());
  ASSERT_OK_AND_ASSIGN(RepoStatus repo, StatusJson(*b, kRepo));
  EXPECT_EQ(repo.state, "ready");
  ASSERT_OK_AND_ASSIGN(served, Git({"ls-remote", a->UrlFor(kRepo)}));
  EXPECT_EQ(served, want);
  // The object reached clients of either node intact.
  const std::filesystem::path clone = dir_->path() / "clone";
  GitOptions no_smudge;
  no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK(Git({"clone", "--quiet", a->UrlFor(kRepo), clone.string()}, {}, no_smudge).status());
  ASSERT_OK(Git({"lfs", "pull"}, clone).status());
  ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(clone / "weights.bin"));
  ASSERT_OK_AND_ASSIGN(std::string original, ReadFileToString(lfs->ObjectPath(oid)));
  EXPECT_TRUE(got == original);
}

TEST_F(RedisNodes, NodesStartedTogetherOnAnEmptyRootAcceptTheSameToken) {
  std::vector<Result<std::unique_ptr<MirrordProcess>>> nodes;
  for (int i = 0; i < 3; ++i) nodes.emplace_back(Internal("not started"));
  std::vector<std::thread> starters;
  for (int i = 0; i < 3; ++i) {
    starters.emplace_back([this, &nodes, i] {
      nodes[static_cast<size_t>(i)] = StartNode("node-" + std::to_string(i), "", true);
    });
  }
  for (std::thread& t : starters) t.join();
  for (auto& node : nodes) {
    ASSERT_OK(node.status());
    ASSERT_OK_AND_ASSIGN(HttpReply r, AdminCall(**node, "GET", "/api/v1/repos"));
    EXPECT_EQ(r.status, 200) << r.body << "\n" << (*node)->Logs();
  }
}

}  // namespace
}  // namespace mirrord::test
