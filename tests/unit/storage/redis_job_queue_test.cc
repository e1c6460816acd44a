// RedisJobQueue: the conformance suite on a real redis-server, plus what is Redis's own:
// URLs, lost and hung connections, authentication, several nodes racing, key prefixes.
#include "storage/redis_job_queue.h"

#include <gmock/gmock.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "storage/redis_client.h"
#include "tests/fixtures/redis_server.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/storage/job_queue_conformance.h"

namespace mirrord {
namespace {

using test::RedisServer;
using test::StatusIs;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

RedisQueueOptions OptionsFor(const RedisServer& server, std::string prefix = "mirrord:") {
  RedisQueueOptions o;
  o.unix_socket = server.unix_socket();
  o.key_prefix = std::move(prefix);
  o.timeout = std::chrono::seconds(10);
  return o;
}

// A fresh redis-server per store; each Connect() is a new connection, i.e. a new node.
class RedisStore final : public JobQueueTestStore {
 public:
  static Result<std::unique_ptr<JobQueueTestStore>> Make() {
    ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("mirrord-redisq-"));
    ASSIGN_OR_RETURN(RedisServer server, RedisServer::Start(dir.path()));
    return std::unique_ptr<JobQueueTestStore>(new RedisStore(std::move(dir), std::move(server)));
  }
  Result<std::unique_ptr<JobQueue>> Connect() override {
    ASSIGN_OR_RETURN(std::unique_ptr<RedisJobQueue> q, RedisJobQueue::Connect(OptionsFor(server_)));
    return std::unique_ptr<JobQueue>(std::move(q));
  }

 private:
  RedisStore(TempDir dir, RedisServer server) : dir_(std::move(dir)), server_(std::move(server)) {}

  TempDir dir_;  // outlives the server
  RedisServer server_;
};

INSTANTIATE_TEST_SUITE_P(Redis, JobQueueConformanceTest,
                         ::testing::Values(JobQueueBackend{"redis", &RedisStore::Make}),
                         [](const auto& param_info) { return param_info.param.name; });

QueuedJob Job(int64_t run_id, std::string repo, std::string host = "github.com",
              JobPriority priority = JobPriority::kPoll, int64_t queued_at_ms = 1000) {
  QueuedJob j;
  j.run_id = run_id;
  j.repo = std::move(repo);
  j.priority = static_cast<int>(priority);
  j.trigger = priority == JobPriority::kPoll ? "poll" : "webhook";
  j.queued_at_ms = queued_at_ms;
  j.host = std::move(host);
  return j;
}

ClaimRequest ClaimAt(int64_t now_ms, std::string owner = "node-a", int per_host = 0) {
  ClaimRequest r;
  r.owner = std::move(owner);
  r.now_ms = now_ms;
  r.lease_ms = 60000;
  r.max_running_per_host = per_host;
  return r;
}

std::vector<int64_t> RunIds(const std::vector<QueuedJob>& jobs) {
  std::vector<int64_t> out;
  out.reserve(jobs.size());
  for (const QueuedJob& j : jobs) out.push_back(j.run_id);
  return out;
}

// ---------------------------------------------------------------------------------------
// ParseRedisUrl

TEST(ParseRedisUrlTest, TcpUrls) {
  ASSERT_OK_AND_ASSIGN(RedisQueueOptions o, ParseRedisUrl("redis://redis.lab"));
  EXPECT_EQ(o.host, "redis.lab");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  EXPECT_EQ(o.password, "");
  EXPECT_EQ(o.unix_socket, "");
  EXPECT_EQ(o.key_prefix, "mirrord:");

  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("redis://:s3cret@10.0.0.5:6380/2"));
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
  EXPECT_EQ(o.username, "");
  EXPECT_EQ(o.password, "s3cret");

  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("REDIS://mirror:p%40ss%3Aword@host/"));
  EXPECT_EQ(o.host, "host");
  EXPECT_EQ(o.username, "mirror");
  EXPECT_EQ(o.password, "p@ss:word");
  EXPECT_EQ(o.db, 0);

  // Unencoded '/', '?' and '@' in a password: the last '@' ends the credentials.
  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("redis://:pa/s@s?w@host:1/2"));
  EXPECT_EQ(o.password, "pa/s@s?w");
  EXPECT_EQ(o.host, "host");
  EXPECT_EQ(o.port, 1);
  EXPECT_EQ(o.db, 2);

  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("redis://[::1]:7000/15"));
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.db, 15);

  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("redis://host/?db=4"));
  EXPECT_EQ(o.db, 4);
  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("redis://"));
  EXPECT_EQ(o.host, "127.0.0.1");
}

