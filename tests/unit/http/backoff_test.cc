#include "http/backoff.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace mirrord {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CapDoublesUpToTheMaximumWithoutOverflow) {
  BackoffPolicy p{milliseconds(100), milliseconds(1000), kFullJitter};
  EXPECT_EQ(BackoffCap(p, 0), milliseconds(100));
  EXPECT_EQ(BackoffCap(p, 1), milliseconds(200));
  EXPECT_EQ(BackoffCap(p, 3), milliseconds(800));
  EXPECT_EQ(BackoffCap(p, 4), milliseconds(1000));
  EXPECT_EQ(BackoffCap(p, 1 << 30), milliseconds(1000));
  EXPECT_EQ(BackoffCap(p, -3), milliseconds(100));
  BackoffPolicy huge{milliseconds(1), milliseconds::max(), kFullJitter};
  EXPECT_GT(BackoffCap(huge, 200).count(), 0);  // saturates instead of wrapping
  BackoffPolicy inverted{milliseconds(500), milliseconds(10), kFullJitter};
  EXPECT_EQ(BackoffCap(inverted, 5), milliseconds(500));  // max is at least initial
}

TEST(BackoffTest, FullJitterStaysUnderTheCapAndIsReproducibleWithASeed) {
  BackoffPolicy p{milliseconds(100), milliseconds(1000), kFullJitter};
  Backoff a(p, 7), b(p, 7);
  std::vector<milliseconds> from_a, from_b;
  std::set<int64_t> distinct;
  for (int retry = 0; retry < 40; ++retry) {
    milliseconds d = a.Delay(retry);
    from_a.push_back(d);
    from_b.push_back(b.Delay(retry));
    distinct.insert(d.count());
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d, BackoffCap(p, retry)) << "retry " << retry;
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_GT(distinct.size(), 10u);  // jittered, not a fixed schedule
}

TEST(BackoffTest, ProportionalJitterStaysWithinTwentyPercentOfTheCap) {
  BackoffPolicy p{milliseconds(30'000), milliseconds(3'600'000), kProportionalJitter};
  std::mt19937_64 rng(1);
  std::set<int64_t> distinct;
  for (int retry = 0; retry < 20; ++retry) {
    const double cap = static_cast<double>(BackoffCap(p, retry).count());
    for (int i = 0; i < 20; ++i) {
      milliseconds d = BackoffDelay(p, retry, rng);
      distinct.insert(d.count());
      EXPECT_GE(static_cast<double>(d.count()), cap * 0.8 - 1) << retry;
      EXPECT_LE(static_cast<double>(d.count()), cap * 1.2 + 1) << retry;
    }
  }
  EXPECT_GT(distinct.size(), 100u);
}

}  // namespace
}  // namespace mirrord
