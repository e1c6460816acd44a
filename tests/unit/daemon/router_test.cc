#include "daemon/router.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>

#include "daemon/http_exchange.h"

namespace mirrord {
namespace {

boost::asio::awaitable<void> Noop(HttpExchange&) { co_return; }

RepoPath Parse(std::string_view path) {
  Result<RepoPath> r = ParseRepoPath(path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  return r.ok() ? *r : RepoPath{};
}

TEST(ParseRepoPathTest, SmartHttpPathsWithAndWithoutDotGit) {
  RepoPath p = Parse("/owner/repo.git/info/refs");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "/info/refs");
  p = Parse("/owner/repo/info/refs");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "/info/refs");
  p = Parse("/owner/repo.git/git-upload-pack");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "/git-upload-pack");
  p = Parse("/hf/org/model/git-receive-pack");
  EXPECT_EQ(p.name, "hf/org/model");
  EXPECT_EQ(p.rest, "/git-receive-pack");
  // Only the reserved first segments are mirrord's own; "metrics2" is an ordinary owner.
  p = Parse("/metrics2/x");
  EXPECT_EQ(p.name, "metrics2/x");
  // A repository may be called "info".
  p = Parse("/info/info/refs");
  EXPECT_EQ(p.name, "info");
  EXPECT_EQ(p.rest, "/info/refs");
}

TEST(ParseRepoPathTest, LfsPaths) {
  RepoPath p = Parse("/hf/org/model.git/info/lfs/objects/batch");
  EXPECT_EQ(p.name, "hf/org/model");
  EXPECT_EQ(p.rest, "/info/lfs/objects/batch");
  p = Parse("/org/model/info/lfs/objects/0123abcd");
  EXPECT_EQ(p.name, "org/model");
  EXPECT_EQ(p.rest, "/info/lfs/objects/0123abcd");
  p = Parse("/org/model.git/info/lfs");
  EXPECT_EQ(p.name, "org/model");
  EXPECT_EQ(p.rest, "/info/lfs");
}

TEST(ParseRepoPathTest, OtherPathsSplitAfterDotGit) {
  RepoPath p = Parse("/owner/repo.git/objects/info/packs");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "/objects/info/packs");
  p = Parse("/owner/repo.git/HEAD");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "/HEAD");
  p = Parse("/owner/repo.git");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "");
  p = Parse("/owner/repo");
  EXPECT_EQ(p.name, "owner/repo");
  EXPECT_EQ(p.rest, "");
}

TEST(ParseRepoPathTest, RejectsBadNames) {
  for (std::string_view bad :
       {"//etc/passwd", "/../../etc/passwd/info/refs", "/owner/../repo.git/info/refs",
        "/owner/re\x01po.git/info/refs", "/owner//repo.git/info/refs", "/info/refs",
        "/owner/.hidden.git/info/refs", "/owner/repo.lock/info/refs",
        "/owner/repo name.git/info/refs", "/a/b/c/d/e/f/g/h/i/info/refs"}) {
    Result<RepoPath> r = ParseRepoPath(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
  std::string long_segment = "/owner/" + std::string(101, 'a') + ".git/info/refs";
  EXPECT_FALSE(ParseRepoPath(long_segment).ok());
}

// Records what a RouteMatch's handler answers.
class RecordingExchange : public HttpExchange {
 public:
  explicit RecordingExchange(http::verb method) { request_.method(method); }
  const HttpRequest& request() const override { return request_; }
  const std::string& path() const override { return path_; }
  const std::map<std::string, std::string>& query() const override { return query_; }
  boost::asio::any_io_executor executor() const override { return {}; }
  const std::string& peer() const override { return path_; }
  boost::asio::awaitable<void> Respond(HttpResponse response) override {
    response_ = std::move(response);
    co_return;
  }
  boost::asio::awaitable<bool> BeginStream(http::response<http::empty_body>) override {
    co_return false;
  }
  boost::asio::awaitable<bool> Write(std::string_view) override { co_return false; }
  boost::asio::awaitable<void> EndStream() override { co_return; }
  boost::asio::awaitable<bool> SendFile(http::response<http::empty_body>, int, uint64_t,
                                        uint64_t) override {
    co_return false;
  }
  boost::asio::awaitable<bool> SendPieces(http::response<http::empty_body>,
                                          std::vector<BodyPiece>) override {
    co_return false;
  }

  HttpRequest request_;
  std::string path_;
  std::map<std::string, std::string> query_;
  HttpResponse response_;
};

HttpResponse Answer(const RouteMatch& match, http::verb method) {
  boost::asio::io_context io;
  RecordingExchange ex(method);
  boost::asio::co_spawn(io, match.handler(ex), boost::asio::detached);
  io.run();
  return ex.response_;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add(http::verb::get, "/healthz", Noop);
    router_.Add({http::verb::get, http::verb::post}, "/metrics", Noop,
                {.body_limit = 10, .on_body_too_large = {}});
    router_.AddPrefix({http::verb::get, http::verb::post, http::verb::delete_}, "/api/v1/", Noop,
                      {.body_limit = 1000, .on_body_too_large = {}});
    router_.SetRepoHandler(
        [this](HttpExchange&, const RepoPath& repo) -> boost::asio::awaitable<void> {
          last_repo_ = repo;
          co_return;
        },
        {.body_limit = 77, .on_body_too_large = {}});
  }

  Router router_;
  RepoPath last_repo_;
};

TEST_F(RouterTest, ExactAndPrefixRoutes) {
  RouteMatch m = router_.Match(http::verb::get, "/healthz");
  EXPECT_TRUE(m.read_body);
  EXPECT_EQ(m.body_limit, kDefaultBodyLimit);
  m = router_.Match(http::verb::post, "/metrics");
  EXPECT_TRUE(m.read_body);
  EXPECT_EQ(m.body_limit, 10u);
  m = router_.Match(http::verb::delete_, "/api/v1/repos/a/b");
  EXPECT_TRUE(m.read_body);
  EXPECT_EQ(m.body_limit, 1000u);
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  RouteMatch m = router_.Match(http::verb::head, "/healthz");
  EXPECT_TRUE(m.read_body);
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  RouteMatch m = router_.Match(http::verb::post, "/healthz");
  EXPECT_FALSE(m.read_body);
  HttpResponse r = Answer(m, http::verb::post);
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "GET, HEAD");
  r = Answer(router_.Match(http::verb::put, "/api/v1/repos"), http::verb::put);
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "GET, POST, DELETE, HEAD");
}

