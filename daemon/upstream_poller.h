// UpstreamPoller: keeps mirrors fresh where no webhook tells us about pushes (repos we do not
// own, Hugging Face) and reconciles webhook-driven ones (GitHub sends no event for some
// pushes). Every repository is looked at once per poll interval ([[repos]] poll_interval,
// else [sync] default_poll_interval), at a jittered time, by comparing the upstream's ref
// advertisement with the published refs: one small request per idle repo, and a sync
// (trigger "poll") only when something changed. Repos with queued or running work are
// skipped. Several nodes sharing a queue poll each repo once per interval between them
// (a "poll:<repo>" key recorded in the queue for half an interval).
// Thread-safety: Start/Stop from one thread; the poller runs on its own threads.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "daemon/metrics.h"
#include "daemon/sync_scheduler.h"
#include "storage/catalog.h"
#include "storage/job_queue.h"

namespace mirrord {

class UpstreamPoller {
 public:
  // Everything must outlive the poller. `concurrency`: polls in flight at once.
  UpstreamPoller(const Config& config, Catalog& catalog, SyncScheduler& scheduler, JobQueue& queue,
                 Metrics& metrics, int concurrency = 8,
                 const Clock& clock = SystemClock::Instance());
  ~UpstreamPoller();

  void Start();
  // Stops planning polls and waits for those in flight.
  void Stop();

 private:
  void Loop();
  void PollOne(const std::string& repo, std::chrono::seconds interval);
  std::chrono::seconds IntervalFor(const std::string& repo) const;
  // A time in [from + lo * interval, from + hi * interval).
  int64_t JitteredMs(int64_t from_ms, std::chrono::seconds interval, double lo, double hi);
  int64_t NowMs() const;

  const Config& config_;
  Catalog& catalog_;
  SyncScheduler& scheduler_;
  JobQueue& queue_;
  Metrics& metrics_;
  const Clock& clock_;
  boost::asio::thread_pool pool_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, int64_t> due_ms_;  // repo -> next poll (unix ms)
  std::map<std::string, bool> in_flight_;
  std::mt19937_64 rng_;
};

}  // namespace mirrord
