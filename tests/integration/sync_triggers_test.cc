// Sync triggers end to end: signed GitHub webhook deliveries, coalescing of a burst of
// triggers, restart with work in flight, rate-limit pauses with retries, and polling, all
// against the real mirrord binary and a real git upstream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/admin_api_calls.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kUpstreamRepo = "org/model";  // full_name at the "GitHub" upstream
constexpr std::string_view kRepo = "team/model";         // the local name
constexpr std::string_view kSecret = "It's a Secret to Everybody";
constexpr std::chrono::seconds kDeadline{60};
constexpr uint64_t kWebhookBodyLimit = 25ull * 1000 * 1000;  // as documented for the endpoint

// "sha256=" + hex HMAC-SHA256 of `body` under `secret`, as GitHub signs deliveries. Written
// here with OpenSSL because this test binary does not link the webhook library.
std::string Sign(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &mac_len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < mac_len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

// The `repository` object of a payload for the upstream repo at `clone_url`.
boost::json::object RepositoryJson(std::string_view full_name, const std::string& clone_url) {
  std::string html_url = clone_url;
  if (html_url.ends_with(".git")) html_url.resize(html_url.size() - 4);
  size_t slash = full_name.find('/');
  return boost::json::object{
      {"id", 123456},
      {"name", std::string(full_name.substr(slash + 1))},
      {"full_name", std::string(full_name)},
      {"private", false},
      {"owner", boost::json::object{{"login", std::string(full_name.substr(0, slash))}}},
      {"html_url", html_url},
      {"clone_url", clone_url},
      {"default_branch", "main"},
      {"pushed_at", static_cast<int64_t>(std::time(nullptr))},
      {"archived", false},
  };
}

std::string PushPayload(std::string_view full_name, const std::string& clone_url,
                        const std::string& before, const std::string& after) {
  boost::json::object o{
      {"ref", "refs/heads/main"},
      {"before", before},
      {"after", after},
      {"created", false},
      {"deleted", false},
      {"forced", false},
      {"compare", clone_url + "/compare"},
      {"commits", boost::json::array{}},
      {"head_commit",
       boost::json::object{
           {"id", after}, {"message", "update"}, {"timestamp", "2023-11-14T22:13:21Z"}}},
      {"repository", RepositoryJson(full_name, clone_url)},
      {"pusher", boost::json::object{{"name", "octocat"}, {"email", "octocat@example.com"}}},
      {"sender", boost::json::object{{"login", "octocat"}}},
  };
  return boost::json::serialize(o);
}

std::string PingPayload(std::string_view full_name, const std::string& clone_url) {
  boost::json::object o{
      {"zen", "Keep it logically awesome."},
      {"hook_id", 42},
      {"hook", boost::json::object{{"type", "Repository"}, {"active", true}}},
      {"repository", RepositoryJson(full_name, clone_url)},
      {"sender", boost::json::object{{"login", "octocat"}}},
  };
  return boost::json::serialize(o);
}

std::string ArchivedPayload(std::string_view full_name, const std::string& clone_url) {
  boost::json::object repo = RepositoryJson(full_name, clone_url);
  repo["archived"] = true;
  boost::json::object o{
      {"action", "archived"},
      {"repository", std::move(repo)},
      {"sender", boost::json::object{{"login", "octocat"}}},
  };
  return boost::json::serialize(o);
}

// POSTs one delivery to /webhooks/github, signed with `secret` unless `signature` is given.
Result<HttpReply> Deliver(MirrordProcess& m, std::string_view event, std::string_view delivery,
                          const std::string& body, std::string_view secret = kSecret,
                          std::optional<std::string> signature = std::nullopt) {
  HttpCall call;
  call.method = "POST";
  call.headers = {{"Content-Type", "application/json"},
                  {"User-Agent", "GitHub-Hookshot/abc1234"},
                  {"X-GitHub-Event", std::string(event)},
                  {"X-GitHub-Delivery", std::string(delivery)},
                  {"X-GitHub-Hook-ID", "42"},
                  {"X-Hub-Signature-256", signature ? *signature : Sign(secret, body)}};
  call.body = body;
  return HttpFetch(m.BaseUrl() + "/webhooks/github", call);
}

// A call of the admin API with the admin token.
Result<HttpReply> AdminCall(MirrordProcess& m, std::string method, std::string_view path,
                            std::string body = {}) {
  ASSIGN_OR_RETURN(std::string token, m.AdminToken());
  HttpCall call;
  call.method = std::move(method);
  call.headers = {{"Authorization", "Bearer " + token}};
  if (!body.empty()) call.headers.emplace_back("Content-Type", "application/json");
  call.body = std::move(body);
  return HttpFetch(m.BaseUrl() + std::string(path), call);
}

// `mirrorctl status NAME --json`, decoded.
// `mirrorctl queue --json`, decoded.
Result<QueueView> QueueJson(MirrordProcess& m) {
  ASSIGN_OR_RETURN(ProcessResult r, m.Mirrorctl({"queue", "--json"}));
  if (!r.ok()) return Internal("mirrorctl queue --json: " + r.Describe());
  ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.stdout_text));
  return QueueViewFromJson(v);
}

