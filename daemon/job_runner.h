// JobRunner: what the dispatcher (daemon/job_dispatcher.h) calls to perform one claimed job.
// The dispatcher owns the queue side of a job (claim, lease, finish, retry, host pauses); a
// runner owns the work and its bookkeeping (catalog run record, live progress, metrics).
// Sync jobs run through SyncRunExecutor; another kind of job (e.g. builds) plugs in as
// another JobRunner whose failures carry the same typed facts.
// Thread-safety: Run may be called concurrently for different jobs.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "common/api_types.h"
#include "storage/job_queue.h"

namespace mirrord {

struct JobOutcome {
  enum class Kind { kSucceeded, kFailed, kCancelled };
  Kind kind = Kind::kSucceeded;
  // Set when kind is kFailed: the typed facts the dispatcher's retry decision reads.
  std::optional<RunFailure> failure;
  std::string message;  // the failure in words (for a host pause's reason); no credentials
  int64_t repo_id = 0;  // the job's repo in the catalog; 0 when it is gone
};

// What the dispatcher lends a runner for one job.
struct JobContext {
  // Set when the job must stop: shutdown, repo removal, or the lease is lost or could not
  // be renewed before it ended.
  const std::atomic<bool>* cancel = nullptr;
  // OK only while this node provably still holds the job's lease (checked against the
  // queue now, which also extends it); on failure the job is cancelled too. A runner calls
  // it before writes other nodes would see, to stop early. It is not the fence by itself (the
  // lease can end right after the answer): the fence is the job's token, see below.
  std::function<Status()> confirm_lease;
};

// Fencing. Each claim gives the job a token (QueuedJob::fence) larger than every earlier
// claim's. A runner passes it into every write of shared state, and the write itself refuses
// a token older than one it has seen:
//  - the catalog (storage/repo_fence.h): the repo row keeps the highest token; each fenced
//    write (MarkRunStarted, SetRepoState, ReplaceRefs, FinishRun) compares and raises it in
//    its own SQLite transaction. The node that requeues a lost lease raises it past the lost
//    token (Catalog::RequeueRun), so the lost owner is refused even before a new one starts.
//  - refs (git/ref_publisher.h): PublishRefs calls the runner's check (confirm_lease, then
//    Catalog::CheckFence) with the mirror's packed-refs.lock held, right before the rename.
//    Every publisher takes that lock, so the check and the rename are not separated by
//    another node's publication; the only window left is a node stopped between the check
//    and the rename (local syscalls, no network): its refs may land, but its catalog write
//    is refused and the next owner's publication (which waits for the lock) replaces them.

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // Performs `job` to the end, or until `context.cancel` is set (then returns kCancelled
  // soon). Never throws; every failure is a kFailed outcome.
  virtual JobOutcome Run(const QueuedJob& job, const JobContext& context) = 0;
};

}  // namespace mirrord
