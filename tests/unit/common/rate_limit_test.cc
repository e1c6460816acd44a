#include "common/rate_limit.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(RateLimitTest, CarriesTheWaitThroughContext) {
  Status s = RateLimited("upstream https://github.com/o/r.git is rate limiting (HTTP 429)",
                         std::chrono::seconds(120));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  // The wait is a typed field: the message stays what the transport wrote.
  EXPECT_EQ(s.message(), "upstream https://github.com/o/r.git is rate limiting (HTTP 429)");
  EXPECT_EQ(RateLimitRetryAfter(s), std::chrono::seconds(120));
  EXPECT_EQ(RateLimitRetryAfter(s.WithContext("fetch from o/r")), std::chrono::seconds(120));
  EXPECT_EQ(RateLimitRetryAfter(RateLimited("x", std::chrono::seconds(-5))),
            std::chrono::seconds(0));
}

TEST(RateLimitTest, OtherStatusesCarryNoWait) {
  EXPECT_FALSE(RateLimitRetryAfter(Status::Ok()));
  EXPECT_FALSE(RateLimitRetryAfter(ResourceExhausted("disk full")));
  EXPECT_FALSE(RateLimitRetryAfter(Unavailable("x (retry after 5 s)")));
  EXPECT_FALSE(RateLimitRetryAfter(ResourceExhausted("x (retry after five s)")));
  EXPECT_FALSE(RateLimitRetryAfter(ResourceExhausted("x (retry after -1 s)")));
  // Text that looks like the old suffix encoding means nothing.
  EXPECT_FALSE(RateLimitRetryAfter(ResourceExhausted("x (retry after 5 s)")));
  // A wait on another code is not a rate limit (e.g. a 503 with Retry-After).
  EXPECT_FALSE(RateLimitRetryAfter(Unavailable("busy").WithRetryAfter(std::chrono::seconds(5))));
}

}  // namespace
}  // namespace mirrord
