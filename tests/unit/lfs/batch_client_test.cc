// LfsBatchClient against the test upstream's LFS endpoint (real HTTP on loopback) and, for
// answers the endpoint does not give, against hand-written routes on the same server.
#include "lfs/batch_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "lfs/batch_json.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Le;
using ::testing::SizeIs;

constexpr char kRepo[] = "o/r";
constexpr char kToken[] = "s3cret-token";

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Faults set field by field: designated initializers would have to name every member.
test::Fault StatusFault(std::string path, int status, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.status = status;
  f.times = times;
  return f;
}
test::Fault StallFault(std::string path, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.stall = true;
  f.times = times;
  return f;
}
test::Fault DropFault(std::string path, uint64_t after_bytes, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.drop_after_bytes = after_bytes;
  f.times = times;
  return f;
}
test::Fault WithHeader(test::Fault f, std::string name, std::string value) {
  f.extra_headers[std::move(name)] = std::move(value);
  return f;
}
test::LfsObjectFault BatchError(int code) {
  test::LfsObjectFault f;
  f.batch_error = code;
  return f;
}

// A clock that stays where the test puts it.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(std::chrono::system_clock::time_point now) : now_(now) {}
  std::chrono::system_clock::time_point Now() const override { return now_; }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }

 private:
  std::chrono::system_clock::time_point now_;
};

// Records the waits asked for instead of waiting.
class RecordingSleeper {
 public:
  std::function<void(milliseconds)> Fn() {
    return [this](milliseconds d) {
      std::lock_guard lock(mu_);
      waits_.push_back(d);
    };
  }
  std::vector<milliseconds> waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<milliseconds> waits_;
};

class LfsBatchClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The upstream is on 127.0.0.1: never route it through a proxy from the environment.
    ::setenv("no_proxy", "*", 1);
    ::setenv("NO_PROXY", "*", 1);
    ASSERT_OK_AND_ASSIGN(test::TempDir tmp, test::TempDir::Create("mirrord-lfs-batch-"));
    tmp_ = std::make_unique<test::TempDir>(std::move(tmp));
    ASSERT_OK_AND_ASSIGN(upstream_, test::TestUpstream::Start(tmp_->path() / "upstream"));
    ASSERT_OK(upstream_->CreateBareRepo(kRepo));
    ASSERT_OK_AND_ASSIGN(lfs_, test::TestLfsEndpoint::Attach(*upstream_, tmp_->path() / "lfs"));
  }

  LfsBatchClientOptions Options() {
    LfsBatchClientOptions o;
    o.timing.sleep = sleeper_.Fn();
    o.timing.seed = 42;
    o.initial_backoff = milliseconds(100);
    o.max_backoff = milliseconds(1000);
    o.connect_timeout = seconds(5);
    o.stall_timeout = seconds(10);
    return o;
  }

  std::string Endpoint() const {
    return LfsBatchClient::EndpointForCloneUrl(upstream_->UrlFor(kRepo));
  }

  std::vector<test::RequestRecord> BatchPosts() const {
    std::vector<test::RequestRecord> out;
    for (const test::RequestRecord& r : upstream_->requests()) {
      if (r.method == "POST" && r.target.find("/info/lfs/objects/batch") != std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<test::TestUpstream> upstream_;
  std::unique_ptr<test::TestLfsEndpoint> lfs_;
  RecordingSleeper sleeper_;
};

TEST(LfsEndpointTest, DerivedFromTheCloneUrlLikeGitLfs) {
  EXPECT_EQ(LfsBatchClient::EndpointForCloneUrl("https://github.com/o/r.git"),
            "https://github.com/o/r.git/info/lfs");
  EXPECT_EQ(LfsBatchClient::EndpointForCloneUrl("https://github.com/o/r"),
            "https://github.com/o/r.git/info/lfs");
  EXPECT_EQ(LfsBatchClient::EndpointForCloneUrl("https://huggingface.co/THUDM/glm-4-9b/"),
            "https://huggingface.co/THUDM/glm-4-9b.git/info/lfs");
}

TEST_F(LfsBatchClientTest, ReturnsDownloadActionsWithHeadersAndExpiry) {
  ASSERT_OK_AND_ASSIGN(std::string oid1, lfs_->PutObject("first object"));
  ASSERT_OK_AND_ASSIGN(std::string oid2, lfs_->PutObject("second object!"));
  lfs_->SetHrefLifetime(seconds(600));
  const auto now = std::chrono::system_clock::from_time_t(2000000000);
  FixedClock clock(now);
  LfsBatchClientOptions options = Options();
  options.timing.clock = &clock;
  LfsBatchClient client(Endpoint(), options);

  ASSERT_OK_AND_ASSIGN(auto sources,
                       client.RequestDownload({{oid1, 12}, {oid2, 14}}, "refs/heads/main"));
  ASSERT_THAT(sources, SizeIs(2));
  EXPECT_EQ(sources[0].object.oid, oid1);
  EXPECT_EQ(sources[1].object.oid, oid2);
  for (const LfsObjectSource& s : sources) {
    ASSERT_OK(s.status);
    ASSERT_TRUE(s.action.has_value());
    EXPECT_THAT(s.action->href, HasSubstr("/lfs/objects/" + s.object.oid));
    EXPECT_TRUE(s.action->header.contains("X-Test-Lfs-Token"));
    EXPECT_EQ(s.action->expires, now + seconds(600));
    EXPECT_FALSE(s.action->send_token);  // anonymous client
  }
  EXPECT_EQ(lfs_->BatchRequests(), 1);
  EXPECT_THAT(lfs_->BatchedOids(), ElementsAre(oid1, oid2));
  std::vector<test::RequestRecord> posts = BatchPosts();
  ASSERT_THAT(posts, SizeIs(1));
  EXPECT_EQ(posts[0].target, "/o/r.git/info/lfs/objects/batch");
  EXPECT_THAT(posts[0].content_type, HasSubstr("application/vnd.git-lfs+json"));
  EXPECT_FALSE(posts[0].has_authorization);
}

TEST_F(LfsBatchClientTest, SendsTheSpecifiedRequest) {
  // An upstream whose batch endpoint is a route of the test, to see the request as sent.
  ASSERT_OK_AND_ASSIGN(auto spy, test::TestUpstream::Start(tmp_->path() / "spy"));
  std::mutex mu;
  std::optional<test::UpstreamRequest> seen;
  spy->AddRoute("/spy.git/info/lfs/objects/batch", [&](const test::UpstreamRequest& r) {
    std::lock_guard lock(mu);
    seen = r;
    return test::UpstreamResponse::Json(200, R"({"transfer":"basic","objects":[]})", kLfsMediaType);
  });
  LfsBatchClient client(LfsBatchClient::EndpointForCloneUrl(spy->UrlFor("spy")), Options());
  std::string oid(64, 'a');
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 5}}, "refs/heads/main"));
  ASSERT_THAT(sources, SizeIs(1));
  EXPECT_EQ(sources[0].status.code(), StatusCode::kUnavailable);  // not in the answer

  std::lock_guard lock(mu);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->method, "POST");
  EXPECT_THAT(seen->Header("Accept").value_or(""), HasSubstr(kLfsMediaType));
  EXPECT_THAT(seen->Header("Content-Type").value_or(""), HasSubstr(kLfsMediaType));
  ASSERT_OK_AND_ASSIGN(LfsBatchRequest request, ParseLfsBatchRequest(seen->body));
  EXPECT_EQ(request.operation, "download");
  EXPECT_THAT(request.transfers, ElementsAre("basic"));
  EXPECT_EQ(request.ref, "refs/heads/main");
  ASSERT_THAT(request.objects, SizeIs(1));
  EXPECT_EQ(request.objects[0].oid, oid);
  EXPECT_EQ(request.objects[0].size, 5u);
}

