// Self-tests of the LFS side of the test upstream: the real git-lfs client pushes to it and
// pulls from it, and the Batch API, object downloads (Range, tokens, expiry), uploads, faults
// and counters behave as the fixture's header promises.
#include "tests/fixtures/test_lfs_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/seeded_bytes.h"

namespace mirrord::test {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr const char* kMediaType = "application/vnd.git-lfs+json";
constexpr const char* kTokenHeader = "X-Test-Lfs-Token";

// The string a JSON value holds, "" when it is not a string.
std::string Str(const json::value& v) {
  return v.is_string() ? std::string(std::string_view(v.get_string())) : std::string();
}

// The parsed body; on a parse error the test fails and a null value is returned (whose
// accessors then throw, which GoogleTest reports as a failure of the test).
json::value ParseJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    ADD_FAILURE() << "not JSON (" << ec.message() << "): " << text;
    return json::value();
  }
  return v;
}

// `sha256sum FILE`, an oid computed by a tool independent of the fixture.
Result<std::string> Sha256Sum(const std::filesystem::path& file) {
  ASSIGN_OR_RETURN(std::string out, RunProcessOk({"sha256sum", file.string()}));
  return out.substr(0, 64);
}

// The oids git-lfs recorded in a working tree, by path.
Result<std::map<std::string, std::string>> LfsFiles(const std::filesystem::path& dir) {
  ASSIGN_OR_RETURN(std::string out, Git({"lfs", "ls-files", "--long"}, dir));
  std::map<std::string, std::string> files;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(start, nl - start);  // "<oid> * <path>" or "<oid> - <path>"
    start = nl + 1;
    if (line.size() > 67) files[line.substr(67)] = line.substr(0, 64);
  }
  return files;
}

class TestLfsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirrord-lfs-endpoint-test-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "root"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "objects"));
    batch_url_ = upstream_->UrlFor("org/model") + "/info/lfs/objects/batch";
  }

  std::filesystem::path Scratch(std::string_view name) { return dir_->path() / name; }

  // POSTs a batch request of `operation` for `oids` (sizes from `sizes`, 1 when missing).
  Result<HttpReply> Batch(std::string_view operation, const std::vector<std::string>& oids,
                          const std::vector<uint64_t>& sizes = {}) {
    json::object request;
    request["operation"] = operation;
    request["transfers"] = json::array{"basic"};
    request["ref"] = json::object{{"name", "refs/heads/main"}};
    json::array objects;
    for (size_t i = 0; i < oids.size(); ++i) {
      objects.push_back(json::object{{"oid", oids[i]}, {"size", i < sizes.size() ? sizes[i] : 1}});
    }
    request["objects"] = std::move(objects);
    HttpCall call;
    call.method = "POST";
    call.headers = {{"Accept", kMediaType}, {"Content-Type", kMediaType}};
    call.body = json::serialize(request);
    return HttpFetch(batch_url_, call);
  }

  // The download (or upload) action the batch API hands out for `oid`.
  Result<json::object> ActionFor(const std::string& oid, std::string_view operation = "download") {
    ASSIGN_OR_RETURN(HttpReply reply, Batch(operation, {oid}));
    if (reply.status != 200) return Internal("batch: " + std::to_string(reply.status));
    boost::system::error_code ec;
    json::value doc = json::parse(reply.body, ec);
    if (ec) return Internal("batch reply is not JSON: " + reply.body);
    const json::value* action =
        doc.find_pointer("/objects/0/actions/" + std::string(operation), ec);
    if (ec || !action->is_object()) return NotFound("no action in " + reply.body);
    return action->as_object();
  }

  // GETs `oid` the way a client follows its download action, with optional extra headers.
  Result<HttpReply> Get(const std::string& oid,
                        std::vector<std::pair<std::string, std::string>> headers = {},
                        std::string method = "GET") {
    ASSIGN_OR_RETURN(json::object action, ActionFor(oid));
    HttpCall call;
    call.method = std::move(method);
    call.headers = std::move(headers);
    for (const auto& [name, value] : action["header"].as_object()) {
      call.headers.emplace_back(std::string(name), std::string(value.as_string()));
    }
    return HttpFetch(std::string(action["href"].as_string()), call);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::string batch_url_;
};

// ---------------------------------------------------------------------------------------
// With the real git-lfs client

