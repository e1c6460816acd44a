#include "http/host_limiter.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

TEST(HostConnectionLimiterTest, HoldsAtMostTheLimitPerHost) {
  HostConnectionLimiter limiter(2);
  const std::string a = HostConnectionLimiter::HostKey("https://a.example/x");
  const std::string b = HostConnectionLimiter::HostKey("https://b.example/y");
  ASSERT_OK_AND_ASSIGN(auto p1, limiter.Acquire(a));
  ASSERT_OK_AND_ASSIGN(auto p2, limiter.Acquire(a));
  EXPECT_EQ(limiter.InUse(a), 2);
  // A third for the same host waits; a stop request ends the wait.
  Result<HostConnectionLimiter::Permit> third = limiter.Acquire(a, [] { return true; });
  EXPECT_EQ(third.status().code(), StatusCode::kCancelled);
  EXPECT_EQ(limiter.InUse(a), 2);
  // Another host has slots of its own.
  ASSERT_OK_AND_ASSIGN(auto q1, limiter.Acquire(b));
  EXPECT_EQ(limiter.InUse(b), 1);
  // A released slot is taken by the next one.
  p1.Release();
  EXPECT_EQ(limiter.InUse(a), 1);
  ASSERT_OK_AND_ASSIGN(auto p3, limiter.Acquire(a, [] { return false; }));
  EXPECT_EQ(limiter.InUse(a), 2);
  EXPECT_EQ(limiter.PeakInUse(a), 2);
}

TEST(HostConnectionLimiterTest, PermitsGiveTheirSlotBackOnceWhenMovedOrDestroyed) {
  HostConnectionLimiter limiter(1);
  {
    ASSERT_OK_AND_ASSIGN(auto p, limiter.Acquire("h:80"));
    HostConnectionLimiter::Permit moved = std::move(p);
    EXPECT_FALSE(p.held());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(moved.held());
    EXPECT_EQ(limiter.InUse("h:80"), 1);
  }
  EXPECT_EQ(limiter.InUse("h:80"), 0);
  EXPECT_EQ(HostConnectionLimiter(0).max_per_host(), 1);  // at least one
}

}  // namespace
}  // namespace mirrord
