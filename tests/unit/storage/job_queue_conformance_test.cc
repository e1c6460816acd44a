// The JobQueue contract (storage/job_queue.h), for every backend that instantiates
// JobQueueConformanceTest (see job_queue_conformance.h).
#include "tests/unit/storage/job_queue_conformance.h"

#include <gmock/gmock.h>

#include <random>

#include "storage/queue_depth.h"
#include "storage/queue_rules.h"
#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using test::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

QueuedJob Job(int64_t run_id, std::string repo, JobPriority priority = JobPriority::kPoll,
              int64_t queued_at_ms = 1000, std::string host = "github.com") {
  QueuedJob j;
  j.run_id = run_id;
  j.repo = std::move(repo);
  j.priority = static_cast<int>(priority);
  j.trigger = priority == JobPriority::kManual    ? "manual"
              : priority == JobPriority::kWebhook ? "webhook"
              : priority == JobPriority::kRetry   ? "retry"
                                                  : "poll";
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

QueuedJob BuildJob(int64_t run_id, std::string build, std::string ref, std::string commit,
                   JobPriority priority = JobPriority::kWebhook, int64_t queued_at_ms = 1000) {
  QueuedJob j = Job(run_id, "org/model", priority, queued_at_ms, "");
  j.kind = JobKind::kBuild;
  j.build = std::move(build);
  j.ref = std::move(ref);
  j.commit = std::move(commit);
  return j;
}

std::vector<int64_t> RunIds(const std::vector<QueuedJob>& jobs) {
  std::vector<int64_t> out;
  for (const QueuedJob& j : jobs) out.push_back(j.run_id);
  return out;
}

TEST_P(JobQueueConformanceTest, EnqueuedJobIsClaimedOnceAndFinished) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(Job(1, "org/a")));
  EXPECT_FALSE(e.coalesced);
  EXPECT_EQ(e.job.run_id, 1);
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(2000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 1);
  EXPECT_EQ(c->repo, "org/a");
  EXPECT_EQ(c->trigger, "poll");
  EXPECT_EQ(c->host, "github.com");
  EXPECT_TRUE(c->running);
  EXPECT_EQ(c->owner, "node-a");
  EXPECT_EQ(c->lease_until_ms, 62000);
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> none, q_->Claim(ClaimAt(2000)));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_TRUE(all[0].running);
  EXPECT_OK(q_->Finish(1, "node-a"));
  ASSERT_OK_AND_ASSIGN(all, q_->List());
  EXPECT_THAT(all, IsEmpty());
  EXPECT_THAT(q_->Finish(1, "node-a"), StatusIs(StatusCode::kNotFound));
}

TEST_P(JobQueueConformanceTest, SameRunIdTwiceIsRefused) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a")).status());
  EXPECT_THAT(q_->Enqueue(Job(1, "org/b")).status(), StatusIs(StatusCode::kAlreadyExists));
}

TEST_P(JobQueueConformanceTest, TriggersCoalesceIntoTheQueuedJob) {
  QueuedJob poll = Job(1, "org/a", JobPriority::kPoll, 1000);
  poll.not_before_ms = 5000;
  ASSERT_OK(q_->Enqueue(poll).status());
  QueuedJob hook = Job(2, "org/a", JobPriority::kWebhook, 3000);
  hook.pushed_at_ms = 2500;
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(hook));
  EXPECT_TRUE(e.coalesced);
  EXPECT_EQ(e.job.run_id, 1);           // the queued run stands for both
  EXPECT_EQ(e.job.queued_at_ms, 1000);  // latency counts from the first trigger
  EXPECT_EQ(e.job.priority, static_cast<int>(JobPriority::kWebhook));
  EXPECT_EQ(e.job.trigger, "webhook");
  EXPECT_EQ(e.job.not_before_ms, 0);
  EXPECT_EQ(e.job.pushed_at_ms, 2500);
  // A worse trigger changes nothing but still coalesces.
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(Job(3, "org/a", JobPriority::kPoll, 4000)));
  EXPECT_TRUE(e.coalesced);
  EXPECT_EQ(e.job.trigger, "webhook");
  EXPECT_EQ(e.job.pushed_at_ms, 2500);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].trigger, "webhook");
  EXPECT_EQ(all[0].pushed_at_ms, 2500);
}