// The samples of /metrics whose "name{labels}" starts with `name` and contains every one of
// `labels` (e.g. `outcome="queued"`), summed.
Result<double> MetricSum(MirrordProcess& m, std::string_view name,
                         const std::vector<std::string>& labels = {}) {
  ASSIGN_OR_RETURN(HttpReply reply, HttpFetch(m.BaseUrl() + "/metrics"));
  if (reply.status != 200) return Internal("/metrics: " + std::to_string(reply.status));
  std::istringstream in(reply.body);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t close = line.find('}');
    size_t space = line.find(' ', close == std::string::npos ? 0 : close);
    if (space == std::string::npos) continue;
    std::string key = line.substr(0, space);
    std::string key_name = key.substr(0, key.find('{'));
    if (key_name != name) continue;
    bool match = true;
    for (const std::string& l : labels) match = match && key.find(l) != std::string::npos;
    if (match) sum += std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

// Polls `condition` until it holds or `deadline` passes; the last error (or "false") is the
// failure message.
::testing::AssertionResult Eventually(const std::function<Result<bool>()>& condition,
                                      std::chrono::seconds deadline = kDeadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  std::string last = "condition never held";
  while (true) {
    Result<bool> r = condition();
    if (r.ok() && *r) return ::testing::AssertionSuccess();
    if (!r.ok()) last = r.status().ToString();
    if (std::chrono::steady_clock::now() > end) {
      return ::testing::AssertionFailure() << "not within " << deadline.count() << " s: " << last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // poll interval
  }
}

// The run ids in a 202 {"status":"queued","runs":[{"repo","run_id"}]} body.
Result<std::vector<int64_t>> RunIdsOf(const std::string& body) {
  ASSIGN_OR_RETURN(boost::json::value v, ParseJson(body));
  std::vector<int64_t> ids;
  const boost::json::object* o = v.if_object();
  const boost::json::value* runs = o ? o->if_contains("runs") : nullptr;
  if (runs == nullptr || !runs->is_array()) return InvalidArgument("no runs: " + body);
  for (const boost::json::value& r : runs->as_array()) {
    const boost::json::value* id = r.is_object() ? r.as_object().if_contains("run_id") : nullptr;
    if (id == nullptr || !id->is_int64()) return InvalidArgument("bad run: " + body);
    ids.push_back(id->as_int64());
  }
  return ids;
}

// Sends `request` as is on a fresh connection to 127.0.0.1:`port` and returns everything
// the server sends until it closes the connection (at most 30 s).
Result<std::string> RawExchange(uint16_t port, const std::string& request) {
  struct FdCloser {
    void operator()(int* fd) const {
      ::close(*fd);
      delete fd;
    }
  };
  int raw = ::socket(AF_INET, SOCK_STREAM, 0);
  if (raw < 0) return Internal("socket failed");
  std::unique_ptr<int, FdCloser> fd(new int(raw));
  timeval tv{30, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Unavailable("connect failed");
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(*fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return Unavailable("send failed");
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(*fd, buf, sizeof(buf), 0);
    if (n < 0) return DeadlineExceeded("no end of answer; so far: " + answer);
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  return answer;
}

class SyncTriggers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("sync-triggers-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK_AND_ASSIGN(first_commit_, work.CommitFile("README.md", "v1\n", "one"));
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kUpstreamRepo));
    ASSERT_OK(work.Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
    work_.emplace(std::move(work));
    url_ = upstream_->UrlFor(kUpstreamRepo);
    secret_file_ = dir_->path() / "github-webhook.secret";
    std::ofstream(secret_file_) << kSecret << "\n";
  }

  std::string WebhookToml() const {
    return "[webhooks.github]\nsecret_file = \"" + secret_file_.string() + "\"\n";
  }

  void StartMirrord(std::string extra_toml) {
    MirrordOptions options;
    options.extra_toml = std::move(extra_toml);
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(std::move(options)));
  }

  // Registers kRepo and syncs it once (blocking until the run is final).
  void FirstSync() {
    ASSERT_OK_AND_ASSIGN(ProcessResult r,
                         mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  // Commits and pushes to the upstream; returns the new head.
  std::string PushUpstream(std::string_view contents) {
    Result<std::string> sha = work_->CommitFile("README.md", contents, "update");
    EXPECT_OK(sha);
    EXPECT_OK(work_->Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
    return sha.ok() ? *sha : std::string();
  }

  Result<bool> MirrorEqualsUpstream() {
    ASSIGN_OR_RETURN(std::string want, Git({"ls-remote", url_}));
    Result<std::string> got = Git({"ls-remote", mirrord_->UrlFor(kRepo)});
    if (!got.ok()) return got.status();
    return *got == want;
  }

  // Polls the run until it is final and returns it.
  Result<SyncRunView> WaitForFinalRun(int64_t run_id) {
    SyncRunView run;
    ::testing::AssertionResult done = Eventually([&]() -> Result<bool> {
      ASSIGN_OR_RETURN(run, GetRun(*mirrord_, run_id));
      return IsFinalRunState(run.state);
    });
    if (!done) return DeadlineExceeded(done.message());
    return run;
  }

  // Polls until the repo has no queued or running work.
  ::testing::AssertionResult WaitForIdle() {
    return Eventually([&]() -> Result<bool> {
      ASSIGN_OR_RETURN(RepoStatus s, StatusJson(*mirrord_, kRepo));
      return !s.active_run.has_value() && s.last_run.has_value();
    });
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::filesystem::path secret_file_;
  std::string url_;
  std::string first_commit_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(SyncTriggers, SignedPushWebhookSyncsTheMirror) {
  StartMirrord(WebhookToml());
  FirstSync();
  ASSERT_OK_AND_ASSIGN(RepoStatus before, StatusJson(*mirrord_, kRepo));
  ASSERT_TRUE(before.last_run.has_value());
  const int64_t first_run = before.last_run->run_id;

  std::string head = PushUpstream("v2\n");
  std::string body = PushPayload(kUpstreamRepo, url_, first_commit_, head);

  // A tampered body: 401, and nothing is queued.
  std::string tampered = body;
  tampered.replace(tampered.find("refs/heads/main"), 15, "refs/heads/evil");
  ASSERT_OK_AND_ASSIGN(HttpReply bad, Deliver(*mirrord_, "push", "d-tampered", tampered, kSecret,
                                              Sign(kSecret, body)));
  EXPECT_EQ(bad.status, 401) << bad.body;
  ASSERT_OK_AND_ASSIGN(QueueView queue, QueueJson(*mirrord_));
  EXPECT_TRUE(queue.jobs.empty());
  ASSERT_OK_AND_ASSIGN(RepoStatus after_bad, StatusJson(*mirrord_, kRepo));
  EXPECT_FALSE(after_bad.active_run.has_value());
  ASSERT_TRUE(after_bad.last_run.has_value());
  EXPECT_EQ(after_bad.last_run->run_id, first_run);

  // The genuine delivery: 202 with the run, which brings the mirror up to date.
  ASSERT_OK_AND_ASSIGN(HttpReply ok, Deliver(*mirrord_, "push", "d-1", body));
  ASSERT_EQ(ok.status, 202) << ok.body;
  EXPECT_THAT(ok.body, HasSubstr("\"queued\""));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> runs, RunIdsOf(ok.body));
  ASSERT_EQ(runs.size(), 1u) << ok.body;
  EXPECT_NE(runs[0], first_run);
  ASSERT_OK_AND_ASSIGN(SyncRunView run, WaitForFinalRun(runs[0]));
  EXPECT_EQ(run.state, "succeeded") << run.error << "\n" << mirrord_->Logs();
  EXPECT_EQ(run.trigger, "webhook");
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));

  // A redelivery: acknowledged, nothing queued again.
  ASSERT_OK_AND_ASSIGN(HttpReply dup, Deliver(*mirrord_, "push", "d-1", body));
  EXPECT_EQ(dup.status, 200) << dup.body;
  EXPECT_THAT(dup.body, HasSubstr("duplicate"));
  ASSERT_OK_AND_ASSIGN(RepoStatus after_dup, StatusJson(*mirrord_, kRepo));
  EXPECT_FALSE(after_dup.active_run.has_value());
  ASSERT_TRUE(after_dup.last_run.has_value());
  EXPECT_EQ(after_dup.last_run->run_id, runs[0]);
  ASSERT_OK_AND_ASSIGN(queue, QueueJson(*mirrord_));
  EXPECT_TRUE(queue.jobs.empty());

  // ping.
  ASSERT_OK_AND_ASSIGN(HttpReply ping,
                       Deliver(*mirrord_, "ping", "d-ping", PingPayload(kUpstreamRepo, url_)));
  EXPECT_EQ(ping.status, 200) << ping.body;

  // A push for a repository mirrored nowhere here.
  std::string other_url = upstream_->UrlFor("someone/else");
  ASSERT_OK_AND_ASSIGN(
      HttpReply ignored,
      Deliver(*mirrord_, "push", "d-other", PushPayload("someone/else", other_url, head, head)));
  EXPECT_EQ(ignored.status, 202) << ignored.body;
  EXPECT_THAT(ignored.body, HasSubstr("ignored"));

  // The repository was archived upstream: shown in status; the mirror is still served.
  ASSERT_OK_AND_ASSIGN(HttpReply archived, Deliver(*mirrord_, "repository", "d-archived",
                                                   ArchivedPayload(kUpstreamRepo, url_)));
  EXPECT_EQ(archived.status, 202) << archived.body;
  ASSERT_OK_AND_ASSIGN(RepoStatus after_archive, StatusJson(*mirrord_, kRepo));
  EXPECT_THAT(after_archive.upstream_event, HasSubstr("archived"));
  EXPECT_GT(after_archive.upstream_event_at, 0);
  ASSERT_OK_AND_ASSIGN(std::string still, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(still, served);

  // Metrics.
  auto deliveries = [&](std::string event, std::string outcome) {
    return MetricSum(*mirrord_, "mirrord_webhook_deliveries_total",
                     {"event=\"" + event + "\"", "outcome=\"" + outcome + "\""});
  };
  ASSERT_OK_AND_ASSIGN(double queued_n, deliveries("push", "queued"));
  EXPECT_EQ(queued_n, 1);
  ASSERT_OK_AND_ASSIGN(double unauthorized_n, deliveries("push", "unauthorized"));
  EXPECT_EQ(unauthorized_n, 1);
  ASSERT_OK_AND_ASSIGN(double duplicate_n, deliveries("push", "duplicate"));
  EXPECT_EQ(duplicate_n, 1);
  ASSERT_OK_AND_ASSIGN(double ignored_n, deliveries("push", "ignored"));
  EXPECT_EQ(ignored_n, 1);
  EXPECT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(double n,
                     MetricSum(*mirrord_, "mirrord_sync_trigger_to_servable_seconds_count",
                               {"trigger=\"webhook\""}));
    return n >= 1;
  }));
}

// The whole path in one go: a push upstream, its signed webhook, the sync it queues, the
// build job that sync queues for the recipe's ref, and `skopeo inspect` of the new commit's
// tag served by mirrord's registry; the push-to-image latency is measured from the
// webhook's push time.
TEST_F(SyncTriggers, PushWebhookSyncsBuildsAndServesTheNewImage) {
  StartMirrord(WebhookToml() + "[[repos]]\nname = \"" + std::string(kRepo) + "\"\nurl = \"" + url_ +
               "\"\n[[builds]]\nname = \"lab/model\"\nrepo = \"" + std::string(kRepo) +
               "\"\nbase = \"scratch\"\n");
  const std::string registry = "127.0.0.1:" + std::to_string(mirrord_->port());
  auto tags_hold = [&](const std::string& tag) -> Result<bool> {
    ASSIGN_OR_RETURN(HttpReply tags, HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/tags/list"));
    return tags.status == 200 && tags.body.find("\"" + tag + "\"") != std::string::npos;
  };
  // The start-up sync of the configured repo builds its first commit.
  ASSERT_TRUE(Eventually([&] { return tags_hold(first_commit_); })) << mirrord_->Logs();

  std::string head = PushUpstream("v2\n");
  ASSERT_OK_AND_ASSIGN(
      HttpReply ok,
      Deliver(*mirrord_, "push", "d-build", PushPayload(kUpstreamRepo, url_, first_commit_, head)));
  ASSERT_EQ(ok.status, 202) << ok.body;
  ASSERT_TRUE(Eventually([&] { return tags_hold(head); })) << mirrord_->Logs();

  ASSERT_OK_AND_ASSIGN(ProcessResult inspect,
                       RunProcess({"skopeo", "inspect", "--tls-verify=false",
                                   "docker://" + registry + "/lab/model:" + head}));
  ASSERT_TRUE(inspect.ok()) << inspect.Describe() << "\n" << mirrord_->Logs();
  boost::json::object info = boost::json::parse(inspect.stdout_text).as_object();
  ASSERT_OK_AND_ASSIGN(HttpReply by_commit,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/" + head));
  EXPECT_EQ(info["Digest"].as_string(), by_commit.Header("Docker-Content-Digest").value_or(""));
  EXPECT_THAT(by_commit.body, HasSubstr("\"org.opencontainers.image.revision\":\"" + head + "\""));
  // main moved to the new image too.
  ASSERT_OK_AND_ASSIGN(HttpReply main_tag,
                       HttpFetch(mirrord_->BaseUrl() + "/v2/lab/model/manifests/main"));
  EXPECT_EQ(main_tag.Header("Docker-Content-Digest"), by_commit.Header("Docker-Content-Digest"));

  // Metrics: two builds succeeded, the push reached a pullable image, the registry sent
  // bytes.
  // (The tags are published before the run's books are closed: wait for those.)
  EXPECT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(double built,
                     MetricSum(*mirrord_, "mirrord_builds_total", {"outcome=\"succeeded\""}));
    ASSIGN_OR_RETURN(double pushes, MetricSum(*mirrord_, "mirrord_push_to_image_seconds_count"));
    return built >= 2 && pushes == 1;
  }));
  ASSERT_OK_AND_ASSIGN(double sent, MetricSum(*mirrord_, "mirrord_served_bytes_total",
                                               {"protocol=\"registry\""}));
  EXPECT_GT(sent, 0);
}

