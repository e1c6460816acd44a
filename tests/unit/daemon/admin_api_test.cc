// AdminApi driven through a fake HttpExchange on a real io_context and thread pool, with a
// fake SyncService (our own seam) behind it.
#include "daemon/admin_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/api_json.h"

namespace mirrord {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using ::testing::HasSubstr;

constexpr char kToken[] = "0123456789abcdef0123456789abcdef";

// Records what the handler answers. Write() fails from the `fail_writes_after`-th chunk on,
// as a departed client does.
class FakeExchange : public HttpExchange {
 public:
  FakeExchange(asio::any_io_executor executor, HttpRequest request, std::string path,
               std::map<std::string, std::string> query)
      : executor_(std::move(executor)),
        request_(std::move(request)),
        path_(std::move(path)),
        query_(std::move(query)) {}

  const HttpRequest& request() const override { return request_; }
  const std::string& path() const override { return path_; }
  const std::map<std::string, std::string>& query() const override { return query_; }
  asio::any_io_executor executor() const override { return executor_; }
  const std::string& peer() const override { return peer_; }

  asio::awaitable<void> Respond(HttpResponse response) override {
    ++answers;
    response_ = std::move(response);
    co_return;
  }
  asio::awaitable<bool> BeginStream(http::response<http::empty_body> header) override {
    ++answers;
    stream_header = std::move(header);
    co_return true;
  }
  asio::awaitable<bool> Write(std::string_view data) override {
    if (fail_writes_after >= 0 && static_cast<int>(chunks.size()) >= fail_writes_after) {
      co_return false;
    }
    chunks.emplace_back(data);
    co_return true;
  }
  asio::awaitable<void> EndStream() override {
    stream_ended = true;
    co_return;
  }
  asio::awaitable<bool> SendFile(http::response<http::empty_body>, int, uint64_t,
                                 uint64_t) override {
    ++answers;
    co_return false;
  }
  asio::awaitable<bool> SendPieces(http::response<http::empty_body>,
                                   std::vector<BodyPiece>) override {
    ++answers;
    co_return false;
  }

  const HttpResponse& response() const { return *response_; }
  bool responded() const { return response_.has_value(); }

  int answers = 0;
  std::optional<http::response<http::empty_body>> stream_header;
  std::vector<std::string> chunks;
  bool stream_ended = false;
  int fail_writes_after = -1;

 private:
  asio::any_io_executor executor_;
  HttpRequest request_;
  std::string path_;
  std::map<std::string, std::string> query_;
  std::string peer_ = "127.0.0.1:40000";
  std::optional<HttpResponse> response_;
};

// An in-memory SyncService. GetRun replays a scripted sequence of views per run (the last
// one repeats). Called from the blocking pool, hence the mutex.
class FakeSyncService : public SyncService {
 public:
  Result<RepoStatus> RegisterRepo(const RepoSpec& spec) override {
    std::lock_guard lock(mu_);
    registered.push_back(spec);
    auto it = repos_.find(spec.name);
    if (it != repos_.end()) {
      if (specs_[spec.name].upstream != spec.upstream || specs_[spec.name].url != spec.url ||
          specs_[spec.name].path != spec.path) {
        return AlreadyExists("repo " + spec.name + " is mirrored from elsewhere");
      }
      return it->second;
    }
    RepoStatus s;
    s.name = spec.name;
    s.upstream = spec.upstream;
    s.url = spec.url.empty() ? "https://github.com/" + spec.name + ".git" : spec.url;
    s.state = "new";
    repos_[spec.name] = s;
    specs_[spec.name] = spec;
    return s;
  }

  Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) override {
    std::lock_guard lock(mu_);
    if (shutting_down) return Cancelled("mirrord is shutting down");
    if (!repos_.count(std::string(name)))
      return NotFound("repo " + std::string(name) + " is not mirrored");
    last_trigger = trigger.trigger;
    return next_run_id;
  }

  Result<QueueView> GetQueue() override {
    std::lock_guard lock(mu_);
    return queue;
  }

  Result<SyncRunView> GetRun(int64_t run_id) override {
    std::lock_guard lock(mu_);
    ++get_run_calls;
    auto it = scripts_.find(run_id);
    if (it == scripts_.end() || it->second.empty())
      return NotFound("no run " + std::to_string(run_id));
    SyncRunView v = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    if (v.state == "vanish") return NotFound("run " + std::to_string(run_id) + " was removed");
    return v;
  }

