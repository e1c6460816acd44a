#include "lfs/download_pool.h"

#include <algorithm>
#include <memory>

namespace mirrord {

DownloadPool::DownloadPool(int threads) {
  const int n = std::max(1, threads);
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
}

DownloadPool::~DownloadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

size_t DownloadPool::Queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void DownloadPool::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
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
    }
    cv_.notify_all();
  }
  worker();
  std::unique_lock lock(share->mu);
  share->closed = true;
  share->cv.wait(lock, [&] { return share->running == 0; });
}

}  // namespace mirrord