TEST_F(SyncTriggers, OversizedDeliveryIsRefused) {
  StartMirrord(WebhookToml());
  // Only the header goes out: mirrord answers from the announced length, before any body
  // (a client writing the whole body first may see its connection closed once mirrord has
  // drained what it is willing to, which HttpFetch reports as a send error).
  std::string request = "POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  request += "Content-Type: application/json\r\nX-GitHub-Event: push\r\n";
  request += "X-GitHub-Delivery: d-big\r\nX-Hub-Signature-256: " + Sign(kSecret, "") + "\r\n";
  request += "Content-Length: " + std::to_string(kWebhookBodyLimit + 1) + "\r\n\r\n";
  ASSERT_OK_AND_ASSIGN(std::string answer, RawExchange(mirrord_->port(), request));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 413 ")) << answer;
  ASSERT_OK_AND_ASSIGN(double too_large, MetricSum(*mirrord_, "mirrord_webhook_deliveries_total",
                                                   {"event=\"push\"", "outcome=\"too_large\""}));
  EXPECT_EQ(too_large, 1);
  // mirrord is still answering.
  ASSERT_OK_AND_ASSIGN(HttpReply ping,
                       Deliver(*mirrord_, "ping", "d-ping", PingPayload(kUpstreamRepo, url_)));
  EXPECT_EQ(ping.status, 200) << ping.body;
}

