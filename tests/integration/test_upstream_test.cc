// Self-tests of the integration fixtures: process helpers, git helpers, the test upstream
// (real git clients against git http-backend, with faults) and the mirrord launcher (with a
// stand-in binary, so these tests do not depend on the daemon).
#include "tests/fixtures/test_upstream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/seeded_bytes.h"

namespace mirrord::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------
// Process helpers

TEST(TestUpstreamProcess, RunCapturesOutputAndExitCode) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.term_signal, 0);
  EXPECT_EQ(r.stdout_text, "out\n");
  EXPECT_EQ(r.stderr_text, "err\n");
  EXPECT_THAT(r.Describe(), HasSubstr("exit 3"));
}

TEST(TestUpstreamProcess, RunFeedsStdinCwdAndEnv) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  ProcessOptions o;
  o.cwd = dir.path();
  o.env["FIXTURE_VAR"] = "value";
  o.stdin_data = SeededBytes(1 << 20, 7);  // larger than a pipe buffer
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       RunProcess({"sh", "-c", "wc -c; pwd; echo \"$FIXTURE_VAR\""}, o));
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.stdout_text, std::to_string(1 << 20) + "\n" + dir.path().string() + "\nvalue\n");
}

TEST(TestUpstreamProcess, RunTimeoutKillsProcessGroup) {
  ProcessOptions o;
  o.timeout = milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  // The grandchild holds stdout open too: the group kill must take it down.
  Result<ProcessResult> r = RunProcess({"sh", "-c", "echo partial >&2; sleep 30 & wait"}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("partial"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
}

TEST(TestUpstreamProcess, RunMissingProgramIsNotFound) {
  Result<ProcessResult> r = RunProcess({"mirrord-fixture-no-such-program"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(TestUpstreamProcess, ChildWaitForLineThenSignal) {
  ASSERT_OK_AND_ASSIGN(auto child,
                       ChildProcess::Start({"sh", "-c",
                                            "echo starting >&2; echo 'ready port=42' >&2; "
                                            "echo to-stdout; exec sleep 60"}));
  ASSERT_OK_AND_ASSIGN(std::string line, child->WaitForLineContaining("ready", seconds(10)));
  EXPECT_EQ(line, "ready port=42");
  EXPECT_EQ(child->StderrLineCount(), 2u);
  EXPECT_FALSE(child->TryWait().has_value());
  ASSERT_OK(child->Kill(SIGTERM));
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, child->Wait(seconds(10)));
  EXPECT_EQ(exit.term_signal, SIGTERM);
  EXPECT_FALSE(child->Kill(SIGTERM).ok());  // reaped: no stray signals
}

TEST(TestUpstreamProcess, ChildWaitForLineReportsEarlyExit) {
  ASSERT_OK_AND_ASSIGN(auto child, ChildProcess::Start({"sh", "-c", "echo goodbye >&2; exit 2"}));
  Result<std::string> line = child->WaitForLineContaining("never printed", seconds(10));
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(line.status().message(), HasSubstr("goodbye"));
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, child->Wait(seconds(10)));
  EXPECT_EQ(exit.exit_code, 2);
}

TEST(TestUpstreamProcess, ChildWaitForLineTimesOut) {
  ASSERT_OK_AND_ASSIGN(auto child, ChildProcess::Start({"sh", "-c", "echo hi >&2; exec sleep 60"}));
  Result<std::string> line = child->WaitForLineContaining("never printed", milliseconds(200));
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), StatusCode::kDeadlineExceeded);
  // The destructor kills and reaps the sleeping child.
}

// ---------------------------------------------------------------------------------------
// Git helpers

// Builds the same small history in `repo`: two commits on main, a feature branch, a
// lightweight and an annotated tag.
void BuildHistory(WorkRepo& repo) {
  ASSERT_OK(repo.CommitFile("README.md", "hello\n", "first").status());
  ASSERT_OK(repo.CommitFile("src/a.txt", "a\n", "second").status());
  ASSERT_OK(repo.CheckoutNewBranch("feature"));
  ASSERT_OK(repo.CommitFile("src/b.txt", "b\n", "feature work").status());
  ASSERT_OK(repo.Checkout("main"));
  ASSERT_OK(repo.CreateTag("v1-light"));
  ASSERT_OK(repo.CreateAnnotatedTag("v1", "release 1"));
}

TEST(GitCli, WorkRepoIsDeterministic) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  ASSERT_OK_AND_ASSIGN(WorkRepo a, WorkRepo::Init(dir.path() / "a"));
  ASSERT_OK_AND_ASSIGN(WorkRepo b, WorkRepo::Init(dir.path() / "b"));
  BuildHistory(a);
  BuildHistory(b);
  ASSERT_OK_AND_ASSIGN(auto refs_a, ForEachRef(a.dir() / ".git"));
  ASSERT_OK_AND_ASSIGN(auto refs_b, ForEachRef(b.dir() / ".git"));
  EXPECT_EQ(refs_a, refs_b);
  ASSERT_EQ(refs_a.size(), 4u);
  EXPECT_TRUE(refs_a[0].ends_with(" refs/heads/feature")) << refs_a[0];
  EXPECT_TRUE(refs_a[1].ends_with(" refs/heads/main")) << refs_a[1];
  ASSERT_OK_AND_ASSIGN(std::string head, a.RevParse("HEAD"));
  ASSERT_OK_AND_ASSIGN(std::string tag, a.RevParse("refs/tags/v1"));
  ASSERT_OK_AND_ASSIGN(std::string peeled, a.RevParse("v1^{commit}"));
  EXPECT_NE(tag, head);  // an annotated tag is its own object
  EXPECT_EQ(peeled, head);
  ASSERT_OK_AND_ASSIGN(std::string light, a.RevParse("refs/tags/v1-light"));
  EXPECT_EQ(light, head);

  ASSERT_OK_AND_ASSIGN(auto heads_only, ForEachRef(a.dir() / ".git", "refs/tags/"));
  EXPECT_EQ(heads_only.size(), 2u);
}