  Result<std::vector<RepoStatus>> ListRepos() override {
    std::lock_guard lock(mu_);
    if (fail_list) return Internal("catalog is corrupt");
    std::vector<RepoStatus> out;
    for (const auto& [name, s] : repos_) out.push_back(s);
    return out;
  }

  Result<RepoStatus> GetRepoStatus(std::string_view name) override {
    std::lock_guard lock(mu_);
    auto it = repos_.find(std::string(name));
    if (it == repos_.end()) return NotFound("repo " + std::string(name) + " is not mirrored");
    return it->second;
  }

  Status RemoveRepo(std::string_view name) override {
    std::lock_guard lock(mu_);
    if (!repos_.erase(std::string(name))) {
      return NotFound("repo " + std::string(name) + " is not mirrored");
    }
    specs_.erase(std::string(name));
    return Status::Ok();
  }

  void AddRepo(const std::string& name, const std::string& upstream = "github") {
    ASSERT_TRUE(RegisterRepo(RepoSpec{name, upstream, "", ""}).ok());
    registered.clear();
  }
  void Script(int64_t run_id, std::vector<SyncRunView> views) {
    std::lock_guard lock(mu_);
    scripts_[run_id] = std::deque<SyncRunView>(views.begin(), views.end());
  }

  std::vector<RepoSpec> registered;
  std::optional<SyncTrigger> last_trigger;
  int64_t next_run_id = 7;
  QueueView queue;
  int get_run_calls = 0;
  bool shutting_down = false;
  bool fail_list = false;

 private:
  std::mutex mu_;
  std::map<std::string, RepoStatus> repos_;
  std::map<std::string, RepoSpec> specs_;
  std::map<int64_t, std::deque<SyncRunView>> scripts_;
};

SyncRunView View(std::string state, std::string phase, uint64_t received = 0, uint64_t total = 0) {
  SyncRunView v;
  v.run_id = 7;
  v.repo = "THUDM/GLM-4";
  v.trigger = "manual";
  v.state = std::move(state);
  v.progress.phase = std::move(phase);
  v.progress.received_objects = received;
  v.progress.total_objects = total;
  return v;
}

class AdminApiTest : public ::testing::Test {
 protected:
  struct Request {
    Request(http::verb m, std::string p) : method(m), path(std::move(p)) {}
    explicit Request(std::string p) : Request(http::verb::get, std::move(p)) {}
    Request& Body(std::string b) {
      body = std::move(b);
      return *this;
    }
    Request& Query(std::string key, std::string value) {
      query[std::move(key)] = std::move(value);
      return *this;
    }
    Request& Auth(std::optional<std::string> a) {
      authorization = std::move(a);
      return *this;
    }

    http::verb method;
    std::string path;
    std::map<std::string, std::string> query;
    std::string body;
    std::optional<std::string> authorization = std::string("Bearer ") + kToken;
  };

  // Runs one exchange to completion and returns it.
  std::unique_ptr<FakeExchange> Send(const Request& r, int fail_writes_after = -1) {
    HttpRequest req{r.method, r.path, 11};
    if (r.authorization) req.set(http::field::authorization, *r.authorization);
    req.body() = r.body;
    req.prepare_payload();
    auto ex = std::make_unique<FakeExchange>(ioc_.get_executor(), std::move(req), r.path, r.query);
    ex->fail_writes_after = fail_writes_after;
    AdminApi api(service_, pool_, token_, options_);
    auto work = asio::make_work_guard(ioc_);
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ioc_, api.Handle(*ex), [&](std::exception_ptr e) {
      error = e;
      done = true;
      work.reset();
    });
    ioc_.restart();
    ioc_.run();
    EXPECT_TRUE(done);
    EXPECT_FALSE(error) << "Handle() threw";
    EXPECT_EQ(ex->answers, 1) << "the handler must answer exactly once";
    return ex;
  }

  static json::value Body(const FakeExchange& ex) {
    auto v = ParseJson(ex.response().body());
    EXPECT_TRUE(v.ok()) << ex.response().body();
    return v.ok() ? *v : json::value();
  }
  static std::string ErrorCode(const FakeExchange& ex) {
    json::value v = Body(ex);
    const json::value* code = v.is_object() ? v.as_object().if_contains("error") : nullptr;
    if (!code || !code->is_object() || !code->as_object().if_contains("code")) return "";
    return std::string(code->as_object().at("code").as_string());
  }

  asio::io_context ioc_;
  asio::thread_pool pool_{2};
  FakeSyncService service_;
  std::string token_ = kToken;
  AdminApiOptions options_{std::chrono::milliseconds(1), std::chrono::seconds(60)};
};