TEST_F(TestLfsEndpointTest, GitLfsPushThenCloneAndPullIsByteIdentical) {
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(Scratch("work")));
  ASSERT_OK(work.LfsTrack("*.bin"));
  const std::string small = SeededBytes(300 * 1024, 1);
  ASSERT_OK(work.CommitFile("README.md", "a model\n", "readme").status());
  ASSERT_OK(work.CommitFile("small.bin", small, "small weights").status());
  ASSERT_OK_AND_ASSIGN(std::string generated_oid, lfs_->PutGeneratedObject(5 << 20, 9));
  // A copy outside the object store, so the push has something to upload.
  std::filesystem::path big_source = Scratch("big-source.bin");
  std::filesystem::copy_file(lfs_->ObjectPath(generated_oid), big_source);
  std::filesystem::remove(lfs_->ObjectPath(generated_oid));
  ASSERT_FALSE(lfs_->HasObject(generated_oid));
  ASSERT_OK(work.CommitFileFromPath("models/big.bin", big_source, "big weights").status());
  ASSERT_OK_AND_ASSIGN(auto files, LfsFiles(work.dir()));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files["models/big.bin"], generated_oid);
  const std::string small_oid = files["small.bin"];

  ASSERT_OK(upstream_->CreateBareRepo("org/model").status());
  ASSERT_OK(work.PushWithLfs(upstream_->UrlFor("org/model"), {"refs/heads/main:refs/heads/main"}));

  // The objects arrived intact; git holds pointers only.
  ASSERT_TRUE(lfs_->HasObject(small_oid));
  ASSERT_TRUE(lfs_->HasObject(generated_oid));
  ASSERT_OK_AND_ASSIGN(std::string stored_small, ReadFileToString(lfs_->ObjectPath(small_oid)));
  EXPECT_EQ(stored_small, small);
  ASSERT_OK_AND_ASSIGN(std::string stored_big_oid, Sha256Sum(lfs_->ObjectPath(generated_oid)));
  EXPECT_EQ(stored_big_oid, generated_oid);
  ASSERT_OK_AND_ASSIGN(std::string pointer,
                       Git({"--git-dir=" + upstream_->RepoPath("org/model").string(), "show",
                            "main:models/big.bin"}));
  EXPECT_EQ(pointer, "version https://git-lfs.github.com/spec/v1\noid sha256:" + generated_oid +
                         "\nsize " + std::to_string(5 << 20) + "\n");
  std::vector<RequestRecord> log = upstream_->requests();
  int puts = 0;
  bool lock_check = false;
  for (const RequestRecord& r : log) {
    if (r.method == "PUT") {
      ++puts;
      EXPECT_EQ(r.status, 200) << r.target;
    }
    if (r.target == "/org/model.git/info/lfs/locks/verify") {
      lock_check = true;
      EXPECT_EQ(r.status, 404);
    }
  }
  EXPECT_EQ(puts, 2);
  EXPECT_TRUE(lock_check);  // git-lfs asked, got 404, and pushed anyway
  EXPECT_THAT(lfs_->BatchedOids(), UnorderedElementsAre(small_oid, generated_oid));
  const int upload_batches = lfs_->BatchRequests();
  EXPECT_GE(upload_batches, 1);

  // Clone without smudging (pointers in the tree), then `git lfs pull`.
  GitOptions skip;
  skip.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK(Git({"clone", "--quiet", upstream_->UrlFor("org/model"), Scratch("clone").string()}, {},
                skip));
  ASSERT_OK_AND_ASSIGN(std::string before, ReadFileToString(Scratch("clone") / "small.bin"));
  EXPECT_THAT(before, HasSubstr("oid sha256:" + small_oid));
  ASSERT_OK(Git({"lfs", "install", "--local"}, Scratch("clone")));
  ASSERT_OK(Git({"lfs", "pull"}, Scratch("clone")));
  ASSERT_OK_AND_ASSIGN(std::string pulled_small, ReadFileToString(Scratch("clone") / "small.bin"));
  EXPECT_EQ(pulled_small, small);
  ASSERT_OK_AND_ASSIGN(std::string pulled_big_oid, Sha256Sum(Scratch("clone") / "models/big.bin"));
  EXPECT_EQ(pulled_big_oid, generated_oid);
  ASSERT_OK(Git({"lfs", "fsck"}, Scratch("clone")));
  EXPECT_EQ(lfs_->ObjectGets(small_oid), 1);
  EXPECT_EQ(lfs_->ObjectGets(generated_oid), 1);
  EXPECT_EQ(lfs_->BytesServed(small_oid), small.size());
  EXPECT_EQ(lfs_->BytesServed(generated_oid), uint64_t{5} << 20);
  EXPECT_GT(lfs_->BatchRequests(), upload_batches);
}