TEST(GitCli, GitFailureCarriesStderr) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  Result<std::string> r = Git({"rev-parse", "--verify", "no-such-ref"}, dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("git rev-parse"));
  EXPECT_THAT(r.status().message(), HasSubstr("not a git repository"));
}

TEST(GitCli, PushMirrorForcePushAndDeletions) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir.path() / "work"));
  BuildHistory(work);
  std::filesystem::path bare = dir.path() / "upstream.git";
  ASSERT_OK(Git({"init", "--quiet", "--bare", bare.string()}).status());
  ASSERT_OK(work.PushMirror(bare.string()));
  ASSERT_OK_AND_ASSIGN(auto work_refs, ForEachRef(work.dir() / ".git"));
  ASSERT_OK_AND_ASSIGN(auto bare_refs, ForEachRef(bare));
  EXPECT_EQ(work_refs, bare_refs);

  // Rewrite main and force-push it; delete a branch and a tag upstream.
  ASSERT_OK(work.ResetHard("HEAD~1"));
  ASSERT_OK_AND_ASSIGN(std::string rewritten, work.CommitFile("c.txt", "c\n", "rewritten"));
  EXPECT_FALSE(work.Push(bare.string(), {"refs/heads/main:refs/heads/main"}).ok());
  ASSERT_OK(work.ForcePush(bare.string(), "main"));
  ASSERT_OK(work.DeleteRemoteRef(bare.string(), "refs/heads/feature"));
  ASSERT_OK(work.DeleteRemoteRef(bare.string(), "refs/tags/v1-light"));
  ASSERT_OK_AND_ASSIGN(bare_refs, ForEachRef(bare));
  EXPECT_EQ(bare_refs, (std::vector<std::string>{rewritten + " refs/heads/main",
                                                 work_refs[3]}));  // the annotated tag
}

// ---------------------------------------------------------------------------------------
// TestUpstream

class TestUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirrord-upstream-test-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "root"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    work_.emplace(std::move(work));
    BuildHistory(*work_);
    // A big incompressible file, so the fetch response is far larger than any cut-off.
    ASSERT_OK(work_->CommitFile("weights.bin", SeededBytes(256 * 1024, 42), "weights").status());
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo("org/model"));
    ASSERT_OK(work_->PushMirror(bare_.string()));
    url_ = upstream_->UrlFor("org/model");
  }

  std::filesystem::path Scratch(std::string_view name) { return dir_->path() / name; }

  // `git clone --mirror` from the upstream into Scratch(name).
  Result<ProcessResult> CloneMirror(std::string_view name, const GitOptions& o = {}) {
    return RunGit({"clone", "--quiet", "--mirror", url_, Scratch(name).string()}, {}, o);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
};

TEST_F(TestUpstreamTest, CloneIsCompleteAndFsckClean) {
  ASSERT_OK_AND_ASSIGN(ProcessResult mirror, CloneMirror("mirror.git"));
  ASSERT_TRUE(mirror.ok()) << mirror.Describe();
  ASSERT_OK_AND_ASSIGN(auto upstream_refs, ForEachRef(bare_));
  ASSERT_OK_AND_ASSIGN(auto mirror_refs, ForEachRef(Scratch("mirror.git")));
  EXPECT_EQ(mirror_refs, upstream_refs);
  ASSERT_OK(Git({"--git-dir=" + Scratch("mirror.git").string(), "fsck", "--full", "--strict"}));

  ASSERT_OK(Git({"clone", "--quiet", url_, Scratch("checkout").string()}));
  ASSERT_OK(Git({"fsck", "--full"}, Scratch("checkout")));
  ASSERT_OK_AND_ASSIGN(std::string weights, ReadFileToString(Scratch("checkout") / "weights.bin"));
  EXPECT_EQ(weights, SeededBytes(256 * 1024, 42));

  std::vector<RequestRecord> log = upstream_->requests();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].target, "/org/model.git/info/refs?service=git-upload-pack");
  for (const RequestRecord& r : log) {
    EXPECT_EQ(r.status, 200) << r.target << " " << r.cgi_stderr;
    EXPECT_TRUE(r.completed) << r.target;
    EXPECT_FALSE(r.has_authorization);
  }
}

TEST_F(TestUpstreamTest, LsRemoteSpeaksProtocolV2AndV0) {
  GitOptions v2;
  v2.protocol_version = 2;
  ASSERT_OK_AND_ASSIGN(std::string out, Git({"ls-remote", url_}, {}, v2));
  ASSERT_OK_AND_ASSIGN(std::string head, work_->RevParse("main"));
  EXPECT_THAT(out, HasSubstr(head + "\trefs/heads/main"));
  EXPECT_THAT(out, HasSubstr("\trefs/tags/v1^{}"));
  std::vector<RequestRecord> log = upstream_->requests();
  ASSERT_EQ(log.size(), 2u);  // capability advertisement, then the ls-refs command
  EXPECT_EQ(log[0].git_protocol, "version=2");
  EXPECT_EQ(log[1].method, "POST");
  EXPECT_EQ(log[1].target, "/org/model.git/git-upload-pack");
  EXPECT_EQ(log[1].git_protocol, "version=2");
  EXPECT_EQ(log[1].status, 200);

  upstream_->ClearRequests();
  GitOptions v0;
  v0.protocol_version = 0;
  ASSERT_OK_AND_ASSIGN(std::string out0, Git({"ls-remote", url_}, {}, v0));
  EXPECT_EQ(out0, out);
  log = upstream_->requests();
  ASSERT_EQ(log.size(), 1u);  // v0 advertises every ref in the GET
  EXPECT_EQ(log[0].git_protocol, "");
}

