#include "lfs/piece_attempt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/curl_status.h"

namespace mirrord {
namespace {

using Kind = PieceVerdict::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

const auto kNow = std::chrono::system_clock::from_time_t(1'700'000'000);
const std::string kWhere = "LFS object abc";

PieceVerdict Judge(const PieceAttempt& a, seconds max_retry_after = seconds(300)) {
  return JudgePieceAttempt(a, kWhere, max_retry_after, kNow);
}

PieceAttempt Answered(long code, const ResponseHeaders* headers = nullptr) {
  PieceAttempt a;
  a.has_head = true;
  a.code = code;
  a.headers = headers;
  return a;
}

TEST(PieceAttemptTest, AStallIsRetried) {
  PieceAttempt a;
  a.performed = DeadlineExceeded("no data for 60000 ms (stall timeout)");
  PieceVerdict v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_EQ(v.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(v.status.message(), HasSubstr("LFS object abc: the upstream stalled"));
  EXPECT_FALSE(v.wait.has_value());  // the caller's backoff decides
}

TEST(PieceAttemptTest, ABadAnswerIsRetried) {
  PieceAttempt a = Answered(206);
  a.bad_answer = Unavailable("asked for bytes from 10, got Content-Range \"bytes 20-30/40\"");
  PieceVerdict v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_THAT(v.status.message(), HasSubstr("LFS object abc: asked for bytes from 10"));
}

TEST(PieceAttemptTest, ConnectionFailuresAreRetriedUnlessRetryingCannotHelp) {
  PieceAttempt a;
  a.transfer = CurlStatus(CURLE_COULDNT_CONNECT, kWhere, "refused");
  EXPECT_EQ(Judge(a).kind, Kind::kRetry);
  a.transfer = CurlStatus(CURLE_OPERATION_TIMEDOUT, kWhere, "timeout");
  EXPECT_EQ(Judge(a).kind, Kind::kRetry);
  a.transfer = CurlStatus(CURLE_TOO_MANY_REDIRECTS, kWhere, "loop");
  PieceVerdict v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kFail);
  EXPECT_EQ(v.status.code(), StatusCode::kInvalidArgument);
  a.transfer = CurlStatus(CURLE_UNSUPPORTED_PROTOCOL, kWhere, "ftp");
  EXPECT_EQ(Judge(a).kind, Kind::kFail);
}

TEST(PieceAttemptTest, ShortAndCutAnswersOfA2xx) {
  PieceAttempt a = Answered(206);
  a.written = 100;
  EXPECT_EQ(Judge(a).kind, Kind::kContinue);  // complete but shorter: ask for the rest
  a.written = 0;
  PieceVerdict v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_THAT(v.status.message(), HasSubstr("sent no usable bytes (HTTP 206)"));
  a.transfer = CurlStatus(CURLE_PARTIAL_FILE, kWhere, "transfer closed");
  a.body_bytes = 4096;
  a.written = 4096;
  v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kRetry);  // even with progress: resume from the last byte
  EXPECT_THAT(v.status.message(), HasSubstr("connection lost after 4096 bytes"));
}

TEST(PieceAttemptTest, ARefusedHrefAsksForAFreshAction) {
  for (long code : {401L, 403L, 410L}) {
    PieceAttempt a = Answered(code);
    a.error_body = "Request has expired";
    PieceVerdict v = Judge(a);
    EXPECT_EQ(v.kind, Kind::kRefreshAction) << code;
    EXPECT_EQ(v.status.code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(v.status.message(), HasSubstr("Request has expired"));
  }
}

TEST(PieceAttemptTest, RateLimitsAndServerErrorsWaitAsAsked) {
  ResponseHeaders limited;
  limited.OnLine("HTTP/1.1 429 Too Many Requests\r\n");
  limited.OnLine("Retry-After: 7\r\n");
  PieceVerdict v = Judge(Answered(429, &limited));
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_EQ(v.status.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(v.wait, milliseconds(7000));

  ResponseHeaders busy;
  busy.OnLine("HTTP/1.1 503 Busy\r\n");
  busy.OnLine("Retry-After: 100000\r\n");
  v = Judge(Answered(503, &busy), seconds(300));
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_EQ(v.wait, milliseconds(300'000));  // capped by max_retry_after

  v = Judge(Answered(500));
  EXPECT_EQ(v.kind, Kind::kRetry);
  EXPECT_EQ(v.status.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(v.wait.has_value());
}

TEST(PieceAttemptTest, AMissingObjectOrARefusedRequestFails) {
  PieceVerdict v = Judge(Answered(404));
  EXPECT_EQ(v.kind, Kind::kFail);
  EXPECT_EQ(v.status.code(), StatusCode::kNotFound);
  EXPECT_THAT(v.status.message(), HasSubstr("LFS object abc: the upstream's download href"));
  v = Judge(Answered(400));
  EXPECT_EQ(v.kind, Kind::kFail);
  EXPECT_EQ(v.status.code(), StatusCode::kInvalidArgument);
}

TEST(PieceAttemptTest, AFailedTransferMachineryFails) {
  PieceAttempt a;
  a.performed = Internal("curl_multi_poll: bad");
  PieceVerdict v = Judge(a);
  EXPECT_EQ(v.kind, Kind::kFail);
  EXPECT_EQ(v.status.code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace mirrord