TEST_F(TestLfsEndpointTest, GitLfsPullResumesAfterDroppedConnection) {
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(Scratch("work")));
  ASSERT_OK(work.LfsTrack("*.bin"));
  const std::string weights = SeededBytes(1 << 20, 2);
  ASSERT_OK(work.CommitFile("w.bin", weights, "weights").status());
  ASSERT_OK(upstream_->CreateBareRepo("org/model").status());
  ASSERT_OK(work.PushWithLfs(upstream_->UrlFor("org/model"), {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK_AND_ASSIGN(auto files, LfsFiles(work.dir()));
  const std::string oid = files["w.bin"];

  LfsObjectFault fault;
  fault.drop_after_bytes = 300 * 1024;
  lfs_->SetObjectFault(oid, fault);
  GitOptions skip;
  skip.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  ASSERT_OK(Git({"clone", "--quiet", upstream_->UrlFor("org/model"), Scratch("clone").string()}, {},
                skip));
  ASSERT_OK(Git({"lfs", "install", "--local"}, Scratch("clone")));
  GitOptions quick_retry;  // git-lfs backs off exponentially between retries
  quick_retry.config = {"lfs.transfer.maxretrydelay=1"};
  ASSERT_OK(Git({"lfs", "pull"}, Scratch("clone"), quick_retry));
  ASSERT_OK_AND_ASSIGN(std::string pulled, ReadFileToString(Scratch("clone") / "w.bin"));
  EXPECT_EQ(pulled, weights);
  // git-lfs asked for a fresh action and resumed where the cut left it: every byte was
  // served exactly once.
  EXPECT_EQ(lfs_->ObjectGets(oid), 2);
  EXPECT_EQ(lfs_->BytesServed(oid), weights.size());
  std::vector<RequestRecord> gets;
  for (const RequestRecord& r : upstream_->requests()) {
    if (r.method == "GET" && r.target == "/lfs/objects/" + oid) gets.push_back(r);
  }
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_TRUE(gets[0].dropped);
  EXPECT_EQ(gets[0].response_body_bytes, 300u * 1024);
  EXPECT_EQ(gets[1].status, 206);
  EXPECT_EQ(gets[1].range, "bytes=307200-1048575");
  EXPECT_EQ(gets[1].response_body_bytes, weights.size() - 300 * 1024);
}

// ---------------------------------------------------------------------------------------
// Batch API

TEST_F(TestLfsEndpointTest, BatchDownloadAnswersActionsAndPerObjectErrors) {
  const std::string content = SeededBytes(1000, 3);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));
  const std::string unknown(64, 'a');
  ASSERT_OK_AND_ASSIGN(HttpReply reply, Batch("download", {oid, unknown, "not-an-oid"}, {1000}));
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.Header("Content-Type").value_or(""), kMediaType);
  boost::system::error_code ec;
  json::value doc = json::parse(reply.body, ec);
  ASSERT_FALSE(ec) << reply.body;
  EXPECT_EQ(Str(doc.at("transfer")), "basic");
  const json::array& objects = doc.at("objects").as_array();
  ASSERT_EQ(objects.size(), 3u);

  const json::object& found = objects[0].as_object();
  EXPECT_EQ(Str(found.at("oid")), oid);
  EXPECT_EQ(found.at("size").to_number<uint64_t>(), 1000u);
  EXPECT_EQ(found.at("authenticated"), json::value(true));
  EXPECT_FALSE(found.contains("error"));
  const json::object& download = found.at("actions").at("download").as_object();
  EXPECT_EQ(Str(download.at("href")), upstream_->BaseUrl() + "/lfs/objects/" + oid);
  EXPECT_TRUE(download.at("header").at(kTokenHeader).is_string());
  EXPECT_EQ(download.at("expires_in").to_number<int64_t>(), 3600);

  const json::object& missing = objects[1].as_object();
  EXPECT_EQ(Str(missing.at("oid")), unknown);
  EXPECT_FALSE(missing.contains("actions"));
  EXPECT_EQ(missing.at("error").at("code").to_number<int>(), 404);
  EXPECT_EQ(objects[2].at("error").at("code").to_number<int>(), 422);

  EXPECT_EQ(lfs_->BatchRequests(), 1);
  EXPECT_THAT(lfs_->BatchedOids(), ElementsAre(oid, unknown, "not-an-oid"));
}