TEST_F(SyncTriggers, WebhookEndpointIsOffWithoutASecret) {
  StartMirrord("");
  ASSERT_OK_AND_ASSIGN(HttpReply reply,
                       Deliver(*mirrord_, "ping", "d-ping", PingPayload(kUpstreamRepo, url_)));
  EXPECT_EQ(reply.status, 404) << reply.body;
}

TEST_F(SyncTriggers, BurstOfPushesCoalesces) {
  StartMirrord(WebhookToml());
  FirstSync();
  ASSERT_OK_AND_ASSIGN(double syncs_before, MetricSum(*mirrord_, "mirrord_syncs_total"));
  std::string head = PushUpstream("v2\n");
  // Each fetch request now takes a while, so the first sync is still running while the
  // burst arrives.
  Fault slow;
  slow.path_substring = "git-upload-pack";
  slow.method = "POST";
  slow.delay = std::chrono::milliseconds(1500);
  upstream_->AddFault(slow);

  std::set<int64_t> run_ids;
  for (int i = 0; i < 50; ++i) {
    std::string body = PushPayload(kUpstreamRepo, url_, first_commit_, head);
    ASSERT_OK_AND_ASSIGN(HttpReply r,
                         Deliver(*mirrord_, "push", "burst-" + std::to_string(i), body));
    ASSERT_EQ(r.status, 202) << i << ": " << r.body;
    ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, RunIdsOf(r.body));
    ASSERT_EQ(ids.size(), 1u) << r.body;
    run_ids.insert(ids[0]);
  }
  EXPECT_GE(run_ids.size(), 1u);
  EXPECT_LE(run_ids.size(), 2u);

  ASSERT_TRUE(WaitForIdle());
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->run_id, *run_ids.rbegin());
  EXPECT_EQ(status.last_run->state, "succeeded") << status.last_run->error;
  for (int64_t id : run_ids) {
    ASSERT_OK_AND_ASSIGN(SyncRunView run, GetRun(*mirrord_, id));
    EXPECT_EQ(run.state, "succeeded") << id << ": " << run.error;
  }
  ASSERT_OK_AND_ASSIGN(double syncs_after, MetricSum(*mirrord_, "mirrord_syncs_total"));
  EXPECT_EQ(syncs_after - syncs_before, static_cast<double>(run_ids.size()));
  ASSERT_OK_AND_ASSIGN(bool equal, MirrorEqualsUpstream());
  EXPECT_TRUE(equal);
}