TEST_F(LfsBatchClientTest, SplitsIntoRequestsOfAtMostOneHundredObjects) {
  std::vector<LfsPointer> objects;
  for (int i = 0; i < 250; ++i) {
    char hex[65];
    snprintf(hex, sizeof hex, "%064x", i + 1);
    objects.push_back({hex, static_cast<uint64_t>(i)});
  }
  LfsBatchClient client(Endpoint(), Options());
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload(objects));
  ASSERT_THAT(sources, SizeIs(250));
  EXPECT_EQ(lfs_->BatchRequests(), 3);
  for (size_t i = 0; i < sources.size(); ++i) {
    EXPECT_EQ(sources[i].object, objects[i]);
    // None of them exists upstream: a per-object 404 each, not an error of the request.
    EXPECT_EQ(sources[i].status.code(), StatusCode::kNotFound) << sources[i].status.ToString();
  }
}

TEST_F(LfsBatchClientTest, PerObjectErrorsStayWithTheirObjects) {
  ASSERT_OK_AND_ASSIGN(std::string good, lfs_->PutObject("good"));
  ASSERT_OK_AND_ASSIGN(std::string gone, lfs_->PutObject("gone"));
  ASSERT_OK_AND_ASSIGN(std::string bad, lfs_->PutObject("bad"));
  lfs_->SetObjectFault(gone, BatchError(410));
  lfs_->SetObjectFault(bad, BatchError(422));
  LfsBatchClient client(Endpoint(), Options());
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{good, 4}, {gone, 4}, {bad, 3}}));
  ASSERT_THAT(sources, SizeIs(3));
  EXPECT_OK(sources[0].status);
  EXPECT_EQ(sources[1].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(sources[2].status.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(sources[1].action.has_value());
  EXPECT_EQ(client.attempts(), 1);  // per-object errors are not retried
}

TEST_F(LfsBatchClientTest, ReadsExpiryErrorsAndSizesFromAnyServersAnswer) {
  // Hand-written answers: both expiry forms (the earlier one wins), per-object errors, a
  // size that contradicts the pointer, an object without a download action.
  ASSERT_OK_AND_ASSIGN(auto hand, test::TestUpstream::Start(tmp_->path() / "hand"));
  const std::string a(64, 'a'), b(64, 'b'), c(64, 'c'), d(64, 'd'), e(64, 'e');
  hand->AddRoute("/hand.git/info/lfs/objects/batch", [&](const test::UpstreamRequest&) {
    std::string body = R"({"transfer":"basic","objects":[)"
                       R"({"oid":")" +
                       a +
                       R"(","size":1,"actions":{"download":{)"
                       R"("href":"https://cdn.example/a","expires_in":3600,)"
                       R"("expires_at":"2033-05-18T03:43:20Z"}}},)"  // 2000000000 + 600
                       R"({"oid":")" +
                       b +
                       R"(","size":2,"actions":{"download":{)"
                       R"("href":"https://cdn.example/b","expires_in":60,)"
                       R"("expires_at":"2033-05-18T03:43:20Z"}}},)"
                       R"({"oid":")" +
                       c +
                       R"(","size":3,"error":{"code":404,"message":"no"}},)"
                       R"({"oid":")" +
                       d +
                       R"(","size":99,"actions":{"download":{)"
                       R"("href":"https://cdn.example/d"}}},)"
                       R"({"oid":")" +
                       e +
                       R"(","size":5})"
                       "]}";
    return test::UpstreamResponse::Json(200, body, kLfsMediaType);
  });
  const auto now = std::chrono::system_clock::from_time_t(2000000000);
  FixedClock clock(now);
  LfsBatchClientOptions options = Options();
  options.timing.clock = &clock;
  options.token = kToken;
  LfsBatchClient client(LfsBatchClient::EndpointForCloneUrl(hand->UrlFor("hand")), options);
  ASSERT_OK_AND_ASSIGN(auto sources,
                       client.RequestDownload({{a, 1}, {b, 2}, {c, 3}, {d, 4}, {e, 5}}));
  ASSERT_THAT(sources, SizeIs(5));
  ASSERT_OK(sources[0].status);
  EXPECT_EQ(sources[0].action->expires, now + seconds(600));  // expires_at is earlier
  EXPECT_FALSE(sources[0].action->send_token);                // another origin
  ASSERT_OK(sources[1].status);
  EXPECT_EQ(sources[1].action->expires, now + seconds(60));  // expires_in is earlier
  EXPECT_EQ(sources[2].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(sources[3].status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(sources[3].status.message(), HasSubstr("99"));
  EXPECT_EQ(sources[4].status.code(), StatusCode::kUnavailable);
}

TEST_F(LfsBatchClientTest, HonoursRetryAfterOn429) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("rate limited"));
  int fault = upstream_->AddFault(
      WithHeader(StatusFault("/info/lfs/objects/batch", 429, 1), "Retry-After", "1"));
  LfsBatchClient client(Endpoint(), Options());
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 12}}));
  EXPECT_OK(sources[0].status);
  EXPECT_EQ(upstream_->FaultHits(fault), 1);
  EXPECT_EQ(client.attempts(), 2);
  EXPECT_THAT(BatchPosts(), SizeIs(2));
  EXPECT_THAT(sleeper_.waits(), ElementsAre(milliseconds(1000)));
}

