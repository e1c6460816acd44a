// LiveValue<T>: a value that is replaced whole while readers keep using the copy they took.
// Readers call Get() and hold the returned snapshot for as long as they need a consistent
// view (one request, one sync's setup); a writer publishes a complete new value with Set().
// Nothing is ever modified in place, so a reader never sees half of a reload.
// Used for the reloadable configuration (SIGHUP) and the secrets read from files it names.
// Thread-safety: Get() and Set() may be called from any thread at once.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

namespace mirrord {

template <typename T>
class LiveValue {
 public:
  explicit LiveValue(T initial) : current_(std::make_shared<const T>(std::move(initial))) {}
  explicit LiveValue(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}
  LiveValue(const LiveValue&) = delete;
  LiveValue& operator=(const LiveValue&) = delete;

  // The current snapshot; never null. It stays valid after a Set().
  std::shared_ptr<const T> Get() const { return current_.load(std::memory_order_acquire); }

  // Publishes `next`: later Get()s return it, earlier snapshots are unaffected.
  void Set(T next) { Set(std::make_shared<const T>(std::move(next))); }
  void Set(std::shared_ptr<const T> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const T>> current_;
};

}  // namespace mirrord