TEST_P(JobQueueConformanceTest, CoalesceIntoQueuedOnlyFoldsIntoAQueuedJob) {
  // Nothing queued: nothing happens.
  QueuedJob hook = Job(0, "org/a", JobPriority::kWebhook, 3000);
  hook.pushed_at_ms = 2500;
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->CoalesceIntoQueued(hook));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  EXPECT_TRUE(all.empty());
  // A running job is not a queued one.
  ASSERT_OK(q_->Enqueue(Job(1, "org/a", JobPriority::kPoll, 1000)).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> claimed, q_->Claim(ClaimAt(1500)));
  ASSERT_TRUE(claimed.has_value());
  ASSERT_OK_AND_ASSIGN(c, q_->CoalesceIntoQueued(hook));
  EXPECT_FALSE(c.has_value());
  // A queued follow-up absorbs it as Enqueue would.
  QueuedJob poll = Job(2, "org/a", JobPriority::kPoll, 2000);
  poll.not_before_ms = 9000;
  ASSERT_OK(q_->Enqueue(poll).status());
  ASSERT_OK_AND_ASSIGN(c, q_->CoalesceIntoQueued(hook));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 2);
  EXPECT_EQ(c->queued_at_ms, 2000);
  EXPECT_EQ(c->trigger, "webhook");
  EXPECT_EQ(c->priority, static_cast<int>(JobPriority::kWebhook));
  EXPECT_EQ(c->not_before_ms, 0);
  EXPECT_EQ(c->pushed_at_ms, 2500);
  ASSERT_OK_AND_ASSIGN(all, q_->List());
  EXPECT_THAT(RunIds(all), UnorderedElementsAre(1, 2));
  // Other repos are untouched.
  ASSERT_OK_AND_ASSIGN(c, q_->CoalesceIntoQueued(Job(0, "org/b")));
  EXPECT_FALSE(c.has_value());
}

TEST_P(JobQueueConformanceTest, TriggersDuringARunMakeExactlyOneFollowUp) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(2000)));
  ASSERT_TRUE(c.has_value());
  for (int i = 0; i < 50; ++i) {
    ASSERT_OK_AND_ASSIGN(EnqueueResult e,
                         q_->Enqueue(Job(10 + i, "org/a", JobPriority::kWebhook, 3000 + i)));
    EXPECT_EQ(e.coalesced, i > 0) << i;
    EXPECT_EQ(e.job.run_id, 10);
  }
  // The follow-up waits while the repo's sync runs, on this node and any other.
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(4000)));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK_AND_ASSIGN(auto b, store_->Connect());
  ASSERT_OK_AND_ASSIGN(c, b->Claim(ClaimAt(4000, "node-b")));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK(q_->Finish(1, "node-a"));
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(5000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 10);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  EXPECT_THAT(RunIds(all), ElementsAre(10));
}

TEST_P(JobQueueConformanceTest, ClaimOrderIsPriorityThenNotBeforeThenAge) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/poll-old", JobPriority::kPoll, 100)).status());
  ASSERT_OK(q_->Enqueue(Job(2, "org/poll-new", JobPriority::kPoll, 200)).status());
  ASSERT_OK(q_->Enqueue(Job(3, "org/retry", JobPriority::kRetry, 300)).status());
  ASSERT_OK(q_->Enqueue(Job(4, "org/hook", JobPriority::kWebhook, 400)).status());
  ASSERT_OK(q_->Enqueue(Job(5, "org/manual", JobPriority::kManual, 500)).status());
  QueuedJob later = Job(6, "org/manual-later", JobPriority::kManual, 50);
  later.not_before_ms = 700;
  ASSERT_OK(q_->Enqueue(later).status());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> listed, q_->List());
  EXPECT_THAT(RunIds(listed), ElementsAre(5, 6, 4, 3, 1, 2));
  std::vector<int64_t> claimed;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000)));
    if (!c) break;
    claimed.push_back(c->run_id);
  }
  EXPECT_THAT(claimed, ElementsAre(5, 6, 4, 3, 1, 2));
}