TEST_F(TestUpstreamTest, PushOverHttp) {
  ASSERT_OK_AND_ASSIGN(std::string sha, work_->CommitFile("new.txt", "new\n", "over http"));
  ASSERT_OK(work_->Push(url_, {"refs/heads/main:refs/heads/main"}));
  ASSERT_OK_AND_ASSIGN(std::string remote_main,
                       Git({"--git-dir=" + bare_.string(), "rev-parse", "refs/heads/main"}));
  EXPECT_EQ(remote_main, sha + "\n");
  auto log = upstream_->requests();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().target, "/org/model.git/git-receive-pack");
}

TEST_F(TestUpstreamTest, StatusFaultFailsClone) {
  Fault f = Fault::AnswerStatus("/info/refs", 500);
  int id = upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult r, CloneMirror("mirror.git"));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.stderr_text, HasSubstr("500"));
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  auto log = upstream_->requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].status, 500);
  EXPECT_EQ(log[0].fault_id, id);
}

TEST_F(TestUpstreamTest, DropAfterBytesFailsClone) {
  for (bool reset : {false, true}) {
    SCOPED_TRACE(reset ? "RST" : "FIN");
    upstream_->ClearFaults();
    upstream_->ClearRequests();
    Fault f;
    f.path_substring = "/git-upload-pack";
    f.method = "POST";
    f.drop_after_bytes = 8192;  // ls-refs fits; the pack does not
    f.reset_on_drop = reset;
    upstream_->AddFault(f);
    ASSERT_OK_AND_ASSIGN(ProcessResult r, CloneMirror(reset ? "mirror-rst.git" : "mirror-fin.git"));
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(r.stderr_text, HasSubstr(reset ? "curl 56" : "curl 18")) << r.stderr_text;
    auto log = upstream_->requests();
    ASSERT_FALSE(log.empty());
    EXPECT_TRUE(log.back().dropped);
    EXPECT_EQ(log.back().response_body_bytes, 8192u);
  }
}

TEST_F(TestUpstreamTest, StallHoldsResponseUntilCleared) {
  Fault f = Fault::Stall("/info/refs");
  int id = upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessOptions o, GitProcessOptions());
  ASSERT_OK_AND_ASSIGN(auto clone, ChildProcess::Start({"git", "clone", "--quiet", "--mirror", url_,
                                                        Scratch("mirror.git").string()},
                                                       o));
  ASSERT_OK_AND_ASSIGN(
      RequestRecord stalled,
      upstream_->WaitForRequest(
          [&](const RequestRecord& r) { return r.stalled && r.fault_id == id; }, seconds(30)));
  EXPECT_EQ(stalled.status, 200);
  EXPECT_EQ(stalled.response_body_bytes, 0u);
  EXPECT_FALSE(clone->TryWait().has_value());  // still waiting for the body

  upstream_->ClearFaults();
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, clone->Wait(seconds(60)));
  EXPECT_TRUE(exit.exited_ok()) << exit.ToString() << " " << clone->StderrText();
  ASSERT_OK(Git({"--git-dir=" + Scratch("mirror.git").string(), "fsck", "--full"}));
}

TEST_F(TestUpstreamTest, StallEndsWhenServerStops) {
  Fault f = Fault::Stall("/info/refs");
  upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessOptions o, GitProcessOptions());
  ASSERT_OK_AND_ASSIGN(auto clone, ChildProcess::Start({"git", "ls-remote", url_}, o));
  ASSERT_OK(upstream_->WaitForRequest([](const RequestRecord& r) { return r.stalled; }, seconds(30))
                .status());
  upstream_->Stop();
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, clone->Wait(seconds(60)));
  EXPECT_FALSE(exit.exited_ok());
}

TEST_F(TestUpstreamTest, TimesOneAppliesOnce) {
  Fault f = Fault::AnswerStatus("/info/refs", 503);
  f.extra_headers["Retry-After"] = "7";
  f.times = 1;
  int id = upstream_->AddFault(f);
  Result<std::string> first = Git({"ls-remote", url_});
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.status().message(), HasSubstr("503"));
  ASSERT_OK(Git({"ls-remote", url_}));
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  auto log = upstream_->requests();
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log[0].status, 503);
  EXPECT_EQ(log[1].status, 200);
  EXPECT_FALSE(log[1].fault_id.has_value());

  // The extra header reaches the client.
  upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(HttpReply reply, HttpFetch(url_ + "/info/refs?service=git-upload-pack"));
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.Header("Retry-After").value_or(""), "7");
}