TEST_F(RouterTest, UnknownPathsAre404) {
  for (std::string_view path :
       {"/", "/healthz/extra", "/api/v2/x", "/metrics/x", "/webhooks/x", "/readyz",
        "/datasets/org/data.git/info/refs", "/datasets/org/data/info/lfs/objects/batch"}) {
    RouteMatch m = router_.Match(http::verb::get, path);
    EXPECT_FALSE(m.read_body) << path;
    EXPECT_EQ(Answer(m, http::verb::get).result(), http::status::not_found) << path;
  }
}

TEST_F(RouterTest, RepoFallbackGetsParsedPath) {
  RouteMatch m = router_.Match(http::verb::post, "/owner/repo.git/git-upload-pack");
  EXPECT_TRUE(m.read_body);
  EXPECT_EQ(m.body_limit, 77u);
  Answer(m, http::verb::post);
  EXPECT_EQ(last_repo_.name, "owner/repo");
  EXPECT_EQ(last_repo_.rest, "/git-upload-pack");
}

TEST_F(RouterTest, RepoOptionsPerPath) {
  Router r;
  r.SetRepoHandler(
      [](HttpExchange&, const RepoPath&) -> boost::asio::awaitable<void> { co_return; },
      [](http::verb method, const RepoPath& repo) {
        RouteOptions o;
        if (repo.rest == "/info/lfs/objects/batch") o.body_limit = 4096;
        if (method == http::verb::put) o.read_body = false;
        return o;
      });
  RouteMatch batch = r.Match(http::verb::post, "/o/r.git/info/lfs/objects/batch");
  EXPECT_EQ(batch.body_limit, 4096u);
  EXPECT_TRUE(batch.read_body);
  RouteMatch pack = r.Match(http::verb::post, "/o/r.git/git-upload-pack");
  EXPECT_EQ(pack.body_limit, kDefaultBodyLimit);
  EXPECT_FALSE(r.Match(http::verb::put, "/o/r.git/info/lfs/objects/x").read_body);
}

TEST_F(RouterTest, InvalidRepoNameIs400WithReason) {
  RouteMatch m = router_.Match(http::verb::get, "//etc/passwd");
  EXPECT_FALSE(m.read_body);
  HttpResponse r = Answer(m, http::verb::get);
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_NE(r.body().find("absolute path"), std::string::npos) << r.body();
  EXPECT_EQ(last_repo_.name, "");  // the repository handler never ran
}

TEST_F(RouterTest, NoRepoHandlerMeans404) {
  Router bare;
  bare.Add(http::verb::get, "/healthz", Noop);
  EXPECT_EQ(
      Answer(bare.Match(http::verb::get, "/owner/repo.git/info/refs"), http::verb::get).result(),
      http::status::not_found);
}

TEST(ParseRequestTargetTest, DecodesPathAndQuery) {
  Result<RequestTarget> t = ParseRequestTarget("/a%20b/c%2Fd?service=git-upload-pack&x=1+2&y");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/a b/c/d");
  EXPECT_EQ(t->query.at("service"), "git-upload-pack");
  EXPECT_EQ(t->query.at("x"), "1 2");
  EXPECT_EQ(t->query.at("y"), "");
  t = ParseRequestTarget("/x%01y");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, std::string("/x\x01y"));
  EXPECT_FALSE(ParseRequestTarget("/bad%zz").ok());
  EXPECT_FALSE(ParseRequestTarget("/bad%2").ok());
  EXPECT_FALSE(ParseRequestTarget("http://host/x").ok());
  EXPECT_FALSE(ParseRequestTarget("*").ok());
}

}  // namespace
}  // namespace mirrord
