// The two translations into Status: HTTP answers (http_status.h) and curl outcomes
// (curl_status.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/curl_status.h"
#include "http/http_status.h"

namespace mirrord {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

const auto kNow = std::chrono::system_clock::from_time_t(1'700'000'000);

ResponseHeaders Head(std::string status_line, std::initializer_list<std::string> lines = {}) {
  ResponseHeaders h;
  h.OnLine(status_line + "\r\n");
  for (const std::string& line : lines) h.OnLine(line + "\r\n");
  return h;
}

HttpErrorContext Context(std::optional<bool> token_sent = std::nullopt) {
  HttpErrorContext c;
  c.subject = "upstream http://h/r.git";
  c.resource = "repository";
  c.token_sent = token_sent;
  return c;
}

TEST(HttpStatusErrorTest, MapsEveryClassOfAnswer) {
  struct Case {
    long code;
    StatusCode expected;
    const char* in_message;
  } cases[] = {
      {401, StatusCode::kPermissionDenied, "refused access (HTTP 401 Unauthorized: nope)"},
      {403, StatusCode::kPermissionDenied, "refused access (HTTP 403 Forbidden"},
      {404, StatusCode::kNotFound, "has no such repository (HTTP 404 Not Found"},
      {410, StatusCode::kNotFound, "HTTP 410 Gone"},
      {408, StatusCode::kUnavailable, "failed (HTTP 408"},
      {500, StatusCode::kUnavailable, "failed (HTTP 500"},
      {503, StatusCode::kUnavailable, "is unavailable (HTTP 503"},
      {400, StatusCode::kInvalidArgument, "refused the request (HTTP 400"},
      {422, StatusCode::kInvalidArgument, "HTTP 422"},
      {302, StatusCode::kUnavailable, "answered HTTP 302"},
      {429, StatusCode::kResourceExhausted, "is rate limiting (HTTP 429"},
  };
  for (const Case& c : cases) {
    Status s = HttpStatusError(c.code, ResponseHeaders(), "nope\nmore", Context(), kNow);
    EXPECT_EQ(s.code(), c.expected) << c.code << " " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("upstream http://h/r.git")) << c.code;
    EXPECT_THAT(s.message(), HasSubstr(c.in_message)) << s.message();
    EXPECT_FALSE(s.retry_after().has_value()) << c.code;  // nobody named a wait
  }
}

TEST(HttpStatusErrorTest, TheReasonPhraseComesFromTheStatusLine) {
  Status s = HttpStatusError(404, Head("HTTP/1.1 404 No Such Thing"), "", Context(), kNow);
  EXPECT_THAT(s.message(), HasSubstr("(HTTP 404 No Such Thing)"));
}

TEST(HttpStatusErrorTest, RateLimitsCarryTheirWaitAsATypedValue) {
  Status s = HttpStatusError(429, Head("HTTP/1.1 429 Too Many", {"Retry-After: 77"}), "",
                             Context(), kNow);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.retry_after(), seconds(77));
  EXPECT_THAT(s.message(), Not(HasSubstr("77")));  // the fact is typed, not in the text

  // GitHub's exhausted quota: 403 with X-RateLimit-Remaining: 0, waiting for the reset.
  s = HttpStatusError(403,
                      Head("HTTP/1.1 403 Forbidden",
                           {"X-RateLimit-Remaining: 0", "X-RateLimit-Reset: 1700000600"}),
                      "", Context(true), kNow);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.retry_after(), seconds(600));
  EXPECT_THAT(s.message(), HasSubstr("rate limit exhausted"));

  // A limit that names no wait: the caller's default, else none.
  HttpErrorContext with_default = Context();
  with_default.default_rate_limit_wait = seconds(60);
  EXPECT_EQ(HttpStatusError(429, ResponseHeaders(), "", with_default, kNow).retry_after(),
            seconds(60));
  EXPECT_EQ(HttpStatusError(429, ResponseHeaders(), "", Context(), kNow).retry_after(),
            std::nullopt);

  // A 403 with quota left is a refusal, not a rate limit.
  s = HttpStatusError(403, Head("HTTP/1.1 403 Forbidden", {"X-RateLimit-Remaining: 12"}), "",
                      Context(), kNow);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
}

TEST(HttpStatusErrorTest, UnavailableServersMayNameAWaitToo) {
  Status s = HttpStatusError(503, Head("HTTP/1.1 503 Busy", {"Retry-After: 9"}), "", Context(),
                             kNow);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.retry_after(), seconds(9));
}

TEST(HttpStatusErrorTest, RefusalsSayWhetherATokenWasSent) {
  EXPECT_THAT(HttpStatusError(401, ResponseHeaders(), "", Context(true), kNow).message(),
              HasSubstr("check the upstream's token"));
  EXPECT_THAT(HttpStatusError(401, ResponseHeaders(), "", Context(false), kNow).message(),
              HasSubstr("may need a token (token_file)"));
  EXPECT_THAT(HttpStatusError(401, ResponseHeaders(), "", Context(), kNow).message(),
              Not(HasSubstr("token")));
}

TEST(HttpStatusErrorTest, AnHtmlErrorPageAddsNothingToTheMessage) {
  Status s = HttpStatusError(502, ResponseHeaders(), "<html><body>Bad Gateway</body></html>",
                             Context(), kNow);
  EXPECT_THAT(s.message(), HasSubstr("(HTTP 502 Bad Gateway)"));
}

TEST(CurlStatusTest, MapsCurlOutcomes) {
  struct Case {
    CURLcode code;
    StatusCode expected;
  } cases[] = {
      {CURLE_OPERATION_TIMEDOUT, StatusCode::kDeadlineExceeded},
      {CURLE_OUT_OF_MEMORY, StatusCode::kResourceExhausted},
      {CURLE_URL_MALFORMAT, StatusCode::kInvalidArgument},
      {CURLE_UNSUPPORTED_PROTOCOL, StatusCode::kInvalidArgument},
      {CURLE_TOO_MANY_REDIRECTS, StatusCode::kInvalidArgument},
      {CURLE_ABORTED_BY_CALLBACK, StatusCode::kCancelled},
      {CURLE_COULDNT_CONNECT, StatusCode::kUnavailable},
      {CURLE_COULDNT_RESOLVE_HOST, StatusCode::kUnavailable},
      {CURLE_PARTIAL_FILE, StatusCode::kUnavailable},
      {CURLE_RECV_ERROR, StatusCode::kUnavailable},
      {CURLE_SSL_CONNECT_ERROR, StatusCode::kUnavailable},
  };
  for (const Case& c : cases) {
    Status s = CurlStatus(c.code, "fetch from http://h", "");
    EXPECT_EQ(s.code(), c.expected) << curl_easy_strerror(c.code);
    EXPECT_EQ(s.message(), std::string("fetch from http://h: ") + curl_easy_strerror(c.code));
  }
  EXPECT_TRUE(CurlStatus(CURLE_OK, "x", "").ok());
  EXPECT_EQ(CurlStatus(CURLE_RECV_ERROR, "x", "Connection reset by peer").message(),
            "x: Connection reset by peer");
}

}  // namespace
}  // namespace mirrord