TEST_F(TestUpstreamTest, RequireAuth) {
  const std::string kAuth = "Bearer fixture-token-123";
  upstream_->SetRequireAuth(kAuth);
  Result<std::string> anonymous = Git({"ls-remote", url_});
  ASSERT_FALSE(anonymous.ok());
  auto log = upstream_->requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].status, 401);
  EXPECT_FALSE(log[0].has_authorization);

  GitOptions wrong;
  wrong.config = {"http.extraHeader=Authorization: Bearer wrong"};
  EXPECT_FALSE(Git({"ls-remote", url_}, {}, wrong).ok());

  GitOptions right;
  right.config = {"http.extraHeader=Authorization: " + kAuth};
  upstream_->ClearRequests();
  ASSERT_OK(Git({"ls-remote", url_}, {}, right));
  log = upstream_->requests();
  ASSERT_FALSE(log.empty());
  for (const RequestRecord& r : log) {
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.has_authorization);
    EXPECT_EQ(r.authorization, kAuth);
  }
}

TEST_F(TestUpstreamTest, DelayPostponesAnswer) {
  Fault f;
  f.path_substring = "/info/refs";
  f.delay = milliseconds(500);
  f.times = 1;
  int id = upstream_->AddFault(f);
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(Git({"ls-remote", url_}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(500));
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  EXPECT_EQ(upstream_->requests()[0].fault_id, id);
}

TEST_F(TestUpstreamTest, RoutesServeBeforeGitAndFaultsApplyToThem) {
  upstream_->AddRoute("/custom/", [](const UpstreamRequest& req) {
    return UpstreamResponse::Json(200, "{\"path\":\"" + req.path + "\",\"range\":\"" +
                                           req.Header("range").value_or("") + "\"}");
  });
  // A streamed body of unknown length (chunked) from a source.
  upstream_->AddRoute([](const UpstreamRequest& req) { return req.path == "/stream"; },
                      [](const UpstreamRequest&) {
                        UpstreamResponse r;
                        auto pieces = std::make_shared<int>(0);
                        r.source = [pieces]() -> Result<std::string> {
                          if (*pieces == 4) return std::string();
                          return std::string(1000, static_cast<char>('a' + (*pieces)++));
                        };
                        return r;
                      });
  HttpCall call;
  call.headers = {{"Range", "bytes=10-"}};
  ASSERT_OK_AND_ASSIGN(HttpReply json, HttpFetch(upstream_->BaseUrl() + "/custom/a%20b", call));
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.body, R"({"path":"/custom/a b","range":"bytes=10-"})");
  EXPECT_EQ(upstream_->requests().back().range, "bytes=10-");

  ASSERT_OK_AND_ASSIGN(HttpReply streamed, HttpFetch(upstream_->BaseUrl() + "/stream"));
  EXPECT_EQ(streamed.body.size(), 4000u);
  EXPECT_EQ(streamed.body.substr(3000), std::string(1000, 'd'));

  Fault f;
  f.path_substring = "/stream";
  f.drop_after_bytes = 1500;
  upstream_->AddFault(f);
  Result<HttpReply> cut = HttpFetch(upstream_->BaseUrl() + "/stream");
  EXPECT_FALSE(cut.ok());
  EXPECT_EQ(upstream_->requests().back().response_body_bytes, 1500u);

  // Git requests still reach http-backend.
  ASSERT_OK(Git({"ls-remote", url_}));
}

// ---------------------------------------------------------------------------------------
// MirrordProcess, against a stand-in that honours the daemon's start-up contract.

