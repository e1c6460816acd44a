// Waiting between HTTP retries, with seams so that tests neither sleep nor depend on time:
// the clock, the sleep and the jitter seed travel in a RetryTiming.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/clock.h"
#include "common/status.h"

namespace mirrord {

// How retries wait. Tests replace `sleep` (record the wait, return at once) and fix `seed`.
struct RetryTiming {
  const Clock* clock = nullptr;  // nullptr: SystemClock
  // Waits `duration`. nullptr: a real sleep, cut short when the stop predicate holds.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::optional<uint64_t> seed;  // random jitter seed; nullopt: seeded from the system

  const Clock& GetClock() const { return clock != nullptr ? *clock : SystemClock::Instance(); }
};

// Waits `duration` with `timing.sleep`, or really (in slices of at most 100 ms, so that a
// stop is noticed promptly). Cancelled if `stop_requested` (may be empty) returns true
// before or after the wait; OK otherwise.
Status WaitFor(const RetryTiming& timing, std::chrono::milliseconds duration,
               const std::function<bool()>& stop_requested);

// A stop predicate for a cancel flag (nullptr: never).
inline std::function<bool()> CancelFlag(const std::atomic<bool>* cancel) {
  return [cancel] { return cancel != nullptr && cancel->load(std::memory_order_relaxed); };
}

}  // namespace mirrord