TEST_P(JobQueueConformanceTest, NotBeforeDelaysTheClaim) {
  QueuedJob retry = Job(1, "org/a", JobPriority::kRetry);
  retry.not_before_ms = 10000;
  retry.attempt = 3;
  ASSERT_OK(q_->Enqueue(retry).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(9999)));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(10000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->attempt, 3);
  EXPECT_EQ(c->not_before_ms, 10000);
}

TEST_P(JobQueueConformanceTest, PerHostLimitAndPausedHosts) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a", JobPriority::kPoll, 100, "github.com")).status());
  ASSERT_OK(q_->Enqueue(Job(2, "org/b", JobPriority::kPoll, 200, "github.com")).status());
  ASSERT_OK(q_->Enqueue(Job(3, "org/c", JobPriority::kPoll, 300, "huggingface.co")).status());
  // One running job per host at most: the second github.com job is skipped.
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000, "node-a", 1)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 1);
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(1000, "node-a", 1)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 3);
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(1000, "node-a", 1)));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK(q_->Finish(1, "node-a"));

  // github.com is rate limited until 5000: its job waits, and pauses only ever extend.
  ASSERT_OK(q_->PauseHost({"github.com", 5000, "HTTP 429"}));
  ASSERT_OK(q_->PauseHost({"github.com", 3000, "shorter"}));
  ASSERT_OK_AND_ASSIGN(std::vector<PausedHost> paused, q_->PausedHosts(1000));
  ASSERT_EQ(paused.size(), 1u);
  EXPECT_EQ(paused[0].host, "github.com");
  EXPECT_EQ(paused[0].until_ms, 5000);
  EXPECT_EQ(paused[0].reason, "HTTP 429");
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(4999, "node-a", 1)));
  EXPECT_FALSE(c.has_value());
  // An operator's manual sync overrides the pause (but not the running limit).
  ASSERT_OK(q_->Enqueue(Job(4, "org/d", JobPriority::kManual, 400, "github.com")).status());
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(4999, "node-a", 1)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 4);
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(4999, "node-a", 1)));
  EXPECT_FALSE(c.has_value());
  ASSERT_OK(q_->Finish(4, "node-a"));
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(5000, "node-a", 1)));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->run_id, 2);
  ASSERT_OK_AND_ASSIGN(paused, q_->PausedHosts(5000));
  EXPECT_THAT(paused, IsEmpty());
}

TEST_P(JobQueueConformanceTest, LeasesBelongToTheirOwner) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000)));
  ASSERT_TRUE(c.has_value());
  EXPECT_THAT(q_->Renew(1, "node-b", 90000), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(q_->Finish(1, "node-b"), StatusIs(StatusCode::kNotFound));
  EXPECT_OK(q_->Renew(1, "node-a", 90000));
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].lease_until_ms, 90000);
  // Not expired at 89999: nothing to requeue.
  ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, q_->RequeueAbandoned("node-b", 89999));
  EXPECT_THAT(r.jobs, IsEmpty());
}