constexpr std::string_view kFakeMirrord = R"sh(#!/bin/sh
# $1 = --config, $2 = FILE; the store is FILE's sibling "store".
store="$(dirname "$2")/store"
mkdir -p "$store"
[ -f "$store/admin.token" ] || { printf 'tok%s\n' "$$" > "$store/admin.token"; }
trap 'kill $! 2>/dev/null; echo "stopping" >&2; exit 0' TERM
echo "starting with $2" >&2
echo "2026-01-01T00:00:00.000Z INFO  listening on http://127.0.0.1:4$(date +%N | cut -c1-4)" >&2
while :; do sleep 60 >/dev/null 2>&1 & wait $!; done
)sh";

constexpr std::string_view kFakeMirrorctl = R"sh(#!/bin/sh
echo "url=$MIRRORD_URL args=$*"
exit 4
)sh";

TEST(TestUpstreamFixtures, MirrordProcessWithStandInBinary) {
  ASSERT_OK_AND_ASSIGN(TempDir bin, TempDir::Create());
  ASSERT_OK(WriteFileAtomically(bin.path() / "mirrord", kFakeMirrord, 0755));
  ASSERT_OK(WriteFileAtomically(bin.path() / "mirrorctl", kFakeMirrorctl, 0755));
  MirrordOptions o;
  o.mirrord_binary = bin.path() / "mirrord";
  o.mirrorctl_binary = bin.path() / "mirrorctl";
  o.server_toml = "read_timeout = \"5s\"";
  o.extra_toml = "[upstreams.test]\nurl = \"http://127.0.0.1:1/{repo}.git\"";
  ASSERT_OK_AND_ASSIGN(auto m, MirrordProcess::Start(o));
  EXPECT_GE(m->port(), 40000);
  EXPECT_EQ(m->BaseUrl(), "http://127.0.0.1:" + std::to_string(m->port()));
  ASSERT_OK_AND_ASSIGN(std::string config, ReadFileToString(m->config_path()));
  EXPECT_THAT(config, HasSubstr("[server]\nlisten = \"127.0.0.1:0\"\nread_timeout = \"5s\"\n"));
  EXPECT_THAT(config, HasSubstr("[storage]\nroot = \"" + m->store_dir().string() + "\""));
  EXPECT_THAT(config, HasSubstr("[upstreams.test]"));
  ASSERT_OK_AND_ASSIGN(std::string token, m->AdminToken());
  EXPECT_TRUE(token.starts_with("tok"));

  ASSERT_OK_AND_ASSIGN(ProcessResult ctl, m->Mirrorctl({"status", "org/model"}));
  EXPECT_EQ(ctl.exit_code, 4);
  EXPECT_EQ(ctl.stdout_text, "url=" + m->BaseUrl() + " args=--config " + m->config_path().string() +
                                 " status org/model\n");

  ASSERT_OK(m->Restart());  // SIGTERM, then a new process on the same store
  ASSERT_OK_AND_ASSIGN(std::string token2, m->AdminToken());
  EXPECT_EQ(token2, token);
  EXPECT_THAT(m->Logs(), HasSubstr("stopping\n--- restart ---\nstarting with"));

  ASSERT_OK(m->Kill());
  EXPECT_EQ(m->process(), nullptr);
  ASSERT_OK(m->Restart());
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, m->Terminate());
  EXPECT_EQ(exit.exit_code, 0);
}

TEST(TestUpstreamFixtures, MirrordProcessReportsEarlyExit) {
  ASSERT_OK_AND_ASSIGN(TempDir bin, TempDir::Create());
  ASSERT_OK(WriteFileAtomically(bin.path() / "mirrord",
                                "#!/bin/sh\necho 'config: [server] listen: bad' >&2\nexit 2\n",
                                0755));
  MirrordOptions o;
  o.mirrord_binary = bin.path() / "mirrord";
  Result<std::unique_ptr<MirrordProcess>> m = MirrordProcess::Start(o);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("listen: bad"));
}

}  // namespace
}  // namespace mirrord::test
