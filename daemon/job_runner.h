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
  // The fence: OK only while this node provably still holds the job's lease (checked
  // against the queue now, which also extends it). A runner calls it right before each
  // write other nodes would see (refs, catalog) and writes nothing when it fails (then the
  // job is cancelled too).
  std::function<Status()> confirm_lease;
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // Performs `job` to the end, or until `context.cancel` is set (then returns kCancelled
  // soon). Never throws; every failure is a kFailed outcome.
  virtual JobOutcome Run(const QueuedJob& job, const JobContext& context) = 0;
};

}  // namespace mirrord