TEST_F(TestLfsEndpointTest, BatchUploadAsksOnlyForMissingObjects) {
  ASSERT_OK_AND_ASSIGN(std::string present, lfs_->PutObject("present"));
  ASSERT_OK_AND_ASSIGN(HttpReply reply, Batch("upload", {present, std::string(64, 'b')}));
  ASSERT_EQ(reply.status, 200) << reply.body;
  json::value doc = ParseJson(reply.body);
  const json::array& objects = doc.at("objects").as_array();
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_FALSE(objects[0].as_object().contains("actions"));
  EXPECT_FALSE(objects[0].as_object().contains("error"));
  const json::object& upload = objects[1].at("actions").at("upload").as_object();
  EXPECT_EQ(Str(upload.at("href")), upstream_->BaseUrl() + "/lfs/objects/" + std::string(64, 'b'));
}

TEST_F(TestLfsEndpointTest, BatchRejectsBadRequests) {
  HttpCall call;
  call.method = "POST";
  call.headers = {{"Accept", "application/json"}};
  call.body = R"({"operation":"download","objects":[]})";
  ASSERT_OK_AND_ASSIGN(HttpReply wrong_accept, HttpFetch(batch_url_, call));
  EXPECT_EQ(wrong_accept.status, 406);

  call.headers = {{"Accept", kMediaType}};
  call.body = "{not json";
  ASSERT_OK_AND_ASSIGN(HttpReply malformed, HttpFetch(batch_url_, call));
  EXPECT_EQ(malformed.status, 422);
  EXPECT_EQ(malformed.Header("Content-Type").value_or(""), kMediaType);
  EXPECT_THAT(malformed.body, HasSubstr("\"message\""));

  call.body = R"({"operation":"delete","objects":[]})";
  ASSERT_OK_AND_ASSIGN(HttpReply bad_operation, HttpFetch(batch_url_, call));
  EXPECT_EQ(bad_operation.status, 422);

  call.body = R"({"operation":"download","objects":[],"hash_algo":"sha512"})";
  ASSERT_OK_AND_ASSIGN(HttpReply bad_algo, HttpFetch(batch_url_, call));
  EXPECT_EQ(bad_algo.status, 409);

  call.body = R"({"operation":"download","objects":[],"transfers":["tus"]})";
  ASSERT_OK_AND_ASSIGN(HttpReply no_basic, HttpFetch(batch_url_, call));
  EXPECT_EQ(no_basic.status, 422);

  std::vector<std::string> many(101, std::string(64, 'c'));
  ASSERT_OK_AND_ASSIGN(HttpReply too_many, Batch("download", many));
  EXPECT_EQ(too_many.status, 413);

  EXPECT_EQ(lfs_->BatchRequests(), 6);
  EXPECT_TRUE(lfs_->BatchedOids().empty());

  // Locking is not supported: every locks call is 404, as git-lfs expects.
  call.body = R"({"ref":{"name":"refs/heads/main"}})";
  ASSERT_OK_AND_ASSIGN(HttpReply locks,
                       HttpFetch(upstream_->UrlFor("org/model") + "/info/lfs/locks/verify", call));
  EXPECT_EQ(locks.status, 404);
}

TEST_F(TestLfsEndpointTest, BatchErrorFaultAndGenericFaults) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("gone soon"));
  LfsObjectFault fault;
  fault.batch_error = 410;
  lfs_->SetObjectFault(oid, fault);
  ASSERT_OK_AND_ASSIGN(HttpReply gone, Batch("download", {oid}));
  json::value doc = ParseJson(gone.body);
  EXPECT_EQ(doc.at("objects").at(0).at("error").at("code").to_number<int>(), 410);
  EXPECT_FALSE(doc.at("objects").at(0).as_object().contains("actions"));
  lfs_->ClearObjectFaults();
  ASSERT_OK_AND_ASSIGN(json::object action, ActionFor(oid));
  EXPECT_TRUE(action.contains("href"));

  // Generic faults of the upstream apply to the LFS routes too.
  Fault busy;
  busy.path_substring = "/info/lfs/objects/batch";
  busy.status = 429;
  busy.extra_headers["Retry-After"] = "3";
  busy.times = 1;
  int id = upstream_->AddFault(busy);
  ASSERT_OK_AND_ASSIGN(HttpReply limited, Batch("download", {oid}));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.Header("Retry-After").value_or(""), "3");
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  ASSERT_OK_AND_ASSIGN(HttpReply ok, Batch("download", {oid}));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(lfs_->BatchRequests(), 3);  // the faulted request never reached the endpoint
}