TEST_F(SyncTriggers, QueuedRunSurvivesACrash) {
  StartMirrord("");
  FirstSync();
  std::string head = PushUpstream("v2\n");
  Fault stall = Fault::Stall("git-upload-pack", "POST");
  upstream_->AddFault(stall);

  ASSERT_OK_AND_ASSIGN(
      HttpReply r, AdminCall(*mirrord_, "POST", "/api/v1/repos/" + std::string(kRepo) + ":sync"));
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_OK_AND_ASSIGN(boost::json::value v, ParseJson(r.body));
  ASSERT_TRUE(v.is_object() && v.as_object().contains("run_id")) << r.body;
  const int64_t run_id = v.as_object().at("run_id").as_int64();
  ASSERT_OK(
      upstream_->WaitForRequest([](const RequestRecord& rec) { return rec.stalled; }, kDeadline));

  ASSERT_OK(mirrord_->Kill());
  upstream_->ClearFaults();
  ASSERT_OK(mirrord_->Restart());

  ASSERT_OK_AND_ASSIGN(SyncRunView run, WaitForFinalRun(run_id));
  EXPECT_EQ(run.state, "succeeded") << run.error << "\n" << mirrord_->Logs();
  ASSERT_TRUE(WaitForIdle());
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->run_id, run_id);  // no new run did the work
  ASSERT_OK_AND_ASSIGN(std::string served, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_THAT(served, HasSubstr(head + "\trefs/heads/main"));
  ASSERT_OK_AND_ASSIGN(bool equal, MirrorEqualsUpstream());
  EXPECT_TRUE(equal);
  std::filesystem::path clone = dir_->path() / "clone.git";
  ASSERT_OK(
      Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), clone.string()}).status());
  ASSERT_OK(Git({"--git-dir=" + clone.string(), "fsck", "--full", "--strict"}).status());
}