TEST_F(AdminApiTest, MissingTokenIs401WithBearerChallenge) {
  auto ex = Send(Request("/api/v1/repos").Auth(std::nullopt));
  EXPECT_EQ(ex->response().result(), http::status::unauthorized);
  EXPECT_THAT(std::string(ex->response()[http::field::www_authenticate]), HasSubstr("Bearer"));
  EXPECT_EQ(ErrorCode(*ex), "Unauthenticated");
  EXPECT_EQ(ex->response()[http::field::content_type], "application/json");
}

TEST_F(AdminApiTest, OtherSchemeIs401) {
  auto ex = Send(Request("/api/v1/repos").Auth(std::string("Basic ") + kToken));
  EXPECT_EQ(ex->response().result(), http::status::unauthorized);
  EXPECT_THAT(std::string(ex->response()[http::field::www_authenticate]), HasSubstr("Bearer"));
}

TEST_F(AdminApiTest, WrongTokenIs401AndNeverReachesTheService) {
  service_.AddRepo("a/b");
  auto ex = Send(Request(http::verb::delete_, "/api/v1/repos/a/b").Auth("Bearer wrong"));
  EXPECT_EQ(ex->response().result(), http::status::unauthorized);
  EXPECT_EQ(ErrorCode(*ex), "Unauthenticated");
  EXPECT_THAT(ex->response().body(), ::testing::Not(HasSubstr(kToken)));
  EXPECT_TRUE(service_.GetRepoStatus("a/b").ok());
}

TEST_F(AdminApiTest, EmptyConfiguredTokenRejectsEmptyBearer) {
  token_.clear();
  auto ex = Send(Request("/api/v1/repos").Auth("Bearer "));
  EXPECT_EQ(ex->response().result(), http::status::unauthorized);
}

TEST_F(AdminApiTest, RightTokenAnySchemeCase) {
  auto ex = Send(Request("/api/v1/repos").Auth(std::string("bearer  ") + kToken));
  EXPECT_EQ(ex->response().result(), http::status::ok);
}

TEST_F(AdminApiTest, ListRepos) {
  service_.AddRepo("THUDM/GLM-4");
  service_.AddRepo("hf/THUDM/chatglm3-6b", "hf");
  auto ex = Send(Request("/api/v1/repos"));
  ASSERT_EQ(ex->response().result(), http::status::ok);
  EXPECT_EQ(ex->response()[http::field::content_type], "application/json");
  json::value v = Body(*ex);
  ASSERT_TRUE(v.at("repos").is_array());
  ASSERT_EQ(v.at("repos").as_array().size(), 2u);
  auto first = RepoStatusFromJson(v.at("repos").as_array()[0]);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->name, "THUDM/GLM-4");
  EXPECT_EQ(first->upstream, "github");
  EXPECT_TRUE(v.at("repos").as_array()[0].as_object().contains("last_run"));
}

TEST_F(AdminApiTest, ListReposFailureIs500WithErrorBody) {
  service_.fail_list = true;
  auto ex = Send(Request("/api/v1/repos"));
  EXPECT_EQ(ex->response().result(), http::status::internal_server_error);
  EXPECT_EQ(ErrorCode(*ex), "Internal");
}

