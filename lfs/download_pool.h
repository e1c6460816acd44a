// DownloadPool: a fixed set of threads shared by every LFS download of the daemon, so that
// its thread count is bounded by configuration ([lfs] download_threads) whatever the number
// of syncs, objects and ranged connections at once (before, each object spawned a thread
// per connection: up to concurrent_objects x connections per sync).
//
// Work is shared with RunWithHelpers: the calling thread always does part of it itself and
// pool threads join in when free, so a download never waits for a pool thread to make
// progress (no deadlock when every pool thread is busy, only fewer connections at once).
// Thread-safety: thread-safe. The destructor waits for the tasks running and drops the
// queued ones (RunWithHelpers callers are never left waiting for a dropped task).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mirrord {

class DownloadPool {
 public:
  // At most `threads` (at least 1) threads, started when work needs them (none while
  // nothing was ever shared) and kept.
  explicit DownloadPool(int threads);
  ~DownloadPool();
  DownloadPool(const DownloadPool&) = delete;
  DownloadPool& operator=(const DownloadPool&) = delete;

  int max_threads() const { return max_threads_; }
  // Threads started so far (tests).
  int threads() const;

  // Runs `worker` on the calling thread and on up to `helpers` pool threads at once (as many
  // as are free or become free while the work lasts), and returns when the caller's run has
  // returned and every helper that started has returned too. Helpers that had not started by
  // then never run `worker`. `worker` must return once the shared work is taken (e.g. it
  // pulls pieces from a shared counter), so that late helpers find nothing to do.
  void RunWithHelpers(size_t helpers, const std::function<void()>& worker);

  // Tasks queued but not started (tests).
  size_t Queued() const;

 private:
  void Loop();

  const int max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  int idle_ = 0;                             // guarded by mu_: threads waiting for a task
  std::vector<std::thread> threads_;         // guarded by mu_
};

}  // namespace mirrord
