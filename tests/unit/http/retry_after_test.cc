#include "http/retry_after.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

using std::chrono::seconds;

ResponseHeaders Headers(std::initializer_list<std::string> lines) {
  ResponseHeaders h;
  h.OnLine("HTTP/1.1 429 Too Many Requests\r\n");
  for (const std::string& line : lines) h.OnLine(line + "\r\n");
  return h;
}

TEST(RetryAfterTest, ParsesSecondsAndHttpDates) {
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00
  EXPECT_EQ(ParseRetryAfter("1", now), seconds(1));
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wednesday, 21-Oct-15 07:29:00 GMT", now), seconds(60));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), seconds(0));  // past
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", now), seconds::max());
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5", now), std::nullopt);
}

TEST(RetryAfterTest, UpstreamWaitPrefersRetryAfterThenTheRateLimitReset) {
  auto now = std::chrono::system_clock::from_time_t(1'700'000'000);
  EXPECT_EQ(UpstreamWait(Headers({"Retry-After: 7", "X-RateLimit-Reset: 1700000100"}), now),
            seconds(7));
  EXPECT_EQ(UpstreamWait(Headers({"retry-after: soon", "x-ratelimit-reset: 1700000100"}), now),
            seconds(100));
  EXPECT_EQ(UpstreamWait(Headers({"X-RateLimit-Reset: 1600000000"}), now), seconds(0));
  EXPECT_EQ(UpstreamWait(Headers({"X-RateLimit-Reset: 1800000000"}), now), seconds(86400));
  EXPECT_EQ(UpstreamWait(Headers({"X-RateLimit-Reset: tomorrow"}), now), std::nullopt);
  EXPECT_EQ(UpstreamWait(Headers({}), now), std::nullopt);
}

TEST(RetryAfterTest, ARedirectHopsHeadersAreForgotten) {
  ResponseHeaders h = Headers({"Retry-After: 7"});
  h.OnLine("HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(UpstreamWait(h, std::chrono::system_clock::now()), std::nullopt);
}

}  // namespace
}  // namespace mirrord