TEST_F(AdminApiTest, CreateRepoThenSameAgainThenDifferent) {
  Request create = Request(http::verb::post, "/api/v1/repos")
                       .Body(R"({"name": "THUDM/GLM-4", "upstream": "github"})");
  auto ex = Send(create);
  ASSERT_EQ(ex->response().result(), http::status::created) << ex->response().body();
  EXPECT_EQ(ex->response()[http::field::location], "/api/v1/repos/THUDM/GLM-4");
  auto repo = RepoStatusFromJson(Body(*ex));
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ(repo->name, "THUDM/GLM-4");
  ASSERT_EQ(service_.registered.size(), 1u);
  EXPECT_EQ(service_.registered[0].upstream, "github");

  ex = Send(create);
  EXPECT_EQ(ex->response().result(), http::status::ok);

  ex = Send(Request(http::verb::post, "/api/v1/repos")
                .Body(R"({"name": "THUDM/GLM-4", "url": "https://example.com/x.git"})"));
  EXPECT_EQ(ex->response().result(), http::status::conflict);
  EXPECT_EQ(ErrorCode(*ex), "AlreadyExists");
}

TEST_F(AdminApiTest, CreateRepoCanonicalisesName) {
  auto ex = Send(Request(http::verb::post, "/api/v1/repos")
                     .Body(R"({"name": "a/b.git", "upstream": "hf", "path": "x/y"})"));
  ASSERT_EQ(ex->response().result(), http::status::created);
  ASSERT_EQ(service_.registered.size(), 1u);
  EXPECT_EQ(service_.registered[0].name, "a/b");
  EXPECT_EQ(service_.registered[0].path, "x/y");
}

TEST_F(AdminApiTest, CreateRepoRejectsBadBodies) {
  const char* bodies[] = {
      "{not json",
      "[1, 2]",
      R"({"name": "a/b", "upstream": "github",})",
      R"({"name": "a/b", "upstream": "github", "upsteam": "x"})",
      R"({"name": 42, "upstream": "github"})",
      R"({"upstream": "github"})",
      R"({"name": "a/b"})",
      R"({"name": "a/b", "upstream": "github", "url": "https://example.com/x.git"})",
      R"({"name": "a/b", "url": "https://example.com/x.git", "path": "p"})",
      R"({"name": "../etc", "upstream": "github"})",
      R"({"name": "a:b", "upstream": "github"})",
      R"({"name": "api/x", "upstream": "github"})",
  };
  for (const char* body : bodies) {
    auto ex = Send(Request(http::verb::post, "/api/v1/repos").Body(body));
    EXPECT_EQ(ex->response().result(), http::status::bad_request) << body;
    EXPECT_EQ(ErrorCode(*ex), "InvalidArgument") << body;
  }
  EXPECT_TRUE(service_.registered.empty());
}

TEST_F(AdminApiTest, GetRepo) {
  service_.AddRepo("hf/THUDM/chatglm3-6b", "hf");
  auto ex = Send(Request("/api/v1/repos/hf/THUDM/chatglm3-6b"));
  ASSERT_EQ(ex->response().result(), http::status::ok);
  auto repo = RepoStatusFromJson(Body(*ex));
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ(repo->name, "hf/THUDM/chatglm3-6b");
  EXPECT_EQ(repo->upstream, "hf");
}

TEST_F(AdminApiTest, GetUnknownRepoIs404WithErrorBody) {
  auto ex = Send(Request("/api/v1/repos/no/such"));
  EXPECT_EQ(ex->response().result(), http::status::not_found);
  json::value v = Body(*ex);
  EXPECT_EQ(v.at("error").at("code").as_string(), "NotFound");
  EXPECT_THAT(std::string(v.at("error").at("message").as_string()), HasSubstr("no/such"));
}

TEST_F(AdminApiTest, InvalidNameIs400) {
  for (const char* path : {"/api/v1/repos/a//b", "/api/v1/repos/.hidden/x", "/api/v1/repos/a b",
                           "/api/v1/repos/../x"}) {
    auto ex = Send(Request(path));
    EXPECT_EQ(ex->response().result(), http::status::bad_request) << path;
    EXPECT_EQ(ErrorCode(*ex), "InvalidArgument") << path;
  }
}

TEST_F(AdminApiTest, DeleteRepo) {
  service_.AddRepo("a/b");
  auto ex = Send(Request(http::verb::delete_, "/api/v1/repos/a/b"));
  EXPECT_EQ(ex->response().result(), http::status::no_content);
  EXPECT_TRUE(ex->response().body().empty());
  EXPECT_FALSE(service_.GetRepoStatus("a/b").ok());

  ex = Send(Request(http::verb::delete_, "/api/v1/repos/a/b"));
  EXPECT_EQ(ex->response().result(), http::status::not_found);
}

TEST_F(AdminApiTest, SyncQueuesARun) {
  service_.AddRepo("a/b");
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/a/b:sync"));
  ASSERT_EQ(ex->response().result(), http::status::accepted);
  EXPECT_EQ(Body(*ex).at("run_id").as_int64(), 7);
  EXPECT_EQ(ex->response()[http::field::location], "/api/v1/runs/7");
  EXPECT_EQ(service_.last_trigger, SyncTrigger::kManual);
}

TEST_F(AdminApiTest, SyncErrorsMapToStatuses) {
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/a/b:sync"));
  EXPECT_EQ(ex->response().result(), http::status::not_found);

  service_.AddRepo("a/b");
  service_.shutting_down = true;
  ex = Send(Request(http::verb::post, "/api/v1/repos/a/b:sync"));
  EXPECT_EQ(ex->response().result(), http::status::service_unavailable);
  EXPECT_EQ(ErrorCode(*ex), "Cancelled");

  ex = Send(Request(http::verb::post, "/api/v1/repos/a/b:sync").Query("follow", "yes please"));
  EXPECT_EQ(ex->response().result(), http::status::bad_request);
}

TEST_F(AdminApiTest, UnknownActionIs404AndWrongMethodIs405) {
  service_.AddRepo("a/b");
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/a/b:frobnicate"));
  EXPECT_EQ(ex->response().result(), http::status::not_found);

  ex = Send(Request(http::verb::get, "/api/v1/repos/a/b:sync"));
  EXPECT_EQ(ex->response().result(), http::status::method_not_allowed);
  EXPECT_EQ(ex->response()[http::field::allow], "POST");

  ex = Send(Request(http::verb::put, "/api/v1/repos"));
  EXPECT_EQ(ex->response().result(), http::status::method_not_allowed);
  EXPECT_EQ(ex->response()[http::field::allow], "GET, POST");

  ex = Send(Request(http::verb::post, "/api/v1/repos/a/b"));
  EXPECT_EQ(ex->response().result(), http::status::method_not_allowed);

  ex = Send(Request("/api/v1/nothing-here"));
  EXPECT_EQ(ex->response().result(), http::status::not_found);
  EXPECT_EQ(ErrorCode(*ex), "NotFound");
}

TEST_F(AdminApiTest, GetRun) {
  SyncRunView done = View("succeeded", "done", 100, 100);
  done.refs_added = 3;
  service_.Script(7, {done});
  auto ex = Send(Request("/api/v1/runs/7"));
  ASSERT_EQ(ex->response().result(), http::status::ok);
  auto run = SyncRunViewFromJson(Body(*ex));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->run_id, 7);
  EXPECT_EQ(run->state, "succeeded");
  EXPECT_EQ(run->refs_added, 3);
  EXPECT_EQ(run->progress.received_objects, 100u);

  EXPECT_EQ(Send(Request("/api/v1/runs/8"))->response().result(), http::status::not_found);
  for (const char* bad :
       {"/api/v1/runs/x", "/api/v1/runs/-1", "/api/v1/runs/0", "/api/v1/runs/7x"}) {
    EXPECT_EQ(Send(Request(bad))->response().result(), http::status::bad_request) << bad;
  }
}

TEST_F(AdminApiTest, PathWithoutPrefixIsRoutedToo) {
  auto ex = Send(Request("/repos"));
  EXPECT_EQ(ex->response().result(), http::status::ok);
}

std::vector<SyncRunView> DecodeLines(const std::vector<std::string>& chunks) {
  std::vector<SyncRunView> out;
  for (const std::string& c : chunks) {
    EXPECT_EQ(c.back(), '\n');
    EXPECT_EQ(c.find('\n'), c.size() - 1) << "one JSON document per line";
    auto v = ParseJson(c);
    EXPECT_TRUE(v.ok()) << c;
    if (!v.ok()) continue;
    auto run = SyncRunViewFromJson(*v);
    EXPECT_TRUE(run.ok()) << c;
    if (run.ok()) out.push_back(*run);
  }
  return out;
}

TEST_F(AdminApiTest, FollowStreamsChangesUntilFinal) {
  service_.AddRepo("THUDM/GLM-4");
  SyncRunView done = View("succeeded", "done", 100, 100);
  done.refs_added = 2;
  service_.Script(7, {View("queued", "queued"), View("running", "fetching", 10, 100),
                      View("running", "fetching", 10, 100), View("running", "fetching", 10, 100),
                      View("running", "fetching", 60, 100), done});
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/THUDM/GLM-4:sync").Query("follow", "1"));
  ASSERT_FALSE(ex->responded());
  ASSERT_TRUE(ex->stream_header);
  EXPECT_EQ(ex->stream_header->result(), http::status::ok);
  EXPECT_EQ((*ex->stream_header)[http::field::content_type], "application/x-ndjson");
  EXPECT_TRUE(ex->stream_ended);

  auto lines = DecodeLines(ex->chunks);
  ASSERT_EQ(lines.size(), 4u) << "unchanged views are not repeated";
  EXPECT_EQ(lines[0].state, "queued");
  EXPECT_EQ(lines[1].progress.received_objects, 10u);
  EXPECT_EQ(lines[2].progress.received_objects, 60u);
  EXPECT_EQ(lines.back().state, "succeeded");
  EXPECT_EQ(lines.back().refs_added, 2);
}

TEST_F(AdminApiTest, FollowRepeatsTheViewAsHeartbeat) {
  options_.follow_heartbeat_interval = std::chrono::milliseconds(0);
  service_.AddRepo("THUDM/GLM-4");
  service_.Script(7, {View("running", "fetching", 10, 100), View("running", "fetching", 10, 100),
                      View("failed", "fetching", 10, 100)});
  auto ex =
      Send(Request(http::verb::post, "/api/v1/repos/THUDM/GLM-4:sync").Query("follow", "true"));
  auto lines = DecodeLines(ex->chunks);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].state, "running");
  EXPECT_EQ(lines[1].state, "running");
  EXPECT_EQ(lines[2].state, "failed");
}