TEST_F(LfsBatchClientTest, HonoursAnHttpDateRetryAfterOn503UpToTheMaximumWait) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("unavailable"));
  upstream_->AddFault(WithHeader(StatusFault("/info/lfs/objects/batch", 503, 1), "Retry-After",
                                 "Wed, 21 Oct 2015 07:28:07 GMT"));
  upstream_->AddFault(
      WithHeader(StatusFault("/info/lfs/objects/batch", 503, 1), "Retry-After", "86400"));
  FixedClock clock(std::chrono::system_clock::from_time_t(1445412480));  // 07:28:00
  LfsBatchClientOptions options = Options();
  options.timing.clock = &clock;
  options.max_retry_after = seconds(30);
  LfsBatchClient client(Endpoint(), options);
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 11}}));
  EXPECT_OK(sources[0].status);
  EXPECT_THAT(sleeper_.waits(), ElementsAre(milliseconds(7000), milliseconds(30000)));
}

TEST_F(LfsBatchClientTest, BacksOffWithJitterOnServerErrorsAndGivesUpAfterMaxAttempts) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("flaky"));
  upstream_->AddFault(StatusFault("/info/lfs/objects/batch", 500, 2));
  LfsBatchClient client(Endpoint(), Options());
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 5}}));
  EXPECT_OK(sources[0].status);
  EXPECT_EQ(client.attempts(), 3);
  std::vector<milliseconds> waits = sleeper_.waits();
  ASSERT_THAT(waits, SizeIs(2));
  EXPECT_LE(waits[0], milliseconds(100));
  EXPECT_LE(waits[1], milliseconds(200));

  upstream_->AddFault(StatusFault("/info/lfs/objects/batch", 502));
  LfsBatchClientOptions options = Options();
  options.max_attempts = 4;
  LfsBatchClient failing(Endpoint(), options);
  Result<std::vector<LfsObjectSource>> result = failing.RequestDownload({{oid, 5}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(result.status().message(), HasSubstr("502"));
  EXPECT_EQ(failing.attempts(), 4);
}

TEST_F(LfsBatchClientTest, RetriesConnectionFailures) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("dropped"));
  upstream_->AddFault(DropFault("/info/lfs/objects/batch", 3, 1));
  LfsBatchClient client(Endpoint(), Options());
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 7}}));
  EXPECT_OK(sources[0].status);
  EXPECT_EQ(client.attempts(), 2);
}