TEST_F(SyncTriggers, RateLimitPausesTheHostAndSchedulesARetry) {
  StartMirrord("");
  Fault limited = Fault::AnswerStatus("info/refs", 429);
  limited.extra_headers = {{"Retry-After", "120"}};
  upstream_->AddFault(limited);

  ASSERT_OK_AND_ASSIGN(ProcessResult sync,
                       mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
  EXPECT_FALSE(sync.ok()) << sync.Describe();

  QueueView queue;
  ASSERT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(queue, QueueJson(*mirrord_));
    return !queue.paused_hosts.empty() && !queue.jobs.empty();
  }));
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_GT(queue.paused_hosts[0].until, now);
  ASSERT_EQ(queue.jobs.size(), 1u);
  EXPECT_EQ(queue.jobs[0].repo, kRepo);
  EXPECT_EQ(queue.jobs[0].state, "queued");
  EXPECT_EQ(queue.jobs[0].attempt, 2);
  EXPECT_GT(queue.jobs[0].not_before, now);

  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_THAT(status.next_attempt, StartsWith("retry 2/"));
  EXPECT_GT(status.next_attempt_at, now);
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->state, "failed");
  EXPECT_THAT(status.last_run->error, ::testing::ContainsRegex("[Rr]ate.?limit|429"));
  ASSERT_OK_AND_ASSIGN(double failures, MetricSum(*mirrord_, "mirrord_sync_failures_total",
                                                  {"reason=\"rate_limited\""}));
  EXPECT_EQ(failures, 1);
}

