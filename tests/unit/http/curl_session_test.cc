// CurlSession and the shared request setup against a real local HTTP server
// (tests/fixtures/test_upstream.h).
#include "http/curl_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <string>

#include "http/response_headers.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

constexpr char kToken[] = "throwaway-token-1";
// Base64 of "x-access-token:throwaway-token-1".
constexpr char kBasic[] = "Basic eC1hY2Nlc3MtdG9rZW46dGhyb3dhd2F5LXRva2VuLTE=";

size_t AppendBody(char* data, size_t size, size_t nmemb, void* out) {
  static_cast<std::string*>(out)->append(data, size * nmemb);
  return size * nmemb;
}

class CurlSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The servers are on 127.0.0.1: never route them through a proxy from the environment.
    ::setenv("no_proxy", "*", 1);
    ::setenv("NO_PROXY", "*", 1);
    ASSERT_OK_AND_ASSIGN(tmp_, test::TempDir::Create());
    ASSERT_OK_AND_ASSIGN(upstream_, test::TestUpstream::Start(tmp_->path() / "a"));
    ASSERT_OK_AND_ASSIGN(session_, CurlSession::Create());
  }

  // GETs `url` with `options`; the body lands in body_, the head in headers_.
  Status Get(const std::string& url, const HttpRequestOptions& options, CURLcode* result,
             milliseconds stall = milliseconds(0), const std::function<bool()>& stop = {}) {
    body_.clear();
    headers_.Clear();
    CURL* e = session_->Prepare(url, options);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body_);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &ResponseHeaders::CurlCallback);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &headers_);
    return session_->Perform(stop, stall, result);
  }

  std::optional<test::TempDir> tmp_;
  std::unique_ptr<test::TestUpstream> upstream_;
  std::unique_ptr<CurlSession> session_;
  std::string body_;
  ResponseHeaders headers_;
};

TEST_F(CurlSessionTest, SendsTheSharedSetupAndReadsTheAnswer) {
  upstream_->AddRoute("/hello", [](const test::UpstreamRequest&) {
    test::UpstreamResponse r = test::UpstreamResponse::Text(200, "hi there");
    r.headers.push_back({"X-Answer", "42"});
    return r;
  });
  HttpRequestOptions options;
  options.user_agent = "mirrord-test/1";
  options.token = kToken;
  CURLcode result = CURLE_OK;
  ASSERT_OK(Get(upstream_->BaseUrl() + "/hello", options, &result));
  ASSERT_EQ(result, CURLE_OK);
  EXPECT_EQ(session_->ResponseCode(), 200);
  EXPECT_EQ(body_, "hi there");
  EXPECT_EQ(headers_.Get("x-answer"), "42");
  std::vector<test::RequestRecord> seen = upstream_->requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].user_agent, "mirrord-test/1");
  EXPECT_EQ(seen[0].authorization, kBasic);

  // The session is reusable, and Prepare forgets the previous request's credentials.
  ASSERT_OK(Get(upstream_->BaseUrl() + "/hello", HttpRequestOptions(), &result));
  EXPECT_EQ(body_, "hi there");
  EXPECT_EQ(upstream_->requests().back().authorization, "");
}

TEST_F(CurlSessionTest, TheTokenNeverFollowsARedirectToAnotherOrigin) {
  ASSERT_OK_AND_ASSIGN(auto other, test::TestUpstream::Start(tmp_->path() / "b"));
  other->AddRoute("/landed", [](const test::UpstreamRequest&) {
    return test::UpstreamResponse::Text(200, "landed");
  });
  const std::string target = other->BaseUrl() + "/landed";
  upstream_->AddRoute("/moved", [&](const test::UpstreamRequest&) {
    test::UpstreamResponse r = test::UpstreamResponse::Text(302, "");
    r.headers.push_back({"Location", target});
    return r;
  });
  HttpRequestOptions options;
  options.token = kToken;
  options.max_redirects = 3;
  CURLcode result = CURLE_OK;
  ASSERT_OK(Get(upstream_->BaseUrl() + "/moved", options, &result));
  ASSERT_EQ(result, CURLE_OK);
  EXPECT_EQ(body_, "landed");
  EXPECT_EQ(upstream_->requests().at(0).authorization, kBasic);
  ASSERT_EQ(other->requests().size(), 1u);
  EXPECT_EQ(other->requests()[0].authorization, "");

  // Without max_redirects the 302 itself is the answer.
  ASSERT_OK(Get(upstream_->BaseUrl() + "/moved", HttpRequestOptions(), &result));
  EXPECT_EQ(session_->ResponseCode(), 302);
  EXPECT_EQ(headers_.Get("Location"), target);
  EXPECT_EQ(other->requests().size(), 1u);
}

