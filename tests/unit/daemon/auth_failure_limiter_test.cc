// AuthFailureLimiter: N failures per window per client, then a wait; bounded memory; and
// the client key of a peer string.
#include "daemon/auth_failure_limiter.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

class StepClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return {}; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return steady; }
  std::chrono::steady_clock::time_point steady{std::chrono::hours(1)};
};

TEST(AuthFailureLimiter, BlocksAfterTheLimitUntilTheWindowEnds) {
  StepClock clock;
  AuthFailureLimiter limiter(clock, {.max_failures = 3, .window = std::chrono::seconds(60)});
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(limiter.Blocked("192.0.2.1").has_value()) << i;
    limiter.RecordFailure("192.0.2.1");
  }
  clock.steady += std::chrono::seconds(10);
  ASSERT_TRUE(limiter.Blocked("192.0.2.1").has_value());
  EXPECT_EQ(*limiter.Blocked("192.0.2.1"), std::chrono::seconds(50));
  EXPECT_FALSE(limiter.Blocked("192.0.2.2").has_value());  // per client
  clock.steady += std::chrono::seconds(50);
  EXPECT_FALSE(limiter.Blocked("192.0.2.1").has_value());  // a new window
  limiter.RecordFailure("192.0.2.1");
  EXPECT_FALSE(limiter.Blocked("192.0.2.1").has_value());
}

TEST(AuthFailureLimiter, MemoryStaysBoundedUnderAddressCycling) {
  StepClock clock;
  AuthFailureLimiter limiter(
      clock, {.max_failures = 2, .window = std::chrono::seconds(60), .max_clients = 4});
  limiter.RecordFailure("victim");
  limiter.RecordFailure("victim");
  ASSERT_TRUE(limiter.Blocked("victim").has_value());
  // Thousands of other clients: the table never holds more than 4, the oldest go first.
  for (int i = 0; i < 5000; ++i) {
    clock.steady += std::chrono::milliseconds(1);
    limiter.RecordFailure("attacker-" + std::to_string(i));
  }
  EXPECT_FALSE(limiter.Blocked("victim").has_value());  // evicted, i.e. forgotten, not grown
  limiter.RecordFailure("attacker-4999");
  EXPECT_TRUE(limiter.Blocked("attacker-4999").has_value());
}

TEST(ClientKeyOfPeer, AddressesAndIpv6Prefixes) {
  EXPECT_EQ(ClientKeyOfPeer("192.0.2.7:5312"), "192.0.2.7");
  EXPECT_EQ(ClientKeyOfPeer("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKeyOfPeer("[::ffff:192.0.2.7]:1"), "192.0.2.7");
  EXPECT_EQ(ClientKeyOfPeer("?"), "?");
}

}  // namespace
}  // namespace mirrord