TEST_F(LfsBatchClientTest, WholeRequestAuthAndNotFoundErrorsAreFinal) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("private"));
  upstream_->SetRequireAuth("Basic " + Base64(std::string("x-access-token:") + kToken));

  LfsBatchClient anonymous(Endpoint(), Options());
  Result<std::vector<LfsObjectSource>> refused = anonymous.RequestDownload({{oid, 7}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("401"));
  EXPECT_EQ(anonymous.attempts(), 1);

  LfsBatchClientOptions options = Options();
  options.token = kToken;
  LfsBatchClient with_token(Endpoint(), options);
  ASSERT_OK_AND_ASSIGN(auto sources, with_token.RequestDownload({{oid, 7}}));
  ASSERT_OK(sources[0].status);
  // The href is on the endpoint's origin and brings no Authorization of its own.
  EXPECT_TRUE(sources[0].action->send_token);
  std::vector<test::RequestRecord> posts = BatchPosts();
  ASSERT_FALSE(posts.empty());
  EXPECT_TRUE(posts.back().has_authorization);

  upstream_->AddFault(StatusFault("/info/lfs/objects/batch", 404, 1));
  Result<std::vector<LfsObjectSource>> missing = with_token.RequestDownload({{oid, 7}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(with_token.attempts(), 2);
}

TEST_F(LfsBatchClientTest, TheTokenDoesNotFollowARedirectToAnotherOrigin) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("moved"));
  ASSERT_OK_AND_ASSIGN(auto front, test::TestUpstream::Start(tmp_->path() / "front"));
  const std::string target = upstream_->BaseUrl() + "/o/r.git/info/lfs/objects/batch";
  front->AddRoute("/moved.git/info/lfs/objects/batch", [&](const test::UpstreamRequest&) {
    test::UpstreamResponse r = test::UpstreamResponse::Text(307, "moved");
    r.headers.push_back({"Location", target});
    return r;
  });
  LfsBatchClientOptions options = Options();
  options.token = kToken;
  LfsBatchClient client(LfsBatchClient::EndpointForCloneUrl(front->UrlFor("moved")), options);
  ASSERT_OK_AND_ASSIGN(auto sources, client.RequestDownload({{oid, 5}}));
  EXPECT_OK(sources[0].status);

  std::vector<test::RequestRecord> first = front->requests();
  ASSERT_THAT(first, SizeIs(1));
  EXPECT_TRUE(first[0].has_authorization);
  std::vector<test::RequestRecord> second = BatchPosts();
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_FALSE(second[0].has_authorization);
  EXPECT_EQ(second[0].method, "POST");  // a 307 keeps the method and body
}

TEST_F(LfsBatchClientTest, CancelStopsAStalledRequest) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("stalled"));
  upstream_->AddFault(StallFault("/info/lfs/objects/batch"));
  std::atomic<bool> cancel{false};
  LfsBatchClientOptions options = Options();
  options.cancel = &cancel;
  options.stall_timeout = seconds(600);
  LfsBatchClient client(Endpoint(), options);
  Status outcome;
  std::thread worker([&] { outcome = client.RequestDownload({{oid, 7}}).status(); });
  Result<test::RequestRecord> stalled = upstream_->WaitForRequest(
      [](const test::RequestRecord& r) { return r.stalled; }, milliseconds(30'000));
  cancel = true;
  worker.join();
  ASSERT_OK(stalled);
  EXPECT_EQ(outcome.code(), StatusCode::kCancelled);
  EXPECT_EQ(client.attempts(), 1);
}

}  // namespace
}  // namespace mirrord