TEST(ParseRedisUrlTest, UnixUrls) {
  ASSERT_OK_AND_ASSIGN(RedisQueueOptions o, ParseRedisUrl("unix:///run/redis/redis.sock"));
  EXPECT_EQ(o.unix_socket, "/run/redis/redis.sock");
  EXPECT_EQ(o.db, 0);
  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("unix:///run/redis/redis.sock?db=3"));
  EXPECT_EQ(o.unix_socket, "/run/redis/redis.sock");
  EXPECT_EQ(o.db, 3);
  ASSERT_OK_AND_ASSIGN(o, ParseRedisUrl("unix://:pw@/tmp/r.sock"));
  EXPECT_EQ(o.unix_socket, "/tmp/r.sock");
  EXPECT_EQ(o.password, "pw");
}

TEST(ParseRedisUrlTest, RefusesWhatItCannotUseWithoutQuotingThePassword) {
  for (const char* url :
       {"", "redis.lab:6379", "http://redis.lab", "rediss://redis.lab", "redis://host:port",
        "redis://host:0", "redis://host:70000", "redis://host:", "redis://host/x",
        "redis://host/-1", "redis://host?db=x", "redis://host?timeout=5", "redis://[::1",
        "redis://[::1]x", "unix://", "unix:///", "unix://relative/path", "unix:///s?db=-2"}) {
    EXPECT_THAT(ParseRedisUrl(url), StatusIs(StatusCode::kInvalidArgument)) << url;
  }
  for (const char* url :
       {"redis://hunter2@host", "redis://:hunter2@host:bad", "redis://:hunter2%zz@host",
        "redis://:hunter2@host/bad", "unix://:hunter2@relative", "unix://:hunter2@/s?db=bad"}) {
    Result<RedisQueueOptions> r = ParseRedisUrl(url);
    ASSERT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << url;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("hunter2"))) << url;
  }
}

// ---------------------------------------------------------------------------------------
// A real server

class RedisJobQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirrord-redisq-"));
    dir_.emplace(std::move(dir));
  }

  void StartServer(test::RedisServerOptions options = {}) {
    ASSERT_OK_AND_ASSIGN(RedisServer s, RedisServer::Start(dir_->path(), std::move(options)));
    server_ = std::make_unique<RedisServer>(std::move(s));
  }

  // Every key in db `db` of the server.
  std::vector<std::string> AllKeys(int db = 0) {
    RedisConnectOptions o;
    o.unix_socket = server_->unix_socket();
    o.db = db;
    RedisClient client(o);
    Result<RedisReplyPtr> reply = client.Command({"KEYS", "*"});
    EXPECT_OK(reply);
    std::vector<std::string> out;
    if (!reply.ok()) return out;
    for (size_t i = 0; i < (*reply)->elements; ++i) {
      out.emplace_back((*reply)->element[i]->str, (*reply)->element[i]->len);
    }
    return out;
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisJobQueueTest, ConnectingWhereNoRedisIsFailsAsUnavailable) {
  RedisQueueOptions o;
  o.unix_socket = (dir_->path() / "nobody.sock").string();
  EXPECT_THAT(RedisJobQueue::Connect(o), StatusIs(StatusCode::kUnavailable));
}