TEST_F(SyncTriggers, PollingFollowsTheUpstreamAndFetchesOnlyOnChange) {
  StartMirrord("[[repos]]\nname = \"" + std::string(kRepo) + "\"\nurl = \"" + url_ +
               "\"\npoll_interval = \"1s\"\n");
  // Never synced: the startup sync brings it up.
  ASSERT_TRUE(Eventually([&] { return MirrorEqualsUpstream(); }));
  ASSERT_TRUE(WaitForIdle());

  ASSERT_OK_AND_ASSIGN(double syncs_before, MetricSum(*mirrord_, "mirrord_syncs_total"));
  ASSERT_OK_AND_ASSIGN(double unchanged_before,
                       MetricSum(*mirrord_, "mirrord_polls_total", {"result=\"unchanged\""}));
  ASSERT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(double n,
                     MetricSum(*mirrord_, "mirrord_polls_total", {"result=\"unchanged\""}));
    return n >= unchanged_before + 2;
  }));
  ASSERT_OK_AND_ASSIGN(double syncs_idle, MetricSum(*mirrord_, "mirrord_syncs_total"));
  EXPECT_EQ(syncs_idle, syncs_before);
  ASSERT_OK_AND_ASSIGN(RepoStatus idle, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(idle.next_attempt, "poll");

  std::string head = PushUpstream("v2\n");
  ASSERT_TRUE(Eventually([&]() -> Result<bool> {
    ASSIGN_OR_RETURN(std::string served, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
    return served.find(head + "\trefs/heads/main") != std::string::npos;
  })) << mirrord_->Logs();
  ASSERT_TRUE(WaitForIdle());
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->trigger, "poll");
  ASSERT_OK_AND_ASSIGN(double changed,
                       MetricSum(*mirrord_, "mirrord_polls_total", {"result=\"changed\""}));
  EXPECT_GE(changed, 1);
  ASSERT_OK_AND_ASSIGN(double syncs_after, MetricSum(*mirrord_, "mirrord_syncs_total"));
  EXPECT_EQ(syncs_after, syncs_before + 1);
}

}  // namespace
}  // namespace mirrord::test
