// The libcurl smart-HTTP transport, through FetchMirror, against a local HTTP server that
// runs the real `git http-backend` or misbehaves on purpose.
#include "git/curl_transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/ref_publisher.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using gittest::CgiResponse;
using gittest::ForEachRef;
using gittest::RunHttpBackend;
using gittest::SendCgiResponse;
using gittest::TestHttpServer;
using gittest::Upstream;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "ghp_TopSecretToken123";

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server is on 127.0.0.1: never route it through a proxy from the environment.
    ::setenv("no_proxy", "*", 1);
    ::setenv("NO_PROXY", "*", 1);
    auto tmp = test::TempDir::Create("mirrord-curl-test-");
    ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    root_ = tmp_->path() / "srv";
    upstream_ = std::make_unique<Upstream>(root_ / "up");
    mirror_ = tmp_->path() / "mirror.git";
    ASSERT_TRUE(MirrorRepository::CreateOrOpen(mirror_).ok());
  }

  // A handler serving the upstream with git http-backend.
  TestHttpServer::Handler Cgi() {
    return [this](int fd, const TestHttpServer::Request& r, int) {
      SendCgiResponse(fd, RunHttpBackend(root_, r));
    };
  }

  FetchOptions Options(const TestHttpServer& server, const std::string& path = "/up/.git") {
    FetchOptions o;
    o.url = server.Url(path);
    o.refspecs = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    o.stall_timeout = std::chrono::seconds(2);
    o.connect_timeout = std::chrono::seconds(5);
    return o;
  }

  Result<FetchResult> FetchAndPublish(const FetchOptions& o) {
    ASSIGN_OR_RETURN(FetchResult fetched, FetchMirror(mirror_, o));
    RETURN_IF_ERROR(PublishRefs(mirror_, fetched.refs, fetched.head).status());
    return fetched;
  }

  std::unique_ptr<test::TempDir> tmp_;
  fs::path root_;
  std::unique_ptr<Upstream> upstream_;
  fs::path mirror_;
};

TEST_F(CurlTransportTest, FetchesOverSmartHttpAndConverges) {
  upstream_->Commit("one", 50, 1024);
  upstream_->G({"tag", "-a", "v1", "-m", "v1"});
  upstream_->G({"branch", "side"});
  TestHttpServer server(Cgi());
  int progress_calls = 0;
  FetchOptions o = Options(server);
  o.on_progress = [&](const FetchProgress&) { ++progress_calls; };
  auto fetched = FetchAndPublish(o);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(fetched->head, "refs/heads/main");
  EXPECT_GT(fetched->received_bytes, 50u * 1024 / 2);
  EXPECT_GT(progress_calls, 1);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());

  // Incremental: negotiation over stateless POSTs with our refs as haves.
  upstream_->Commit("two", 1);
  upstream_->G({"reset", "-q", "--hard", "HEAD~1"});
  upstream_->Commit("forced", 1);
  upstream_->G({"branch", "-D", "side"});
  fetched = FetchAndPublish(Options(server));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_LT(fetched->received_objects, 10u);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());

  std::vector<TestHttpServer::Request> requests = server.requests();
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/up/.git/info/refs");
  EXPECT_EQ(requests[0].query, "service=git-upload-pack");
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].path, "/up/.git/git-upload-pack");
  EXPECT_EQ(requests[1].headers["content-type"], "application/x-git-upload-pack-request");
  // Anonymous: no credentials, and no protocol v2 request (libgit2 1.5 speaks v0 only).
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);
  EXPECT_EQ(requests[0].headers.count("git-protocol"), 0u);
}