TEST_F(RedisJobQueueTest, WorksOverTcp) {
  test::RedisServerOptions options;
  options.tcp = true;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_OK_AND_ASSIGN(RedisQueueOptions o,
                       ParseRedisUrl("redis://127.0.0.1:" + std::to_string(server_->port())));
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(o));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q->Claim(ClaimAt(2000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 1);
}

TEST_F(RedisJobQueueTest, LostRedisIsUnavailableThenRecoversOnTheNextCall) {
  test::RedisServerOptions options;
  options.password = "hunter2";
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_OK_AND_ASSIGN(RedisQueueOptions o, ParseRedisUrl(server_->url()));
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(o));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());

  ASSERT_OK(server_->Kill());
  Result<std::vector<QueuedJob>> down = q->List();
  ASSERT_THAT(down, StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(down.status().message(), HasSubstr(server_->unix_socket()));
  EXPECT_THAT(down.status().message(), Not(HasSubstr("hunter2")));
  // Still down: every call fails the same way, none hangs.
  EXPECT_THAT(q->Enqueue(Job(2, "org/b")), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(q->Finish(1, "node-a"), StatusIs(StatusCode::kUnavailable));

  // A fresh (empty, not persistent) Redis on the same socket: the next call just works.
  ASSERT_OK(server_->Restart());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q->List());
  EXPECT_THAT(all, IsEmpty());
  ASSERT_OK(q->Enqueue(Job(2, "org/b")).status());
  ASSERT_OK_AND_ASSIGN(all, q->List());
  EXPECT_THAT(RunIds(all), ElementsAre(2));
}

TEST_F(RedisJobQueueTest, RestartBetweenCallsIsInvisibleWithPersistence) {
  test::RedisServerOptions options;
  options.persistent = true;
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q->Claim(ClaimAt(1000)));
  ASSERT_TRUE(c.has_value());
  ASSERT_OK(q->Enqueue(Job(2, "org/a")).status());

  // A crash and a restart while the connection sits idle: the next call reconnects
  // transparently (the server's script cache is empty now: EVALSHA falls back to EVAL).
  ASSERT_OK(server_->Kill());
  ASSERT_OK(server_->Restart());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q->List());
  EXPECT_THAT(RunIds(all), ElementsAre(1, 2));
  EXPECT_TRUE(all[0].running);
  EXPECT_OK(q->Finish(1, "node-a"));
  ASSERT_OK_AND_ASSIGN(c, q->Claim(ClaimAt(2000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 2);
}

TEST_F(RedisJobQueueTest, HungRedisTimesOutThenRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  RedisQueueOptions o = OptionsFor(*server_);
  o.timeout = std::chrono::milliseconds(200);
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(o));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());

  ASSERT_OK(server_->Freeze());
  EXPECT_THAT(q->List(), StatusIs(StatusCode::kDeadlineExceeded));
  // A new connection is accepted by the kernel but gets no answer either.
  EXPECT_THAT(q->List(), StatusIs(StatusCode::kDeadlineExceeded));
  ASSERT_OK(server_->Thaw());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q->List());
  EXPECT_THAT(RunIds(all), ElementsAre(1));
}

TEST_F(RedisJobQueueTest, PasswordIsRequiredAndNeverQuoted) {
  test::RedisServerOptions options;
  options.password = "hunter2";
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  RedisQueueOptions o = OptionsFor(*server_);
  EXPECT_THAT(RedisJobQueue::Connect(o), StatusIs(StatusCode::kPermissionDenied));
  o.password = "wrong-hunter3";
  Result<std::unique_ptr<RedisJobQueue>> wrong = RedisJobQueue::Connect(o);
  ASSERT_THAT(wrong, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_THAT(wrong.status().message(), Not(HasSubstr("hunter3")));
  o.password = "hunter2";
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(o));
  EXPECT_OK(q->Enqueue(Job(1, "org/a")).status());
  EXPECT_THAT(server_->LogTail(), Not(HasSubstr("hunter2")));
}

