#include "http/backoff.h"

#include <algorithm>
#include <cmath>

namespace mirrord {

std::chrono::milliseconds BackoffCap(const BackoffPolicy& policy, int retry) {
  const int64_t initial = std::max<int64_t>(1, policy.initial.count());
  const int64_t max = std::max<int64_t>(initial, policy.max.count());
  int64_t cap = initial;
  for (int i = 0; i < retry && cap < max; ++i) cap = cap > max / 2 ? max : cap * 2;
  return std::chrono::milliseconds(std::min(cap, max));
}

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int retry,
                                       std::mt19937_64& rng) {
  const double cap = static_cast<double>(BackoffCap(policy, retry).count());
  const double low = std::max(0.0, std::min(policy.jitter.low, policy.jitter.high));
  const double high = std::max(low, policy.jitter.high);
  if (low == high) return std::chrono::milliseconds(std::llround(cap * low));
  std::uniform_real_distribution<double> factor(low, high);
  return std::chrono::milliseconds(std::llround(cap * factor(rng)));
}

Backoff::Backoff(BackoffPolicy policy, std::optional<uint64_t> seed)
    : policy_(policy), rng_(seed ? *seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::Delay(int retry) {
  std::lock_guard lock(mu_);
  return BackoffDelay(policy_, retry, rng_);
}

}  // namespace mirrord