// ---------------------------------------------------------------------------------------
// Object downloads

TEST_F(TestLfsEndpointTest, GetHonoursRange) {
  const std::string content = SeededBytes(200'000, 4);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));

  ASSERT_OK_AND_ASSIGN(HttpReply whole, Get(oid));
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, content);
  EXPECT_EQ(whole.Header("Accept-Ranges").value_or(""), "bytes");
  EXPECT_EQ(whole.Header("Content-Length").value_or(""), "200000");

  ASSERT_OK_AND_ASSIGN(HttpReply middle, Get(oid, {{"Range", "bytes=70000-139999"}}));
  EXPECT_EQ(middle.status, 206);
  EXPECT_EQ(middle.Header("Content-Range").value_or(""), "bytes 70000-139999/200000");
  EXPECT_EQ(middle.body, content.substr(70000, 70000));

  ASSERT_OK_AND_ASSIGN(HttpReply open_ended, Get(oid, {{"Range", "bytes=199990-"}}));
  EXPECT_EQ(open_ended.status, 206);
  EXPECT_EQ(open_ended.body, content.substr(199990));

  ASSERT_OK_AND_ASSIGN(HttpReply suffix, Get(oid, {{"Range", "bytes=-5"}}));
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.Header("Content-Range").value_or(""), "bytes 199995-199999/200000");
  EXPECT_EQ(suffix.body, content.substr(199995));

  ASSERT_OK_AND_ASSIGN(HttpReply past_end, Get(oid, {{"Range", "bytes=200000-"}}));
  EXPECT_EQ(past_end.status, 416);
  EXPECT_EQ(past_end.Header("Content-Range").value_or(""), "bytes */200000");

  ASSERT_OK_AND_ASSIGN(HttpReply several, Get(oid, {{"Range", "bytes=0-1,5-6"}}));
  EXPECT_EQ(several.status, 200);  // several ranges: ignored, the whole object
  EXPECT_EQ(several.body, content);

  ASSERT_OK_AND_ASSIGN(HttpReply head, Get(oid, {}, "HEAD"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length").value_or(""), "200000");
  EXPECT_TRUE(head.body.empty());

  EXPECT_EQ(lfs_->ObjectGets(oid), 7);
  EXPECT_EQ(lfs_->BytesServed(oid), 200'000u + 70'000u + 10u + 5u + 200'000u);
}

TEST_F(TestLfsEndpointTest, GetChecksTokenAndExpiry) {
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject("tokened"));
  ASSERT_OK_AND_ASSIGN(std::string other, lfs_->PutObject("other"));
  const std::string href = upstream_->BaseUrl() + "/lfs/objects/" + oid;

  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, HttpFetch(href));
  EXPECT_EQ(anonymous.status, 401);

  ASSERT_OK_AND_ASSIGN(json::object other_action, ActionFor(other));
  std::string other_token(other_action["header"].at(kTokenHeader).as_string());
  HttpCall call;
  call.headers = {{kTokenHeader, other_token}};
  ASSERT_OK_AND_ASSIGN(HttpReply wrong_object, HttpFetch(href, call));
  EXPECT_EQ(wrong_object.status, 403);

  // The token may also travel in the query string.
  ASSERT_OK_AND_ASSIGN(json::object action, ActionFor(oid));
  std::string token(action["header"].at(kTokenHeader).as_string());
  ASSERT_OK_AND_ASSIGN(HttpReply by_query, HttpFetch(href + "?token=" + token));
  EXPECT_EQ(by_query.status, 200);
  EXPECT_EQ(by_query.body, "tokened");

  // Lifetime 0: the action is already expired, and its token is refused.
  lfs_->SetHrefLifetime(std::chrono::seconds(0));
  ASSERT_OK_AND_ASSIGN(json::object expired, ActionFor(oid));
  EXPECT_FALSE(expired.contains("expires_in"));
  ASSERT_TRUE(expired.contains("expires_at"));
  std::string expires_at(expired["expires_at"].as_string());
  EXPECT_EQ(expires_at.size(), 20u) << expires_at;  // 2006-01-02T15:04:05Z
  EXPECT_EQ(expires_at.back(), 'Z');
  ASSERT_OK_AND_ASSIGN(HttpReply refused, Get(oid));
  EXPECT_EQ(refused.status, 403);
  EXPECT_THAT(refused.body, HasSubstr("expired"));
  // Tokens handed out before the change stay valid for their own lifetime.
  ASSERT_OK_AND_ASSIGN(HttpReply old_token, HttpFetch(href + "?token=" + token));
  EXPECT_EQ(old_token.status, 200);

  lfs_->SetHrefLifetime(std::chrono::seconds(60));
  ASSERT_OK_AND_ASSIGN(json::object fresh, ActionFor(oid));
  EXPECT_EQ(fresh["expires_in"].to_number<int64_t>(), 60);
  ASSERT_OK_AND_ASSIGN(HttpReply served, Get(oid));
  EXPECT_EQ(served.status, 200);

  EXPECT_EQ(lfs_->ObjectGets(oid), 6);
  EXPECT_EQ(lfs_->BytesServed(oid), 3 * std::string("tokened").size());

  // An object that is not stored.
  const std::string unknown(64, 'd');
  ASSERT_OK_AND_ASSIGN(json::object upload, ActionFor(unknown, "upload"));
  call.headers = {{kTokenHeader, std::string(upload["header"].at(kTokenHeader).as_string())}};
  ASSERT_OK_AND_ASSIGN(HttpReply missing,
                       HttpFetch(upstream_->BaseUrl() + "/lfs/objects/" + unknown, call));
  EXPECT_EQ(missing.status, 404);
}