TEST_F(RedisJobQueueTest, PrefixesAndDatabasesIsolateQueues) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto a, RedisJobQueue::Connect(OptionsFor(*server_, "mirror-a:")));
  ASSERT_OK_AND_ASSIGN(auto b, RedisJobQueue::Connect(OptionsFor(*server_, "mirror-b:")));
  RedisQueueOptions in_db1 = OptionsFor(*server_, "mirror-a:");
  in_db1.db = 1;
  ASSERT_OK_AND_ASSIGN(auto c, RedisJobQueue::Connect(in_db1));

  // The same run id and repo in each: no collision, no coalescing.
  for (JobQueue* q : {static_cast<JobQueue*>(a.get()), static_cast<JobQueue*>(b.get()),
                      static_cast<JobQueue*>(c.get())}) {
    ASSERT_OK_AND_ASSIGN(EnqueueResult e, q->Enqueue(Job(1, "org/a")));
    EXPECT_FALSE(e.coalesced);
  }
  ASSERT_OK(a->PauseHost({"github.com", 9000, "HTTP 429"}));
  ASSERT_OK_AND_ASSIGN(bool fresh, a->RecordDelivery("d-1", 1000, 5000));
  EXPECT_TRUE(fresh);

  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> claimed, a->Claim(ClaimAt(9000)));
  ASSERT_TRUE(claimed.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> jobs, b->List());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_FALSE(jobs[0].running);
  ASSERT_OK_AND_ASSIGN(std::vector<PausedHost> paused, b->PausedHosts(1000));
  EXPECT_THAT(paused, IsEmpty());
  ASSERT_OK_AND_ASSIGN(fresh, b->RecordDelivery("d-1", 1000, 5000));
  EXPECT_TRUE(fresh);
  ASSERT_OK_AND_ASSIGN(claimed, b->Claim(ClaimAt(1000)));
  EXPECT_TRUE(claimed.has_value());
  ASSERT_OK_AND_ASSIGN(jobs, c->List());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_FALSE(jobs[0].running);
  ASSERT_OK_AND_ASSIGN(paused, c->PausedHosts(1000));
  EXPECT_THAT(paused, IsEmpty());

  // Nothing outside the prefixes.
  for (const std::string& key : AllKeys(0)) {
    EXPECT_TRUE(key.rfind("mirror-a:", 0) == 0 || key.rfind("mirror-b:", 0) == 0) << key;
  }
  for (const std::string& key : AllKeys(1)) EXPECT_EQ(key.rfind("mirror-a:", 0), 0u) << key;
  EXPECT_THAT(AllKeys(1), Not(IsEmpty()));
}