TEST_P(JobQueueConformanceTest, ANodeDeadMidJobHasItTakenOverAfterTheLease) {
  ASSERT_OK_AND_ASSIGN(auto b, store_->Connect());
  ASSERT_OK(q_->Enqueue(Job(1, "org/a", JobPriority::kWebhook)).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000)));  // lease 61000
  ASSERT_TRUE(c.has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> cb, b->Claim(ClaimAt(30000, "node-b")));
  EXPECT_FALSE(cb.has_value());
  ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, b->RequeueAbandoned("node-b", 61000));
  EXPECT_THAT(r.jobs, IsEmpty());
  // node-a stopped renewing; after its lease node-b takes the same run over.
  ASSERT_OK_AND_ASSIGN(r, b->RequeueAbandoned("node-b", 61001));
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].run_id, 1);
  EXPECT_FALSE(r.jobs[0].running);
  ASSERT_OK_AND_ASSIGN(cb, b->Claim(ClaimAt(61001, "node-b")));
  ASSERT_TRUE(cb.has_value());
  EXPECT_EQ(cb->run_id, 1);
  EXPECT_EQ(cb->trigger, "webhook");
  // The old owner learns it lost the job.
  EXPECT_THAT(q_->Renew(1, "node-a", 99999), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(q_->Finish(1, "node-a"), StatusIs(StatusCode::kNotFound));
  EXPECT_OK(b->Finish(1, "node-b"));
}

TEST_P(JobQueueConformanceTest, EveryClaimGetsAFencingTokenAboveAllEarlierOnes) {
  ASSERT_OK_AND_ASSIGN(auto b, store_->Connect());
  ASSERT_OK(q_->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK(q_->Enqueue(Job(2, "org/b")).status());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> queued, q_->List());
  for (const QueuedJob& j : queued) EXPECT_EQ(j.fence, 0) << j.run_id;
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> first, q_->Claim(ClaimAt(1000)));
  ASSERT_TRUE(first.has_value());
  // At least the claim's time, so a queue that lost its counter still issues larger tokens.
  EXPECT_GE(first->fence, 1000);
  // Several claims in the same millisecond still get increasing tokens.
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> second, b->Claim(ClaimAt(1000, "node-b")));
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(second->fence, first->fence);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  for (const QueuedJob& j : all) {
    EXPECT_EQ(j.fence, j.run_id == first->run_id ? first->fence : second->fence) << j.run_id;
  }
  // node-a's lease lapses: the requeued job still names the token of the lease it lost, and
  // the next claim of the same run gets a larger one, even with a clock that went back.
  ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, b->RequeueAbandoned("node-b", 61001));
  ASSERT_EQ(r.jobs.size(), 2u);
  for (const QueuedJob& j : r.jobs) {
    EXPECT_EQ(j.fence, j.run_id == first->run_id ? first->fence : second->fence) << j.run_id;
  }
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> again, b->Claim(ClaimAt(500, "node-b")));
  ASSERT_TRUE(again.has_value());
  EXPECT_GT(again->fence, second->fence);
  // A re-enqueued copy of a claimed job (a retry) starts unclaimed.
  QueuedJob retry = *again;
  retry.run_id = 9;
  retry.repo = "org/c";
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(retry));
  EXPECT_EQ(e.job.fence, 0);
}

TEST_P(JobQueueConformanceTest, RestartRequeuesOwnJobsAndMergesWithAQueuedFollowUp) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a", JobPriority::kPoll, 100)).status());
  ASSERT_OK(q_->Enqueue(Job(2, "org/b", JobPriority::kPoll, 200)).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000)));
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(1000)));
  QueuedJob follow_up = Job(3, "org/a", JobPriority::kManual, 1500);
  follow_up.pushed_at_ms = 1400;
  ASSERT_OK(q_->Enqueue(follow_up).status());
  // node-a restarts (same node id), long before the leases end.
  ASSERT_OK_AND_ASSIGN(auto restarted, store_->Connect());
  ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, restarted->RequeueAbandoned("node-a", 2000));
  EXPECT_THAT(RunIds(r.jobs), ElementsAre(1, 2));
  EXPECT_THAT(r.dropped, ElementsAre(3));
  // Run 1 survives with the follow-up's better priority.
  EXPECT_EQ(r.jobs[0].priority, static_cast<int>(JobPriority::kManual));
  EXPECT_EQ(r.jobs[0].pushed_at_ms, 1400);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, restarted->List());
  EXPECT_THAT(RunIds(all), UnorderedElementsAre(1, 2));
  for (const QueuedJob& j : all) EXPECT_FALSE(j.running);
}