// A case libgit2 1.5's own negotiation gets wrong (upload_pack_request.h): a side branch with
// its own long history and the most recent tip fills the first batch of haves, negotiation
// stops there, and the upstream would resend all of main's history since the fork. With the
// mirror's tips as extra haves, one new commit on main costs one commit's objects.
TEST_F(CurlTransportTest, IncrementalFetchDownloadsOnlyWhatIsNew) {
  auto at = [](const std::string& date) {
    ::setenv("GIT_COMMITTER_DATE", date.c_str(), 1);
    ::setenv("GIT_AUTHOR_DATE", date.c_str(), 1);
  };
  auto minute = [](int year, int i) {
    return std::to_string(year) + "-01-01T" + std::to_string(10 + i / 40) + ":" +
           std::to_string(10 + i % 40) + ":00Z";
  };
  at(minute(2020, 0));
  upstream_->Commit("root");
  upstream_->G({"checkout", "-q", "-b", "archive"});
  for (int i = 1; i <= 30; ++i) {
    at(minute(2026, i));
    upstream_->Commit("old " + std::to_string(i));
  }
  upstream_->G({"checkout", "-q", "main"});
  for (int i = 0; i < 60; ++i) {
    at(minute(2024, i));
    upstream_->Commit("main " + std::to_string(i));
    if (i % 10 == 0) upstream_->G({"tag", "-a", "v" + std::to_string(i), "-m", "release"});
  }
  TestHttpServer server(Cgi());
  auto fetched = FetchAndPublish(Options(server));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_GE(fetched->received_objects, 270u);  // 91 commits, their trees and blobs

  at("2025-01-01T00:00:00Z");
  upstream_->Commit("new on main");
  ::unsetenv("GIT_COMMITTER_DATE");
  ::unsetenv("GIT_AUTHOR_DATE");
  fetched = FetchAndPublish(Options(server));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  // One commit, its tree and one new blob.
  EXPECT_LE(fetched->received_objects, 3u);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
}

TEST_F(CurlTransportTest, TokenIsSentAsBasicAuthAndNeverShownOnFailure) {
  upstream_->Commit("one");
  // base64("x-access-token:ghp_TopSecretToken123")
  const std::string expected = "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX1RvcFNlY3JldFRva2VuMTIz";
  TestHttpServer server([&](int fd, const TestHttpServer::Request& r, int) {
    auto it = r.headers.find("authorization");
    if (it == r.headers.end() || it->second != expected) {
      TestHttpServer::SendResponse(fd, 401, "Unauthorized", "text/plain",
                                   "Invalid username or password.\n");
      return;
    }
    SendCgiResponse(fd, RunHttpBackend(root_, r));
  });
  FetchOptions o = Options(server);
  o.token = kToken;
  auto fetched = FetchAndPublish(o);
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());

  o.token = "wrong-" + std::string(kToken);
  auto rejected = FetchMirror(mirror_, o);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(rejected.status().message(), HasSubstr("401"));
  EXPECT_THAT(rejected.status().message(), HasSubstr("Invalid username or password"));
  EXPECT_THAT(rejected.status().message(), Not(HasSubstr(kToken)));

  o.token.clear();
  rejected = FetchMirror(mirror_, o);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(rejected.status().message(), HasSubstr("token"));
}

TEST_F(CurlTransportTest, HttpStatusesMapToStatusCodes) {
  struct Case {
    int status;
    const char* reason;
    StatusCode expected;
    const char* in_message;
  } cases[] = {
      {404, "Not Found", StatusCode::kNotFound, "has no such repository"},
      {403, "Forbidden", StatusCode::kPermissionDenied, "403"},
      {500, "Internal Server Error", StatusCode::kUnavailable, "HTTP 500"},
      {503, "Service Unavailable", StatusCode::kUnavailable, "HTTP 503"},
      {429, "Too Many Requests", StatusCode::kResourceExhausted, "429"},
  };
  for (const Case& c : cases) {
    TestHttpServer server([&](int fd, const TestHttpServer::Request&, int) {
      TestHttpServer::SendResponse(fd, c.status, c.reason, "text/plain", "nope\n");
    });
    auto fetched = FetchMirror(mirror_, Options(server));
    ASSERT_FALSE(fetched.ok()) << c.status;
    EXPECT_EQ(fetched.status().code(), c.expected) << fetched.status().ToString();
    EXPECT_THAT(fetched.status().message(), HasSubstr(c.in_message));
  }
}

TEST_F(CurlTransportTest, NonSmartServerIsReported) {
  TestHttpServer server([&](int fd, const TestHttpServer::Request&, int) {
    TestHttpServer::SendResponse(fd, 200, "OK", "text/html", "<html>captive portal</html>");
  });
  auto fetched = FetchMirror(mirror_, Options(server));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(fetched.status().message(), HasSubstr("smart HTTP"));
}