TEST_F(RedisJobQueueTest, FinishedWorkLeavesNoKeysBehind) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK(q->Enqueue(Job(2, "org/b", "huggingface.co")).status());
  ASSERT_OK(q->Claim(ClaimAt(1000)).status());
  ASSERT_OK(q->Claim(ClaimAt(1000)).status());
  ASSERT_OK(q->Enqueue(Job(3, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(int64_t removed, q->RemoveQueued("org/a"));
  EXPECT_EQ(removed, 3);
  ASSERT_OK(q->Finish(1, "node-a"));
  ASSERT_OK(q->Finish(2, "node-a"));
  // Only the fencing-token counter stays: it must outlive every job.
  EXPECT_THAT(AllKeys(), ElementsAre("mirrord:fence"));
}

TEST_F(RedisJobQueueTest, ClaimLooksPastManySkippedJobs) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  // 300 better jobs on a paused host, more than one batch of the claim walk.
  for (int i = 1; i <= 300; ++i) {
    ASSERT_OK(q->Enqueue(Job(i, "org/p" + std::to_string(i), "paused.example",
                             JobPriority::kWebhook, 1000 + i))
                  .status());
  }
  ASSERT_OK(q->Enqueue(Job(1000, "org/free", "free.example", JobPriority::kPoll, 1)).status());
  ASSERT_OK(q->PauseHost({"paused.example", 50000, "HTTP 429, Retry-After 60"}));
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q->Claim(ClaimAt(2000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 1000);
  ASSERT_OK_AND_ASSIGN(c, q->Claim(ClaimAt(2000)));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK_AND_ASSIGN(c, q->Claim(ClaimAt(50000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 1);
}

TEST_F(RedisJobQueueTest, ScriptCacheFlushIsHarmless) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  ASSERT_OK(q->Enqueue(Job(1, "org/a")).status());
  RedisConnectOptions o;
  o.unix_socket = server_->unix_socket();
  RedisClient admin(o);
  ASSERT_OK(admin.Command({"SCRIPT", "FLUSH"}));
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q->Claim(ClaimAt(1000)));
  ASSERT_TRUE(c.has_value());
  ASSERT_OK(admin.Command({"SCRIPT", "FLUSH"}));
  EXPECT_OK(q->Finish(1, "node-a"));
}

TEST_F(RedisJobQueueTest, ForeignDataUnderThePrefixIsAnErrorNotACrash) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  RedisConnectOptions o;
  o.unix_socket = server_->unix_socket();
  RedisClient admin(o);
  ASSERT_OK(admin.Command({"SET", "mirrord:queued_by_repo", "not a hash"}));
  EXPECT_THAT(q->Enqueue(Job(1, "org/a")), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(admin.Command({"NO-SUCH-COMMAND"}), StatusIs(StatusCode::kInternal));
}

TEST_F(RedisJobQueueTest, RefusesNumbersLuaCannotHoldExactly) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_OK_AND_ASSIGN(auto q, RedisJobQueue::Connect(OptionsFor(*server_)));
  EXPECT_THAT(q->Enqueue(Job(0, "org/a")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(q->Enqueue(Job((int64_t{1} << 53) + 1, "org/a")),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(q->Enqueue(Job(1, "")), StatusIs(StatusCode::kInvalidArgument));
  // The largest exact values round-trip.
  QueuedJob big = Job(int64_t{1} << 53, "org/a");
  big.queued_at_ms = (int64_t{1} << 53) - 1;
  big.pushed_at_ms = 1'700'000'000'123;
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q->Enqueue(big));
  EXPECT_EQ(e.job.run_id, int64_t{1} << 53);
  EXPECT_EQ(e.job.queued_at_ms, (int64_t{1} << 53) - 1);
  EXPECT_EQ(e.job.pushed_at_ms, 1'700'000'000'123);
}

// Nodes (one connection and one thread each) claim, re-trigger and finish jobs at random
// over a few shared repos, so that most claims race a follow-up of a repo another node is
// running. Whatever the interleaving: a run is claimed at most once, a repo never has two
// claimed jobs at once, a host never more than the limit, and every job is claimed.
TEST_F(RedisJobQueueTest, NodesRacingNeverShareAJobARepoOrExceedAHostLimit) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kRepos = 6;
  constexpr int kHostLimit = 2;    // less than the nodes, more than one job
  constexpr int kFollowUps = 600;  // triggers, across all nodes
  const std::vector<std::string> hosts = {"github.com", "huggingface.co"};
  auto repo_name = [](int i) { return "org/r" + std::to_string(i); };
  auto host_of = [&](int i) { return hosts[static_cast<size_t>(i) % hosts.size()]; };
  {
    ASSERT_OK_AND_ASSIGN(auto setup, RedisJobQueue::Connect(OptionsFor(*server_)));
    for (int i = 0; i < kRepos; ++i) {
      ASSERT_OK(
          setup->Enqueue(Job(i + 1, repo_name(i), host_of(i), JobPriority::kPoll, i + 1)).status());
    }
  }

  std::mutex mu;
  std::set<int64_t> claimed_runs;        // guarded by mu
  std::set<std::string> held_repos;      // guarded by mu
  std::map<std::string, int> held_host;  // guarded by mu
  std::vector<std::string> violations;   // guarded by mu
  std::atomic<int64_t> next_run{1000};   // also the trigger time: claim order is FIFO
  std::atomic<int> follow_ups_left{kFollowUps};
  std::atomic<int> enqueued{kRepos};  // new (not coalesced) jobs

  auto node = [&](std::string owner, unsigned seed) {
    auto q = RedisJobQueue::Connect(OptionsFor(*server_));
    if (!q.ok()) {
      std::lock_guard lock(mu);
      violations.push_back(owner + ": " + q.status().ToString());
      return;
    }
    std::mt19937 rng(seed);
    // A trigger for `repo`, or for a random one when it is negative.
    auto trigger = [&](JobQueue& queue, int repo) {
      const int r = repo >= 0 ? repo : static_cast<int>(rng() % kRepos);
      const int64_t id = next_run.fetch_add(1);
      auto e = queue.Enqueue(Job(id, repo_name(r), host_of(r), JobPriority::kPoll, id));
      std::lock_guard lock(mu);
      if (!e.ok()) {
        violations.push_back(owner + " Enqueue: " + e.status().ToString());
      } else if (!e->coalesced) {
        ++enqueued;
      }
    };
    int idle_rounds = 0;
    while (idle_rounds < 3) {
      auto c = (*q)->Claim(ClaimAt(1000, owner, kHostLimit));
      if (!c.ok()) {
        std::lock_guard lock(mu);
        violations.push_back(owner + " Claim: " + c.status().ToString());
        return;
      }
      if (!c->has_value()) {
        // Nothing claimable (the other node holds what is left, or the queue ran dry):
        // a poll trigger arrives while any are left; then stop once it stays empty.
        if (follow_ups_left.fetch_sub(1) > 0) {
          trigger(**q, -1);
        } else {
          ++idle_rounds;
          std::this_thread::yield();
        }
        continue;
      }
      idle_rounds = 0;
      const QueuedJob job = **c;
      {
        std::lock_guard lock(mu);
        if (!claimed_runs.insert(job.run_id).second) {
          violations.push_back("run " + std::to_string(job.run_id) + " claimed twice");
        }
        if (!held_repos.insert(job.repo).second) {
          violations.push_back(job.repo + " claimed while running");
        }
        if (++held_host[job.host] > kHostLimit) violations.push_back(job.host + " over limit");
      }
      // While it "runs", triggers arrive for it (a follow-up) and for random repos.
      const int repo_index = std::stoi(job.repo.substr(5));
      const int triggers = static_cast<int>(rng() % 3);
      for (int t = 0; t < triggers && follow_ups_left.fetch_sub(1) > 0; ++t) {
        trigger(**q, rng() % 2 == 0 ? repo_index : -1);
      }
      {
        std::lock_guard lock(mu);
        held_repos.erase(job.repo);
        --held_host[job.host];
      }
      Status finished = (*q)->Finish(job.run_id, owner);
      if (!finished.ok()) {
        std::lock_guard lock(mu);
        violations.push_back(owner + " Finish: " + finished.ToString());
      }
    }
  };
  std::vector<std::thread> nodes;
  for (unsigned i = 0; i < 4; ++i) nodes.emplace_back(node, "node-" + std::to_string(i), i + 1);
  for (std::thread& t : nodes) t.join();

  EXPECT_THAT(violations, IsEmpty());
  EXPECT_EQ(static_cast<int>(claimed_runs.size()), enqueued.load());
  EXPECT_GT(claimed_runs.size(), 100u);  // enough claims to have raced
  ASSERT_OK_AND_ASSIGN(auto check, RedisJobQueue::Connect(OptionsFor(*server_)));
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> left, check->List());
  EXPECT_THAT(left, IsEmpty());
  EXPECT_THAT(AllKeys(), ElementsAre("mirrord:fence"));  // the token counter alone
}

}  // namespace
}  // namespace mirrord
