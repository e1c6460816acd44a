#include "lfs/download_pool.h"

#include <algorithm>
#include <memory>

namespace mirrord {

DownloadPool::DownloadPool(int threads) : max_threads_(std::max(1, threads)) {}

DownloadPool::~DownloadPool() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    tasks_.clear();
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

int DownloadPool::threads() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(threads_.size());
}

size_t DownloadPool::Queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void DownloadPool::Loop() {
  bool counted = true;  // a new thread was counted idle by whoever started it
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      if (!counted) ++idle_;
      counted = false;
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      --idle_;
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void DownloadPool::RunWithHelpers(size_t helpers, const std::function<void()>& worker) {
  // Shared with the queued tasks, which may outlive this call (they then find it closed).
  struct Share {
    std::mutex mu;
    std::condition_variable cv;
    bool closed = false;  // guarded by mu: helpers that start from now on do nothing
    int running = 0;      // guarded by mu
    const std::function<void()>* worker = nullptr;
  };
  auto share = std::make_shared<Share>();
  share->worker = &worker;
  if (helpers > 0) {
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < helpers; ++i) {
        tasks_.emplace_back([share] {
          {
            std::lock_guard l(share->mu);
            if (share->closed) return;
            ++share->running;
          }
          (*share->worker)();
          std::lock_guard l(share->mu);
          --share->running;
          share->cv.notify_all();
        });
      }
      // Start threads for the tasks no idle thread will take, up to the cap.
      const size_t wanted = tasks_.size();
      while (static_cast<size_t>(idle_) < wanted &&
             static_cast<int>(threads_.size()) < max_threads_) {
        ++idle_;  // counted as idle from now on: it will take a task without being asked
        threads_.emplace_back([this] { Loop(); });
      }
    }
    cv_.notify_all();
  }
  worker();
  std::unique_lock lock(share->mu);
  share->closed = true;
  share->cv.wait(lock, [&] { return share->running == 0; });
}

}  // namespace mirrord