TEST_F(AdminApiTest, FollowStopsWhenTheClientLeaves) {
  service_.AddRepo("THUDM/GLM-4");
  std::vector<SyncRunView> script;
  for (uint64_t i = 0; i < 50; ++i) script.push_back(View("running", "fetching", i, 100));
  script.push_back(View("succeeded", "done", 100, 100));
  service_.Script(7, script);
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/THUDM/GLM-4:sync").Query("follow", "1"),
                 /*fail_writes_after=*/2);
  EXPECT_EQ(ex->chunks.size(), 2u);
  EXPECT_EQ(service_.get_run_calls, 3) << "polling stops at the first failed write";
  EXPECT_TRUE(ex->stream_ended);
}

TEST_F(AdminApiTest, FollowReportsALostRunInBand) {
  service_.AddRepo("THUDM/GLM-4");
  SyncRunView gone;
  gone.state = "vanish";
  service_.Script(7, {View("running", "fetching", 1, 100), gone});
  auto ex = Send(Request(http::verb::post, "/api/v1/repos/THUDM/GLM-4:sync").Query("follow", "1"));
  ASSERT_EQ(ex->chunks.size(), 2u);
  auto last = ParseJson(ex->chunks[1]);
  ASSERT_TRUE(last.ok());
  auto status = StatusFromErrorJson(*last);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code(), StatusCode::kNotFound);
  EXPECT_TRUE(ex->stream_ended);
}