TEST_P(JobQueueConformanceTest, RemoveQueuedLeavesTheRunningJob) {
  ASSERT_OK(q_->Enqueue(Job(1, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(1000)));
  ASSERT_OK(q_->Enqueue(Job(2, "org/a")).status());
  ASSERT_OK_AND_ASSIGN(int64_t removed, q_->RemoveQueued("org/a"));
  EXPECT_EQ(removed, 2);
  ASSERT_OK_AND_ASSIGN(removed, q_->RemoveQueued("org/a"));
  EXPECT_EQ(removed, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  EXPECT_THAT(RunIds(all), ElementsAre(1));
}

TEST_P(JobQueueConformanceTest, PushJobsAreTheirOwnKindKeyedByImageDigestAndRegistry) {
  auto push = [](int64_t run_id, std::string image_at_digest, std::string registry) {
    QueuedJob j = BuildJob(run_id, std::move(image_at_digest), std::move(registry), "");
    j.kind = JobKind::kPush;
    j.host = "registry.lab:5000";
    return j;
  };
  // A build and a push that happen to share (build, ref) strings are different keys.
  ASSERT_OK(q_->Enqueue(BuildJob(1, "llm@sha256:aa", "lab", "")).status());
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(push(2, "llm@sha256:aa", "lab")));
  EXPECT_FALSE(e.coalesced);
  EXPECT_EQ(e.job.kind, JobKind::kPush);
  EXPECT_EQ(QueueKey(e.job), "push:llm@sha256:aa:lab");
  // Another registry, another digest: their own jobs; the same pair folds in.
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(push(3, "llm@sha256:aa", "mirror")));
  EXPECT_FALSE(e.coalesced);
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(push(4, "llm@sha256:bb", "lab")));
  EXPECT_FALSE(e.coalesced);
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(push(5, "llm@sha256:aa", "lab")));
  EXPECT_TRUE(e.coalesced);
  EXPECT_EQ(e.job.run_id, 2);
  // A push names what it pushes and where.
  QueuedJob incomplete = push(6, "", "lab");
  EXPECT_THAT(q_->Enqueue(incomplete).status(), StatusIs(StatusCode::kInvalidArgument));
  std::vector<int64_t> claimed;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c, q_->Claim(ClaimAt(3000)));
    if (!c) break;
    claimed.push_back(c->run_id);
    if (c->run_id != 1) {
      EXPECT_EQ(c->kind, JobKind::kPush);
      EXPECT_EQ(c->host, "registry.lab:5000");
    }
    if (c->run_id == 3) {
      EXPECT_EQ(c->ref, "mirror");
    }
  }
  EXPECT_THAT(claimed, UnorderedElementsAre(1, 2, 3, 4));
}