TEST_F(CurlTransportTest, StalledAdvertisementHitsTheStallTimeout) {
  TestHttpServer server([&](int fd, const TestHttpServer::Request&, int stop_fd) {
    TestHttpServer::Send(fd,
                         "HTTP/1.1 200 OK\r\nContent-Type: "
                         "application/x-git-upload-pack-advertisement\r\n\r\n");
    TestHttpServer::WaitForStop(stop_fd);
  });
  auto start = Clock::now();
  auto fetched = FetchMirror(mirror_, Options(server));
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kDeadlineExceeded) << fetched.status().ToString();
  EXPECT_THAT(fetched.status().message(), HasSubstr("no data for 2 s"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(CurlTransportTest, StallInTheMiddleOfThePackHitsTheStallTimeout) {
  upstream_->Commit("big", 100, 2048);
  TestHttpServer server([&](int fd, const TestHttpServer::Request& r, int stop_fd) {
    CgiResponse cgi = RunHttpBackend(root_, r);
    if (r.method == "POST") {
      SendCgiResponse(fd, cgi, cgi.body.size() / 2, [&] { TestHttpServer::WaitForStop(stop_fd); });
    } else {
      SendCgiResponse(fd, cgi);
    }
  });
  auto start = Clock::now();
  auto fetched = FetchMirror(mirror_, Options(server));
  auto elapsed = Clock::now() - start;
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kDeadlineExceeded) << fetched.status().ToString();
  EXPECT_THAT(fetched.status().message(), HasSubstr("no data for 2 s"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  // Nothing was published and no temporary pack is left behind.
  EXPECT_EQ(ForEachRef(mirror_), "");
  for (const auto& e : fs::directory_iterator(mirror_ / "objects" / "pack")) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
}

TEST_F(CurlTransportTest, TruncatedResponseIsUnavailableWithCurlsReason) {
  upstream_->Commit("big", 50, 2048);
  TestHttpServer server([&](int fd, const TestHttpServer::Request& r, int) {
    CgiResponse cgi = RunHttpBackend(root_, r);
    // POST: close the connection halfway through the declared body.
    SendCgiResponse(fd, cgi, r.method == "POST" ? cgi.body.size() / 2 : std::string::npos);
  });
  auto fetched = FetchMirror(mirror_, Options(server));
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kUnavailable) << fetched.status().ToString();
  EXPECT_THAT(fetched.status().message(), HasSubstr("transfer closed with"));
}

TEST_F(CurlTransportTest, CancelAbortsAStalledTransferPromptly) {
  TestHttpServer server([&](int fd, const TestHttpServer::Request&, int stop_fd) {
    TestHttpServer::Send(fd,
                         "HTTP/1.1 200 OK\r\nContent-Type: "
                         "application/x-git-upload-pack-advertisement\r\n\r\n");
    TestHttpServer::WaitForStop(stop_fd);
  });
  std::atomic<bool> cancel{false};
  FetchOptions o = Options(server);
  o.stall_timeout = std::chrono::seconds(60);
  o.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.store(true);
  });
  auto start = Clock::now();
  auto fetched = FetchMirror(mirror_, o);
  auto elapsed = Clock::now() - start;
  canceller.join();
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kCancelled) << fetched.status().ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(CurlTransportTest, AdvertisementRedirectIsFollowedAndPostsGoThere) {
  upstream_->Commit("one");
  TestHttpServer server([&](int fd, const TestHttpServer::Request& r, int) {
    if (r.path.rfind("/old/", 0) == 0) {
      std::string location = "/up/.git" + r.path.substr(std::string("/old/repo").size()) +
                             (r.query.empty() ? "" : "?" + r.query);
      TestHttpServer::Send(fd, "HTTP/1.1 301 Moved Permanently\r\nLocation: " + location +
                                   "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return;
    }
    SendCgiResponse(fd, RunHttpBackend(root_, r));
  });
  auto fetched = FetchAndPublish(Options(server, "/old/repo"));
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
  std::vector<TestHttpServer::Request> requests = server.requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_EQ(requests[0].path, "/old/repo/info/refs");
  EXPECT_EQ(requests[1].path, "/up/.git/info/refs");
  EXPECT_EQ(requests[2].path, "/up/.git/git-upload-pack");
}

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailable) {
  std::string url;
  {
    TestHttpServer server([](int, const TestHttpServer::Request&, int) {});
    url = server.Url("/up/.git");
  }  // closed: nothing listens on that port any more
  FetchOptions o;
  o.url = url;
  o.refspecs = {"refs/heads/*"};
  auto fetched = FetchMirror(mirror_, o);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kUnavailable) << fetched.status().ToString();
}

}  // namespace
}  // namespace mirrord
