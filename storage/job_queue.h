// JobQueue: the durable queue of jobs, shared by every mirrord node that uses it.
//
// A job is one queued or running sync of one repository, one build of one recipe for
// one ref, or one push of one image to one registry (JobKind), identified by the id of its
// run in the catalog (sync_runs). Its queue key (QueueKey) is the repository for a sync,
// (build, ref) for a build and (image, registry) for a push. The queue
// enforces, across all nodes:
//  - at most one RUNNING job per queue key;
//  - at most one QUEUED job per queue key: a trigger that arrives while one is queued
//    coalesces into it (so a burst of pushes during a sync yields exactly one follow-up);
//  - claim order: lowest priority value first, then earliest not_before, then oldest;
//  - per-upstream-host limits: a claim skips jobs whose host is paused (rate limited) or
//    already has `max_running_per_host` running jobs; manual jobs (JobPriority::kManual:
//    an operator asked for this sync now) override a pause, never the running limit;
//  - leases: a running job belongs to one node until its lease expires; a node renews the
//    leases of the jobs it runs, and any node requeues jobs whose lease expired (their
//    node died), so work is never lost and never run twice at the same time.
// Backends: SqliteJobQueue (embedded default, one node), RedisJobQueue (several nodes).
// Times are Unix milliseconds, given by the caller (so tests control the clock).
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mirrord {

// Smaller runs first. Manual and webhook triggers go before polls and retries.
enum class JobPriority : int { kManual = 0, kWebhook = 1, kRetry = 2, kPoll = 3 };

// What a job does. Stored as its name ("sync", "build", "push"); an unknown stored name
// reads as kSync (jobs queued before kinds existed were syncs).
enum class JobKind { kSync, kBuild, kPush };
std::string_view JobKindName(JobKind kind);
JobKind JobKindFromName(std::string_view name);

struct QueuedJob {
  int64_t run_id = 0;  // the catalog run this job executes; unique
  JobKind kind = JobKind::kSync;
  std::string repo;  // repository name (a build's: the recipe's repo)
  // Builds only ("" for syncs): the [[builds]] recipe name, the full ref name it builds,
  // and the commit the ref was published at when the (latest coalesced) trigger came. The
  // build runs on whatever the ref is published at when it starts.
  // Pushes reuse the same fields: `build` is the image name, `ref` the [registries] name and
  // `commit` the manifest digest (the newest trigger's, after coalescing); what else a push
  // needs (repository, tags) is in its catalog push run (Catalog::InsertPushRun).
  std::string build;
  std::string ref;
  std::string commit;
  std::string trigger;  // "manual", "webhook", "poll", "startup", "retry"
  int priority = static_cast<int>(JobPriority::kPoll);
  int64_t queued_at_ms = 0;   // when the (first coalesced) trigger arrived
  int64_t not_before_ms = 0;  // not claimed before this (retry backoff); 0: at once
  int64_t pushed_at_ms = 0;   // upstream push time from a webhook payload; 0: unknown
  std::string host;           // upstream host, for per-host limits and pauses
  int attempt = 1;            // 1 for a fresh trigger, n for the (n-1)th retry
  // Set while running:
  bool running = false;
  std::string owner;  // node id of the claimer
  int64_t lease_until_ms = 0;
  // The fencing token of the claim that made it running (kept after a requeue: then the
  // token of the lost lease). Every claim gets a token larger than any earlier claim's in
  // this queue, so a higher token always belongs to the newer owner of a repo's job; the
  // catalog and ref publication refuse writes carrying a lower token than they have seen
  // (see daemon/job_runner.h). A token is max(previous token + 1, the claim's now_ms), so
  // tokens keep increasing across a queue that lost its data (a Redis restarted empty) as
  // long as the claimers' clocks do. 0: never claimed.
  int64_t fence = 0;
};

// The key the one-queued / one-running rules apply to: the repo for a sync,
// "build:<build>:<ref>" for a build, "push:<image>:<registry>" for a push (image, build and
// registry names cannot hold ':', repo names neither).
std::string QueueKey(const QueuedJob& job);

struct EnqueueResult {
  QueuedJob job;           // the queued job now standing for this trigger
  bool coalesced = false;  // true: an already queued job absorbed it (job.run_id is that one's)
};

struct ClaimRequest {
  std::string owner;  // node id
  int64_t now_ms = 0;
  int64_t lease_ms = 60000;
  int max_running_per_host = 4;  // <= 0: no limit
};

struct PausedHost {
  std::string host;
  int64_t until_ms = 0;
  std::string reason;  // e.g. "HTTP 429, Retry-After 60"
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Queues `job` (running/owner/lease ignored). If `job`'s queue key already has a queued
  // job, that job absorbs this one instead: it keeps its run id and queued_at_ms, takes the
  // smaller priority and not_before_ms, the larger pushed_at_ms and a non-empty commit, and
  // becomes this trigger's kind when the priority improved; EnqueueResult::coalesced is true and
  // the caller must drop the run it created for `job`. AlreadyExists if `job.run_id` is already
  // queued or running.
  virtual Result<EnqueueResult> Enqueue(const QueuedJob& job) = 0;

  // Enqueue's coalescing alone: if `job`'s queue key has a queued job, folds `job` into it exactly
  // as Enqueue would (`job.run_id` is ignored) and returns the updated job; nullopt when
  // nothing is queued for that key (the caller then records a run and Enqueues it). Lets a
  // burst of triggers coalesce without recording a run per trigger.
  virtual Result<std::optional<QueuedJob>> CoalesceIntoQueued(const QueuedJob& job) = 0;

  // Atomically takes the best claimable job (see the class comment) and marks it running,
  // owned by `request.owner` until now + lease, with a new fencing token (QueuedJob::fence)
  // larger than every token issued before. nullopt when nothing is claimable now.
  virtual Result<std::optional<QueuedJob>> Claim(const ClaimRequest& request) = 0;

  // Extends the lease of running job `run_id` owned by `owner`. NotFound if the job is not
  // running under that owner any more (its lease expired and another node took it): the
  // caller must stop the sync.
  virtual Status Renew(int64_t run_id, std::string_view owner, int64_t lease_until_ms) = 0;

  // Removes running job `run_id` owned by `owner` (the sync finished, whatever its outcome).
  // NotFound if it is not running under that owner.
  virtual Status Finish(int64_t run_id, std::string_view owner) = 0;

  // Puts running jobs back in the queue, keeping their run ids: those owned by `owner`
  // (a node restarting under the same id; empty: none) and those whose lease ended before
  // now_ms. A requeued job whose queue key meanwhile got a queued job is merged into it the way
  // Enqueue coalesces (the requeued run id survives; the other one is returned in
  // `dropped`). Returns the requeued jobs (each with the fencing token of the lease it lost),
  // and the node each was taken from.
  struct Requeued {
    std::vector<QueuedJob> jobs;
    std::vector<std::string> lost_by;  // parallel to `jobs`: the owner whose lease it was
    std::vector<int64_t> dropped;      // run ids merged away
  };
  virtual Result<Requeued> RequeueAbandoned(std::string_view owner, int64_t now_ms) = 0;

  // Removes the queued (not running) sync job of `repo`, if any; returns its run id or 0.
  virtual Result<int64_t> RemoveQueued(std::string_view repo) = 0;

  // Every job, queued and running, in claim order (running ones first).
  virtual Result<std::vector<QueuedJob>> List() = 0;

  // Pauses claims for `host` until `until_ms` (extends, never shortens, a current pause).
  virtual Status PauseHost(const PausedHost& pause) = 0;
  // Pauses still in force at `now_ms`.
  virtual Result<std::vector<PausedHost>> PausedHosts(int64_t now_ms) = 0;

  // Remembers a webhook delivery id. true when it was new; false when it was already
  // recorded (a redelivery: acknowledge it without queueing again). Ids are kept for at
  // least `keep_ms` after `now_ms`. Records survive a crash of mirrord; a backend may trade
  // the durability of the newest ones against a power cut for speed (the cost of a lost
  // record is one redundant sync).
  virtual Result<bool> RecordDelivery(std::string_view delivery_id, int64_t now_ms,
                                      int64_t keep_ms) = 0;
};

}  // namespace mirrord
