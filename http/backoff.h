// The one exponential backoff of mirrord: the n-th retry (n = 0, 1, ...) waits
//   min(max, initial * 2^n) * U(jitter.low, jitter.high)
// Full jitter ({0, 1}) spreads clients that failed together as far as possible (the HTTP
// retries of one transfer); proportional jitter ({0.8, 1.2}) keeps the schedule an operator
// configured recognisable while still spreading repos that failed together (sync retries).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>

namespace mirrord {

struct BackoffJitter {
  double low = 0.0;
  double high = 1.0;
};
inline constexpr BackoffJitter kFullJitter{0.0, 1.0};
inline constexpr BackoffJitter kProportionalJitter{0.8, 1.2};

struct BackoffPolicy {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{60'000};
  BackoffJitter jitter = kFullJitter;
};

// min(max, initial * 2^retry) before jitter (initial at least 1 ms, max at least initial;
// a negative retry counts as 0). Never overflows.
std::chrono::milliseconds BackoffCap(const BackoffPolicy& policy, int retry);

// The jittered wait of the `retry`-th retry, drawn from `rng`.
// Thread-safety: as safe as `rng` (the caller serialises access to it).
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int retry,
                                       std::mt19937_64& rng);

// BackoffDelay with a generator of its own.
// Thread-safety: thread-safe.
class Backoff {
 public:
  // `seed`: fixed jitter for tests; nullopt: seeded from the system.
  explicit Backoff(BackoffPolicy policy, std::optional<uint64_t> seed = std::nullopt);
  std::chrono::milliseconds Delay(int retry);
  const BackoffPolicy& policy() const { return policy_; }

 private:
  const BackoffPolicy policy_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

}  // namespace mirrord
