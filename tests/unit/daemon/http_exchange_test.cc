#include "daemon/http_exchange.h"

#include <errno.h>
#include <gtest/gtest.h>

#include "common/rate_limit.h"

namespace mirrord {
namespace {

TEST(HttpErrorForTest, FullDiskIsRetryLaterNotAServerBug) {
  HttpError disk = HttpErrorFor(ErrnoStatus(ENOSPC, "pwrite"));
  EXPECT_EQ(disk.status, http::status::service_unavailable);
  ASSERT_TRUE(disk.retry_after.has_value());
  EXPECT_EQ(*disk.retry_after, kResourceExhaustedRetryAfter);
  EXPECT_EQ(HttpErrorFor(ErrnoStatus(EDQUOT, "write")).status, http::status::service_unavailable);

  HttpError limited = HttpErrorFor(RateLimited("upstream says slow down", std::chrono::seconds(42)));
  EXPECT_EQ(limited.status, http::status::service_unavailable);
  EXPECT_EQ(limited.retry_after, std::chrono::seconds(42));

  HttpRequest req(http::verb::get, "/x", 11);
  HttpResponse res = MakeErrorResponse(req, ErrnoStatus(ENOSPC, "pwrite"), "disk full\n");
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res[http::field::retry_after], "60");
  EXPECT_EQ(res.body(), "disk full\n");
}

TEST(HttpErrorForTest, OtherCodes) {
  EXPECT_EQ(HttpErrorFor(NotFound("x")).status, http::status::not_found);
  EXPECT_EQ(HttpErrorFor(Unavailable("x")).status, http::status::bad_gateway);
  EXPECT_EQ(HttpErrorFor(DataLoss("x")).status, http::status::bad_gateway);
  EXPECT_EQ(HttpErrorFor(DeadlineExceeded("x")).status, http::status::gateway_timeout);
  EXPECT_EQ(HttpErrorFor(Cancelled("x")).status, http::status::service_unavailable);
  EXPECT_EQ(HttpErrorFor(Internal("x")).status, http::status::internal_server_error);
  EXPECT_FALSE(HttpErrorFor(Internal("x")).retry_after.has_value());
  HttpRequest req(http::verb::get, "/x", 11);
  HttpResponse res = MakeErrorResponse(req, Internal("x"), "");
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_TRUE(res.find(http::field::retry_after) == res.end());
}

}  // namespace
}  // namespace mirrord