TEST_F(CurlSessionTest, ARedirectLoopIsAFinalError) {
  upstream_->AddRoute("/loop", [&](const test::UpstreamRequest&) {
    test::UpstreamResponse r = test::UpstreamResponse::Text(302, "");
    r.headers.push_back({"Location", "/loop"});
    return r;
  });
  HttpRequestOptions options;
  options.max_redirects = 2;
  CURLcode result = CURLE_OK;
  ASSERT_OK(Get(upstream_->BaseUrl() + "/loop", options, &result));
  EXPECT_EQ(result, CURLE_TOO_MANY_REDIRECTS);
  Status s = session_->TransferError(result, "GET /loop");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("GET /loop: "));
}

TEST_F(CurlSessionTest, AStalledAnswerEndsWithDeadlineExceeded) {
  upstream_->AddRoute("/slow", [](const test::UpstreamRequest&) {
    return test::UpstreamResponse::Text(200, std::string(1000, 'x'));
  });
  upstream_->AddFault(test::Fault::Stall("/slow"));
  CURLcode result = CURLE_OK;
  Status s = Get(upstream_->BaseUrl() + "/slow", HttpRequestOptions(), &result, milliseconds(300));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("stall timeout"));
}

TEST_F(CurlSessionTest, AStopRequestCancelsATransferInFlight) {
  upstream_->AddRoute("/slow", [](const test::UpstreamRequest&) {
    return test::UpstreamResponse::Text(200, "never");
  });
  upstream_->AddFault(test::Fault::Stall("/slow"));
  std::atomic<bool> stop{false};
  CURLcode result = CURLE_OK;
  Status s = Get(upstream_->BaseUrl() + "/slow", HttpRequestOptions(), &result, milliseconds(0),
                 [&] {
                   // Stop once the server has the request (its head is on the way).
                   if (!upstream_->requests().empty()) stop = true;
                   return stop.load();
                 });
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
  // The session is still usable afterwards.
  upstream_->ClearFaults();
  ASSERT_OK(Get(upstream_->BaseUrl() + "/slow", HttpRequestOptions(), &result));
  EXPECT_EQ(body_, "never");
}

TEST_F(CurlSessionTest, AnUnreachableServerIsUnavailable) {
  const std::string url = upstream_->BaseUrl() + "/x";
  upstream_->Stop();
  CURLcode result = CURLE_OK;
  ASSERT_OK(Get(url, HttpRequestOptions(), &result));
  ASSERT_NE(result, CURLE_OK);
  Status s = session_->TransferError(result, "GET " + url);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("GET " + url + ": "));
}

TEST_F(CurlSessionTest, OnlyHttpAndHttpsAreSpoken) {
  CURLcode result = CURLE_OK;
  ASSERT_OK(Get("file:///etc/passwd", HttpRequestOptions(), &result));
  EXPECT_EQ(result, CURLE_UNSUPPORTED_PROTOCOL);
  EXPECT_EQ(body_, "");
  EXPECT_EQ(session_->TransferError(result, "x").code(), StatusCode::kInvalidArgument);
}

TEST(HeaderListTest, BuildsEveryLine) {
  ASSERT_OK_AND_ASSIGN(CurlSlistPtr list, MakeHeaderList({"A: 1", "B: 2", "C: 3"}));
  std::vector<std::string> lines;
  for (curl_slist* p = list.get(); p != nullptr; p = p->next) lines.push_back(p->data);
  EXPECT_EQ(lines, (std::vector<std::string>{"A: 1", "B: 2", "C: 3"}));
  ASSERT_OK_AND_ASSIGN(CurlSlistPtr empty, MakeHeaderList({}));
  EXPECT_EQ(empty.get(), nullptr);
}

}  // namespace
}  // namespace mirrord
