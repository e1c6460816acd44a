// JobDispatcher: the queue side of running jobs on this node. A dispatcher thread claims
// jobs (storage/job_queue.h) while this node has fewer than [sync] concurrency running and
// hands each to the JobRunner on a bounded worker pool; a lease thread renews the leases of
// the jobs running here and requeues the jobs of nodes whose lease ended. After a job: it
// finishes it in the queue; a failure with a typed retry_after on a rate limit pauses the
// job's upstream host for every node; a retryable failure is queued again with exponential
// backoff and jitter ([sync] retry_*), never sooner than the wait the upstream asked for.
//
// Leases: a job is cancelled when its lease is lost (another node took it over) and also
// when it could not be renewed before it ends (this node is cut off from the queue): work
// stops before another node may start the same job. Writes are fenced by the claim's token
// (daemon/job_runner.h "Fencing"); requeueing a lost lease raises the repo's fence past it.
// Thread-safety: all public methods are thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/job_runner.h"
#include "daemon/metrics.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

class JobDispatcher {
 public:
  // Everything must outlive the dispatcher. `node_id` names this node in the queue.
  JobDispatcher(const LiveConfig& config, JobQueue& queue, Catalog& catalog, std::string node_id,
                JobRunner& runner, Metrics& metrics, const Clock& clock);
  ~JobDispatcher();

  // Starts the dispatcher and lease threads. FailedPrecondition when already started.
  Status Start();
  // Claims soon instead of within the next second (after a local request).
  void Wake();
  // Stops claiming and cancels running jobs without waiting.
  void BeginShutdown();
  // BeginShutdown(), then waits for the threads and the running jobs.
  void Shutdown();
  bool shutting_down() const;

  // Cancels the jobs of `repo` running on this node and waits until they ended.
  void CancelAndWait(std::string_view repo);

  // Puts runs of dead nodes (lease ended) and, with `own_too`, this node's own running jobs
  // back in the queue (their runs continue under the same id). Logs each takeover with the
  // node that lost it. Returns the requeued jobs.
  Result<JobQueue::Requeued> RequeueAbandoned(bool own_too);

  const std::string& node_id() const { return node_id_; }

 private:
  struct LocalRun {
    std::string repo;
    std::shared_ptr<std::atomic<bool>> cancel;
    int64_t lease_until_ms = 0;
  };

  void DispatchLoop();
  void LeaseLoop();
  // One round of renewals; cancels the jobs whose lease is lost or about to end unrenewed.
  void KeepLeases();
  void RunJob(QueuedJob job, std::shared_ptr<std::atomic<bool>> cancel);
  // The fence for `run_id`: renews its lease now; a failure cancels the job.
  Status ConfirmLease(int64_t run_id);
  // After a failed run: pause the host on a rate limit, queue a retry with backoff.
  void AfterFailure(const QueuedJob& job, const JobOutcome& outcome);
  std::chrono::milliseconds RetryDelay(int attempt);
  void PublishQueueGauges();
  int64_t NowMs() const;

  const LiveConfig& config_;  // read per use: reloadable (SIGHUP)
  JobQueue& queue_;
  Catalog& catalog_;
  const std::string node_id_;
  JobRunner& runner_;
  Metrics& metrics_;
  const Clock& clock_;
  boost::asio::thread_pool workers_;
  std::thread dispatcher_;
  std::thread lease_keeper_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable run_finished_;
  bool wake_requested_ = false;
  bool started_ = false;
  bool shutting_down_ = false;
  std::map<int64_t, LocalRun> local_runs_;  // run id -> job running on this node
  std::mt19937_64 rng_;                     // retry jitter
};

}  // namespace mirrord