TEST_F(TestLfsEndpointTest, DropAfterBytesCutsThenServes) {
  const std::string content = SeededBytes(300'000, 5);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));
  LfsObjectFault fault;
  fault.drop_after_bytes = 100'000;
  fault.drop_times = 1;
  lfs_->SetObjectFault(oid, fault);

  // A range shorter than the cut-off is not cut and does not spend the fault.
  ASSERT_OK_AND_ASSIGN(HttpReply short_range, Get(oid, {{"Range", "bytes=0-9999"}}));
  EXPECT_EQ(short_range.status, 206);
  EXPECT_EQ(short_range.body, content.substr(0, 10'000));

  Result<HttpReply> cut = Get(oid);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kUnavailable);
  RequestRecord last = upstream_->requests().back();
  EXPECT_TRUE(last.dropped);
  EXPECT_FALSE(last.completed);
  EXPECT_EQ(last.response_body_bytes, 100'000u);

  ASSERT_OK_AND_ASSIGN(HttpReply resumed, Get(oid, {{"Range", "bytes=100000-"}}));
  EXPECT_EQ(resumed.status, 206);
  EXPECT_EQ(resumed.body, content.substr(100'000));
  EXPECT_EQ(lfs_->ObjectGets(oid), 3);
  EXPECT_EQ(lfs_->BytesServed(oid), 10'000u + 100'000u + 200'000u);

  // drop_after_bytes 0: the header, then nothing.
  fault.drop_after_bytes = 0;
  fault.drop_times = 2;
  lfs_->SetObjectFault(oid, fault);
  EXPECT_FALSE(Get(oid).ok());
  EXPECT_FALSE(Get(oid).ok());
  ASSERT_OK_AND_ASSIGN(HttpReply whole, Get(oid));
  EXPECT_EQ(whole.body, content);
}

TEST_F(TestLfsEndpointTest, CorruptByteWhereverItIsServed) {
  const std::string content = SeededBytes(150'000, 6);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));
  LfsObjectFault fault;
  fault.corrupt_offset = 123'456;
  fault.corrupt_times = 2;
  lfs_->SetObjectFault(oid, fault);

  // A range that misses the offset is served correctly and does not spend the fault.
  ASSERT_OK_AND_ASSIGN(HttpReply before, Get(oid, {{"Range", "bytes=0-123455"}}));
  EXPECT_EQ(before.body, content.substr(0, 123'456));

  std::string expected = content;
  expected[123'456] = static_cast<char>(expected[123'456] ^ 0xff);
  ASSERT_OK_AND_ASSIGN(HttpReply bad_whole, Get(oid));
  EXPECT_EQ(bad_whole.status, 200);
  EXPECT_EQ(bad_whole.body, expected);
  ASSERT_OK_AND_ASSIGN(HttpReply bad_range, Get(oid, {{"Range", "bytes=123456-123456"}}));
  EXPECT_EQ(bad_range.body, expected.substr(123'456, 1));
  ASSERT_OK_AND_ASSIGN(HttpReply good, Get(oid));
  EXPECT_EQ(good.body, content);
  ASSERT_OK_AND_ASSIGN(std::string stored, ReadFileToString(lfs_->ObjectPath(oid)));
  EXPECT_EQ(stored, content);  // only the wire was corrupted
}

TEST_F(TestLfsEndpointTest, IgnoreRangeAnswersWholeObject) {
  const std::string content = SeededBytes(10'000, 7);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));
  LfsObjectFault fault;
  fault.ignore_range = true;
  lfs_->SetObjectFault(oid, fault);
  ASSERT_OK_AND_ASSIGN(HttpReply reply, Get(oid, {{"Range", "bytes=5000-"}}));
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.Header("Content-Range").has_value());
  EXPECT_EQ(reply.body, content);
  // Even an unsatisfiable range.
  ASSERT_OK_AND_ASSIGN(HttpReply past_end, Get(oid, {{"Range", "bytes=20000-"}}));
  EXPECT_EQ(past_end.status, 200);
  lfs_->ClearObjectFaults();
  ASSERT_OK_AND_ASSIGN(HttpReply honoured, Get(oid, {{"Range", "bytes=5000-"}}));
  EXPECT_EQ(honoured.status, 206);
}

// ---------------------------------------------------------------------------------------
// Uploads and stored objects

TEST_F(TestLfsEndpointTest, PutChecksTheHash) {
  const std::string content = SeededBytes(70'000, 8);
  ASSERT_OK_AND_ASSIGN(std::string oid, lfs_->PutObject(content));
  std::filesystem::remove(lfs_->ObjectPath(oid));
  ASSERT_FALSE(lfs_->HasObject(oid));
  ASSERT_OK_AND_ASSIGN(json::object upload, ActionFor(oid, "upload"));
  HttpCall call;
  call.method = "PUT";
  call.headers = {{"Content-Type", "application/octet-stream"}};
  call.body = content;
  call.body[10] = 'x' == call.body[10] ? 'y' : 'x';
  const std::string href(upload["href"].as_string());
  ASSERT_OK_AND_ASSIGN(HttpReply rejected, HttpFetch(href, call));
  EXPECT_EQ(rejected.status, 422);
  EXPECT_FALSE(lfs_->HasObject(oid));

  call.body = content;
  ASSERT_OK_AND_ASSIGN(HttpReply accepted, HttpFetch(href, call));
  EXPECT_EQ(accepted.status, 200);
  ASSERT_TRUE(lfs_->HasObject(oid));
  ASSERT_OK_AND_ASSIGN(std::string stored, ReadFileToString(lfs_->ObjectPath(oid)));
  EXPECT_EQ(stored, content);
}

TEST_F(TestLfsEndpointTest, GeneratedObjectsAreDeterministic) {
  ASSERT_OK_AND_ASSIGN(std::string a, lfs_->PutGeneratedObject(3'000'001, 42));
  ASSERT_OK_AND_ASSIGN(std::string b, lfs_->PutGeneratedObject(3'000'001, 42));
  ASSERT_OK_AND_ASSIGN(std::string c, lfs_->PutGeneratedObject(3'000'001, 43));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(std::filesystem::file_size(lfs_->ObjectPath(a)), 3'000'001u);
  ASSERT_OK_AND_ASSIGN(std::string independent, Sha256Sum(lfs_->ObjectPath(a)));
  EXPECT_EQ(independent, a);
  ASSERT_OK_AND_ASSIGN(std::string empty, lfs_->PutGeneratedObject(0, 1));
  EXPECT_EQ(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_OK_AND_ASSIGN(std::string text_oid, lfs_->PutObject("hello\n"));
  EXPECT_EQ(text_oid, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  // Only objects are left in the directory.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(Scratch("objects"))) {
    EXPECT_EQ(e.path().filename().string().size(), 64u) << e.path();
    ++entries;
  }
  EXPECT_EQ(entries, 4);
}

}  // namespace
}  // namespace mirrord::test
