// UpstreamPoller: keeps mirrors fresh where no webhook tells us about pushes (repos we do not
// own, Hugging Face) and reconciles webhook-driven ones (GitHub sends no event for some
// pushes). Every repository is looked at once per poll interval ([[repos]] poll_interval,
// else [sync] default_poll_interval), at a jittered time, by comparing the upstream's ref
// advertisement with the published refs: one small request per idle repo, and a sync
// (trigger "poll") only when something changed. Repos with queued or running work are
// skipped. Several nodes sharing a queue poll each repo once per interval between them
// (a "poll:<repo>" key recorded in the queue for half an interval).
// The poller talks to the rest of mirrord through PollTarget only (SyncScheduler implements
// it; tests use a fake).
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

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "daemon/metrics.h"

namespace mirrord {

// What the poller asks of mirrord. Called from the poller's threads.
class PollTarget {
 public:
  virtual ~PollTarget() = default;
  // The names of the mirrored repos.
  virtual Result<std::vector<std::string>> RepoNames() = 0;
  // True when `name` has a queued or running job (a sync is coming anyway).
  virtual bool HasPendingWork(std::string_view name) = 0;
  // Claims the poll of `name` for every node sharing the queue until now + `hold_ms`: true
  // when this node should poll it.
  virtual Result<bool> ClaimPoll(std::string_view name, int64_t now_ms, int64_t hold_ms) = 0;
  // Compares the upstream's refs with the published ones: true when a sync would change
  // something.
  virtual Result<bool> UpstreamChanged(std::string_view name) = 0;
  virtual Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) = 0;
  // When `name` is next polled (unix seconds), for status.
  virtual void SetNextPoll(std::string_view name, int64_t unix_seconds) = 0;
};

class UpstreamPoller {
 public:
  // Everything must outlive the poller. `concurrency`: polls in flight at once.
  UpstreamPoller(const LiveConfig& config, PollTarget& target, Metrics& metrics,
                 int concurrency = 8, const Clock& clock = SystemClock::Instance());
  ~UpstreamPoller();

  void Start();
  // Stops planning polls and waits for those in flight.
  void Stop();

  // One poll of `repo` (what the poller's threads run when it is due): skipped when work
  // is pending or another node claimed it; a sync (trigger "poll") is requested when the
  // upstream changed. Counts mirrord_polls_total. Public for tests.
  void PollOne(const std::string& repo, std::chrono::seconds interval);

 private:
  void Loop();
  std::chrono::seconds IntervalFor(const std::string& repo) const;
  // A time in [from + lo * interval, from + hi * interval).
  int64_t JitteredMs(int64_t from_ms, std::chrono::seconds interval, double lo, double hi);
  int64_t NowMs() const;

  const LiveConfig& config_;  // read per use: reloadable (SIGHUP)
  PollTarget& target_;
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