TEST_P(JobQueueConformanceTest, BuildJobsCoalescePerBuildAndRefBesideTheRepoSync) {
  // A sync of the recipe's repo and builds of two refs and two recipes: four queue keys.
  ASSERT_OK(q_->Enqueue(Job(1, "org/model")).status());
  ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(BuildJob(2, "llm", "refs/heads/main", "aaa")));
  EXPECT_FALSE(e.coalesced);
  EXPECT_EQ(e.job.kind, JobKind::kBuild);
  EXPECT_EQ(e.job.build, "llm");
  EXPECT_EQ(e.job.ref, "refs/heads/main");
  EXPECT_EQ(e.job.commit, "aaa");
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(BuildJob(3, "llm", "refs/tags/v1", "ccc")));
  EXPECT_FALSE(e.coalesced);
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(BuildJob(4, "llm-small", "refs/heads/main", "aaa")));
  EXPECT_FALSE(e.coalesced);
  // A second trigger of (llm, main) folds in and brings its newer commit; pushed_at grows.
  QueuedJob again = BuildJob(5, "llm", "refs/heads/main", "bbb", JobPriority::kManual, 2000);
  again.pushed_at_ms = 1500;
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(again));
  EXPECT_TRUE(e.coalesced);
  EXPECT_EQ(e.job.run_id, 2);
  EXPECT_EQ(e.job.commit, "bbb");
  EXPECT_EQ(e.job.trigger, "manual");
  EXPECT_EQ(e.job.pushed_at_ms, 1500);
  // A trigger that names no commit keeps the one queued.
  ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> c,
                       q_->CoalesceIntoQueued(BuildJob(0, "llm", "refs/heads/main", "")));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->commit, "bbb");
  // A sync trigger of the repo coalesces with the sync only.
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(Job(6, "org/model")));
  EXPECT_TRUE(e.coalesced);
  EXPECT_EQ(e.job.run_id, 1);
  EXPECT_EQ(e.job.kind, JobKind::kSync);
  // The sync and every build run at once (their keys differ); each key runs once.
  std::vector<int64_t> claimed;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(3000)));
    if (!c) break;
    claimed.push_back(c->run_id);
    if (c->run_id == 2) {
      EXPECT_EQ(c->kind, JobKind::kBuild);
      EXPECT_EQ(c->commit, "bbb");
    }
  }
  EXPECT_THAT(claimed, UnorderedElementsAre(1, 2, 3, 4));
  // While (llm, main) runs, its next trigger waits; it coalesces only into a queued job.
  ASSERT_OK_AND_ASSIGN(e, q_->Enqueue(BuildJob(7, "llm", "refs/heads/main", "ddd")));
  EXPECT_FALSE(e.coalesced);
  ASSERT_OK_AND_ASSIGN(c, q_->Claim(ClaimAt(3000)));
  EXPECT_FALSE(c.has_value());
  // RemoveQueued names a repo's sync: queued builds of that repo stay.
  ASSERT_OK(q_->Enqueue(Job(8, "org/model")).status());
  ASSERT_OK_AND_ASSIGN(int64_t removed, q_->RemoveQueued("org/model"));
  EXPECT_EQ(removed, 8);
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q_->List());
  EXPECT_THAT(RunIds(all), UnorderedElementsAre(1, 2, 3, 4, 7));
  // The lease of the running build ends: the queued follow-up folds into it, commit and all.
  ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, q_->RequeueAbandoned("node-a", 3000));
  EXPECT_THAT(r.dropped, ElementsAre(7));
  for (const QueuedJob& j : r.jobs) {
    if (j.run_id == 2) {
      EXPECT_EQ(j.commit, "ddd");
    }
  }
  ASSERT_OK_AND_ASSIGN(all, q_->List());
  EXPECT_THAT(RunIds(all), UnorderedElementsAre(1, 2, 3, 4));
  // A build job without its build or ref is refused.
  EXPECT_THAT(q_->Enqueue(BuildJob(9, "", "refs/heads/main", "")).status(),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(q_->Enqueue(BuildJob(9, "llm", "", "")).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(JobQueueConformanceTest, DeliveriesAreRememberedForTheirKeepTime) {
  ASSERT_OK_AND_ASSIGN(bool fresh,
                       q_->RecordDelivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", 1000, 5000));
  EXPECT_TRUE(fresh);
  ASSERT_OK_AND_ASSIGN(fresh,
                       q_->RecordDelivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", 2000, 5000));
  EXPECT_FALSE(fresh);
  ASSERT_OK_AND_ASSIGN(auto b, store_->Connect());
  ASSERT_OK_AND_ASSIGN(fresh,
                       b->RecordDelivery("72d3162e-cc78-11e3-81ab-4c9367dc0958", 5999, 5000));
  EXPECT_FALSE(fresh);
  ASSERT_OK_AND_ASSIGN(fresh, q_->RecordDelivery("another", 2000, 5000));
  EXPECT_TRUE(fresh);
}

// The backend's rules are storage/queue_rules.h's: a seeded random walk of enqueues, pauses,
// claims, finishes and lease expiries, checking at every step that
//  - a claim returns a job exactly when the depth gauge counts one ready, and it is the job
//    PickClaimable picks from the same List() and pauses;
//  - a coalesced enqueue yields CoalesceJobs(previously queued, incoming).
TEST_P(JobQueueConformanceTest, ClaimAndCoalesceFollowTheOneCppStatementOfTheRules) {
  std::mt19937_64 rng(20261206);
  auto pick = [&rng](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> repos = {"o/a", "o/b", "o/c", "o/d", "o/e", "o/f"};
  const std::vector<std::string> hosts = {"github.com", "huggingface.co", "example.com"};
  const std::vector<std::string> nodes = {"node-a", "node-b"};
  // Build jobs of two recipes over two refs, with commits, beside the syncs.
  const std::vector<std::string> builds = {"b1", "b2"};
  const std::vector<std::string> refs = {"refs/heads/main", "refs/tags/v1"};
  const std::vector<std::string> commits = {"", "c1", "c2", "c3"};
  int64_t now = 100000;
  int64_t next_run = 1;
  std::map<std::string, std::string> host_of;  // a repo's host never changes
  for (const std::string& r : repos) host_of[r] = hosts[pick(3)];
  int claims = 0, coalesced = 0, empty_claims = 0, coalesced_builds = 0, build_claims = 0;
  for (int step = 0; step < 400; ++step) {
    now += pick(3) * 500;
    const int op = pick(10);
    if (op < 4) {
      // A trigger for a random repo, with a random priority, delay and push time.
      const std::string& repo = repos[pick(6)];
      QueuedJob j = Job(next_run++, repo, static_cast<JobPriority>(pick(4)), now, host_of[repo]);
      if (pick(3) == 0) {
        j.kind = JobKind::kBuild;
        j.build = builds[pick(2)];
        j.repo = j.build == "b1" ? "o/a" : "o/b";  // a recipe's repo never changes
        j.host = host_of[j.repo];
        j.ref = refs[pick(2)];
        j.commit = commits[pick(4)];
      }
      j.not_before_ms = pick(3) == 0 ? now + pick(4) * 1000 : 0;
      j.pushed_at_ms = pick(2) == 0 ? now - pick(1000) : 0;
      ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> before, q_->List());
      std::optional<QueuedJob> queued;
      for (const QueuedJob& b : before) {
        if (QueueKey(b) == QueueKey(j) && !b.running) queued = b;
      }
      ASSERT_OK_AND_ASSIGN(EnqueueResult e, q_->Enqueue(j));
      EXPECT_EQ(e.coalesced, queued.has_value()) << "step " << step;
      if (queued) {
        QueuedJob want = CoalesceJobs(*queued, j);
        EXPECT_EQ(e.job.run_id, want.run_id) << "step " << step;
        EXPECT_EQ(e.job.priority, want.priority) << "step " << step;
        EXPECT_EQ(e.job.trigger, want.trigger) << "step " << step;
        EXPECT_EQ(e.job.not_before_ms, want.not_before_ms) << "step " << step;
        EXPECT_EQ(e.job.pushed_at_ms, want.pushed_at_ms) << "step " << step;
        EXPECT_EQ(e.job.queued_at_ms, want.queued_at_ms) << "step " << step;
        EXPECT_EQ(e.job.commit, want.commit) << "step " << step;
        EXPECT_EQ(e.job.kind, want.kind) << "step " << step;
        ++(want.kind == JobKind::kBuild ? coalesced_builds : coalesced);
      } else {
        EXPECT_EQ(e.job.kind, j.kind) << "step " << step;
        EXPECT_EQ(e.job.build, j.build) << "step " << step;
        EXPECT_EQ(e.job.ref, j.ref) << "step " << step;
        EXPECT_EQ(e.job.commit, j.commit) << "step " << step;
      }
    } else if (op == 4) {
      ASSERT_OK(q_->PauseHost({hosts[pick(3)], now + pick(5) * 1000, "rate limited"}));
    } else if (op < 8) {
      const int per_host = pick(3);  // 0: no limit
      ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> jobs, q_->List());
      ASSERT_OK_AND_ASSIGN(std::vector<PausedHost> paused, q_->PausedHosts(now));
      const QueueDepth depth = CountQueueDepth(jobs, paused, now, per_host);
      std::optional<size_t> want = PickClaimable(jobs, ClaimStateOf(jobs, paused, now, per_host));
      ASSERT_OK_AND_ASSIGN(std::optional<QueuedJob> got,
                           q_->Claim(ClaimAt(now, nodes[pick(2)], per_host)));
      ASSERT_EQ(got.has_value(), depth.ready > 0) << "step " << step;
      ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step;
      if (got) {
        ++claims;
        if (got->kind == JobKind::kBuild) ++build_claims;
        EXPECT_EQ(got->run_id, jobs[*want].run_id) << "step " << step;
        EXPECT_EQ(got->kind, jobs[*want].kind) << "step " << step;
        EXPECT_EQ(got->commit, jobs[*want].commit) << "step " << step;
      } else {
        ++empty_claims;
      }
    } else if (op == 8) {
      // A running job ends.
      ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> jobs, q_->List());
      for (const QueuedJob& j : jobs) {
        if (j.running) {
          ASSERT_OK(q_->Finish(j.run_id, j.owner));
          break;
        }
      }
    } else {
      // Leases end: every running job goes back, merging with a queued follow-up.
      ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> before, q_->List());
      now += 61000;
      ASSERT_OK_AND_ASSIGN(JobQueue::Requeued r, q_->RequeueAbandoned("", now));
      ASSERT_EQ(r.lost_by.size(), r.jobs.size());
      for (size_t i = 0; i < r.jobs.size(); ++i) {
        const QueuedJob& requeued = r.jobs[i];
        std::optional<QueuedJob> was_running, follow_up;
        for (const QueuedJob& b : before) {
          if (QueueKey(b) != QueueKey(requeued)) continue;
          (b.running ? was_running : follow_up) = b;
        }
        ASSERT_TRUE(was_running.has_value()) << "step " << step;
        EXPECT_EQ(r.lost_by[i], was_running->owner) << "step " << step;
        QueuedJob want = *was_running;
        want.running = false;
        if (follow_up) want = CoalesceJobs(want, *follow_up);
        EXPECT_EQ(requeued.run_id, want.run_id) << "step " << step;
        EXPECT_EQ(requeued.priority, want.priority) << "step " << step;
        EXPECT_EQ(requeued.trigger, want.trigger) << "step " << step;
        EXPECT_EQ(requeued.not_before_ms, want.not_before_ms) << "step " << step;
        EXPECT_EQ(requeued.pushed_at_ms, want.pushed_at_ms) << "step " << step;
        EXPECT_EQ(requeued.commit, want.commit) << "step " << step;
        EXPECT_EQ(requeued.kind, want.kind) << "step " << step;
      }
    }
  }
  // The walk exercised every branch it checks.
  EXPECT_GT(claims, 20);
  EXPECT_GT(empty_claims, 5);
  EXPECT_GT(coalesced, 10);
  EXPECT_GT(coalesced_builds, 5);
  EXPECT_GT(build_claims, 5);
}

}  // namespace
}  // namespace mirrord