TEST(HttpStatusForTest, MapsEveryCode) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), http::status::bad_request);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), http::status::not_found);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), http::status::conflict);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), http::status::forbidden);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), http::status::conflict);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), http::status::service_unavailable);
  EXPECT_EQ(HttpStatusFor(StatusCode::kCancelled), http::status::service_unavailable);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), http::status::internal_server_error);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), http::status::internal_server_error);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), http::status::internal_server_error);
}

TEST(ApiJsonTest, RunViewRoundTrips) {
  SyncRunView v = View("running", "fetching", 1234, 5678);
  v.progress.received_bytes = uint64_t{1} << 40;
  v.progress.bytes_per_second = 1.5e6;
  v.error = "boom";
  v.queued_at = 1700000000;
  json::value jv = json::value_from(v);
  auto back = SyncRunViewFromJson(jv);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(json::serialize(json::value_from(*back)), json::serialize(jv));
  auto via_boost = json::try_value_to<SyncRunView>(jv);
  ASSERT_TRUE(via_boost.has_value());
  EXPECT_EQ(via_boost->progress.received_bytes, uint64_t{1} << 40);
}

TEST(ApiJsonTest, WrongTypeNamesTheField) {
  auto v = ParseJson(R"({"name": "a", "last_run": {"progress": {"received_bytes": -1}}})");
  ASSERT_TRUE(v.ok());
  auto s = RepoStatusFromJson(*v);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("last_run.progress.received_bytes"));
  EXPECT_FALSE(json::try_value_to<RepoStatus>(*v).has_value());
}

}  // namespace
}  // namespace mirrord
