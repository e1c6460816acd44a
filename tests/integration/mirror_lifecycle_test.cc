// mirrorctl's day-to-day commands (list, status, remove, --help) against a real mirrord, and
// a clean stop on SIGTERM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using std::chrono::seconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

class MirrorLifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-lifecycle-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    for (std::string_view name : {"org/alpha", "org/beta"}) {
      ASSERT_OK_AND_ASSIGN(WorkRepo work,
                           WorkRepo::Init(dir_->path() / "work" / std::string(name)));
      ASSERT_OK(work.CommitFile("README.md", std::string(name) + "\n", "init").status());
      ASSERT_OK(work.CreateBranch("dev"));
      ASSERT_OK(work.CreateAnnotatedTag("v1", "one"));
      ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo(name));
      ASSERT_OK(work.PushMirror(bare.string()));
    }
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start());
  }

  void SyncOk(std::string_view name) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(name), "--url",
                                                               upstream_->UrlFor(name)}));
    ASSERT_TRUE(r.ok()) << r.Describe();
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorLifecycle, ListAndStatus) {
  ASSERT_OK_AND_ASSIGN(ProcessResult empty, mirrord_->Mirrorctl({"status"}));
  EXPECT_TRUE(empty.ok()) << empty.Describe();
  EXPECT_THAT(empty.stdout_text, HasSubstr("no repositories are mirrored"));

  SyncOk("org/alpha");
  SyncOk("org/beta");

  ASSERT_OK_AND_ASSIGN(ProcessResult list, mirrord_->Mirrorctl({"list"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  std::vector<std::string> lines = Lines(list.stdout_text);
  ASSERT_EQ(lines.size(), 3u) << list.stdout_text;
  EXPECT_THAT(lines[0], StartsWith("NAME"));
  for (std::string_view col : {"STATE", "LAST-SUCCESS", "LAST-FAILURE", "REFS", "UPSTREAM"}) {
    EXPECT_THAT(lines[0], HasSubstr(col));
  }
  for (size_t i = 1; i < 3; ++i) {
    std::istringstream row(lines[i]);
    std::string name, state;
    row >> name >> state;
    EXPECT_EQ(name, i == 1 ? "org/alpha" : "org/beta");
    EXPECT_EQ(state, "ready");
    EXPECT_THAT(lines[i], HasSubstr(" 3 "));  // main, dev, v1
    EXPECT_THAT(lines[i], HasSubstr(upstream_->UrlFor(name)));
  }

  ASSERT_OK_AND_ASSIGN(ProcessResult one, mirrord_->Mirrorctl({"status", "org/alpha"}));
  ASSERT_TRUE(one.ok()) << one.Describe();
  EXPECT_THAT(one.stdout_text, StartsWith("org/alpha\n"));
  EXPECT_THAT(one.stdout_text, HasSubstr("state:"));
  EXPECT_THAT(one.stdout_text, HasSubstr("ready"));
  EXPECT_THAT(one.stdout_text, HasSubstr("refs/heads/main"));
  EXPECT_THAT(one.stdout_text, HasSubstr("succeeded"));
  EXPECT_THAT(one.stdout_text, Not(HasSubstr("org/beta")));

  ASSERT_OK_AND_ASSIGN(ProcessResult all_json, mirrord_->Mirrorctl({"status", "--json"}));
  ASSERT_TRUE(all_json.ok()) << all_json.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value all, ParseJson(all_json.stdout_text));
  ASSERT_TRUE(all.is_object());
  const boost::json::value* repos = all.as_object().if_contains("repos");
  ASSERT_NE(repos, nullptr);
  ASSERT_TRUE(repos->is_array());
  std::set<std::string> names;
  for (const boost::json::value& item : repos->as_array()) {
    ASSERT_OK_AND_ASSIGN(RepoStatus status, RepoStatusFromJson(item));
    names.insert(status.name);
    EXPECT_EQ(status.state, "ready");
    EXPECT_EQ(status.ref_count, 3u);
    EXPECT_EQ(status.head, "refs/heads/main");
    EXPECT_GT(status.last_success_at, 0);
  }
  EXPECT_EQ(names, (std::set<std::string>{"org/alpha", "org/beta"}));

  ASSERT_OK_AND_ASSIGN(ProcessResult one_json, mirrord_->Mirrorctl({"status", "org/beta",
                                                                    "--json"}));
  ASSERT_TRUE(one_json.ok()) << one_json.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value beta, ParseJson(one_json.stdout_text));
  ASSERT_OK_AND_ASSIGN(RepoStatus beta_status, RepoStatusFromJson(beta));
  EXPECT_EQ(beta_status.name, "org/beta");
  EXPECT_EQ(beta_status.url, upstream_->UrlFor("org/beta"));

  // Unknown names are errors, not empty answers.
  ASSERT_OK_AND_ASSIGN(ProcessResult unknown, mirrord_->Mirrorctl({"status", "org/gamma"}));
  EXPECT_EQ(unknown.exit_code, 4) << unknown.Describe();
  EXPECT_THAT(unknown.stderr_text, HasSubstr("org/gamma"));
}

TEST_F(MirrorLifecycle, RemoveDeletesTheMirror) {
  SyncOk("org/alpha");
  SyncOk("org/beta");
  std::filesystem::path dir = mirrord_->store_dir() / "repos" / "org" / "alpha.git";
  ASSERT_TRUE(std::filesystem::is_directory(dir));

  ASSERT_OK_AND_ASSIGN(ProcessResult removed,
                       mirrord_->Mirrorctl({"remove", "org/alpha", "--yes"}));
  ASSERT_TRUE(removed.ok()) << removed.Describe();
  EXPECT_THAT(removed.stdout_text, HasSubstr("removed org/alpha"));

  EXPECT_FALSE(std::filesystem::exists(dir));
  ASSERT_OK_AND_ASSIGN(HttpReply refs,
                       HttpFetch(mirrord_->UrlFor("org/alpha") +
                                 "/info/refs?service=git-upload-pack"));
  EXPECT_EQ(refs.status, 404);
  ASSERT_OK_AND_ASSIGN(ProcessResult clone,
                       RunGit({"clone", mirrord_->UrlFor("org/alpha"),
                               (dir_->path() / "alpha").string()}));
  EXPECT_FALSE(clone.ok());
  EXPECT_THAT(clone.stderr_text, HasSubstr("not found")) << clone.stderr_text;

  ASSERT_OK_AND_ASSIGN(ProcessResult status, mirrord_->Mirrorctl({"status", "org/alpha"}));
  EXPECT_EQ(status.exit_code, 4) << status.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult list, mirrord_->Mirrorctl({"list"}));
  EXPECT_THAT(list.stdout_text, Not(HasSubstr("org/alpha")));
  EXPECT_THAT(list.stdout_text, HasSubstr("org/beta"));
  ASSERT_OK_AND_ASSIGN(ProcessResult again,
                       mirrord_->Mirrorctl({"remove", "org/alpha", "--yes"}));
  EXPECT_EQ(again.exit_code, 4) << again.Describe();

  // The neighbour is untouched.
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor("org/beta"),
                 (dir_->path() / "beta").string()})
                .status());

  // The name can be mirrored again from scratch.
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/alpha")}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/alpha")}));
  EXPECT_EQ(got, want);
}

TEST_F(MirrorLifecycle, HelpOfEveryCommand) {
  const std::vector<std::vector<std::string>> invocations = {
      {"--help"},          {"sync", "--help"},  {"list", "--help"},      {"status", "--help"},
      {"remove", "--help"}, {"queue", "--help"}, {"completion", "--help"}};
  for (const auto& args : invocations) {
    SCOPED_TRACE(args.size() == 1 ? "mirrorctl --help" : args[0] + " --help");
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl(args));
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_THAT(r.stdout_text, HasSubstr("Usage")) << r.stdout_text;
    if (args[0] == "sync") {
      for (std::string_view flag : {"--upstream", "--path", "--url", "--no-follow"}) {
        EXPECT_THAT(r.stdout_text, HasSubstr(flag));
      }
    }
    // The global flags are named in every command's help.
    for (std::string_view flag : {"--json", "--server", "--token"}) {
      EXPECT_THAT(r.stdout_text, HasSubstr(flag));
    }
    if (args[0] == "--help") {
      EXPECT_THAT(r.stdout_text, HasSubstr("Exit codes"));
      EXPECT_THAT(r.stdout_text, HasSubstr("MIRRORD_TOKEN"));
    }
    if (args[0] == "remove") {
      EXPECT_THAT(r.stdout_text, HasSubstr("--yes"));
    }
  }
  ASSERT_OK_AND_ASSIGN(ProcessResult daemon_help,
                       RunProcess({MirrordProcess::DefaultMirrordBinary().string(), "--help"}));
  EXPECT_EQ(daemon_help.exit_code, 0) << daemon_help.Describe();
  EXPECT_THAT(daemon_help.stdout_text, HasSubstr("--config"));
  EXPECT_THAT(daemon_help.stdout_text, HasSubstr("--check-config"));
  // A usage error is exit 2.
  ASSERT_OK_AND_ASSIGN(ProcessResult usage, mirrord_->Mirrorctl({"sync"}));
  EXPECT_EQ(usage.exit_code, 2) << usage.Describe();
}

TEST_F(MirrorLifecycle, SigtermStopsCleanly) {
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, mirrord_->Terminate(seconds(20)));
  EXPECT_EQ(exit.exit_code, 0) << exit.ToString() << "\n" << mirrord_->Logs();
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("mirrord stopped"));
  // The same store comes back with the mirror.
  ASSERT_OK(mirrord_->Restart());
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/alpha")}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/alpha")}));
  EXPECT_EQ(got, want);
}

TEST_F(MirrorLifecycle, SigtermDuringAStalledSyncStopsPromptly) {
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "more"));
  ASSERT_OK(work.CommitFile("more.txt", "more\n", "more").status());
  ASSERT_OK(work.Push(upstream_->RepoPath("org/alpha").string(), {"HEAD:refs/heads/more"}));
  Fault f = Fault::Stall("/git-upload-pack", "POST");
  int stall = upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       mirrord_->Mirrorctl({"sync", "org/alpha", "--no-follow"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  ASSERT_OK(upstream_
                ->WaitForRequest(
                    [&](const RequestRecord& r) { return r.stalled && r.fault_id == stall; },
                    seconds(30))
                .status());
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, mirrord_->Terminate(seconds(20)));
  EXPECT_EQ(exit.exit_code, 0) << exit.ToString() << "\n" << mirrord_->Logs();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(15));

  upstream_->ClearFaults();
  ASSERT_OK(mirrord_->Restart());
  // The published mirror is intact, and the cancelled run is not reported as a failure.
  ASSERT_OK_AND_ASSIGN(ProcessResult status, mirrord_->Mirrorctl({"status", "org/alpha",
                                                                  "--json"}));
  ASSERT_TRUE(status.ok()) << status.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value v, ParseJson(status.stdout_text));
  ASSERT_OK_AND_ASSIGN(RepoStatus repo, RepoStatusFromJson(v));
  EXPECT_EQ(repo.state, "ready");
  ASSERT_TRUE(repo.last_run.has_value());
  EXPECT_EQ(repo.last_run->state, "interrupted");
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor("org/alpha"),
                 (dir_->path() / "alpha").string()})
                .status());
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/alpha")}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/alpha")}));
  EXPECT_EQ(got, want);
}

TEST_F(MirrorLifecycle, RemoveDuringAStalledSyncIsPrompt) {
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "more"));
  ASSERT_OK(work.CommitFile("more.txt", "more\n", "more").status());
  ASSERT_OK(work.Push(upstream_->RepoPath("org/alpha").string(), {"HEAD:refs/heads/more"}));
  Fault f = Fault::Stall("/org/alpha.git/git-upload-pack", "POST");
  int stall = upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       mirrord_->Mirrorctl({"sync", "org/alpha", "--no-follow"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  ASSERT_OK(upstream_
                ->WaitForRequest(
                    [&](const RequestRecord& r) { return r.stalled && r.fault_id == stall; },
                    seconds(30))
                .status());
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(ProcessResult removed,
                       mirrord_->Mirrorctl({"remove", "org/alpha", "--yes"}, seconds(30)));
  EXPECT_TRUE(removed.ok()) << removed.Describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(10));
  EXPECT_FALSE(std::filesystem::exists(mirrord_->store_dir() / "repos" / "org" / "alpha.git"));
  ASSERT_OK_AND_ASSIGN(HttpReply refs,
                       HttpFetch(mirrord_->UrlFor("org/alpha") +
                                 "/info/refs?service=git-upload-pack"));
  EXPECT_EQ(refs.status, 404);
  // The daemon is fine afterwards: the name can come back.
  upstream_->ClearFaults();
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/alpha")}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/alpha")}));
  EXPECT_EQ(got, want);
}

TEST_F(MirrorLifecycle, SigtermWhileAClientFollowsASync) {
  SyncOk("org/alpha");
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "more"));
  ASSERT_OK(work.CommitFile("more.txt", "more\n", "more").status());
  ASSERT_OK(work.Push(upstream_->RepoPath("org/alpha").string(), {"HEAD:refs/heads/more"}));
  Fault f = Fault::Stall("/git-upload-pack", "POST");
  int stall = upstream_->AddFault(f);
  // `mirrorctl sync` following the run's progress, as a user would.
  ASSERT_OK_AND_ASSIGN(ProcessOptions o, GitProcessOptions(mirrord_->work_dir()));
  o.env["MIRRORD_URL"] = mirrord_->BaseUrl();
  ASSERT_OK_AND_ASSIGN(auto follower,
                       ChildProcess::Start({MirrordProcess::DefaultMirrorctlBinary().string(),
                                            "--config", mirrord_->config_path().string(), "sync",
                                            "org/alpha"},
                                           o));
  ASSERT_OK(upstream_
                ->WaitForRequest(
                    [&](const RequestRecord& r) { return r.stalled && r.fault_id == stall; },
                    seconds(30))
                .status());
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, mirrord_->Terminate(seconds(30)));
  EXPECT_EQ(exit.exit_code, 0) << exit.ToString();
  // Stopping cancels the sync at once (the transfer polls its cancel flag every 100 ms); the
  // follower's stream must not keep the HTTP server's drain waiting for a sync that only
  // gets cancelled after the drain.
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
  ASSERT_OK_AND_ASSIGN(ExitStatus follower_exit, follower->Wait(seconds(30)));
  // The follower is told the sync did not complete and why, not that it "carries on".
  const std::string said = follower->StderrText();
  EXPECT_NE(follower_exit.exit_code, 0) << said;
  EXPECT_THAT(said, HasSubstr("org/alpha")) << said;
  EXPECT_THAT(said, AnyOf(HasSubstr("interrupted"), HasSubstr("ancel"), HasSubstr("stopping"),
                          HasSubstr("shutting down")))
      << said;
  EXPECT_THAT(said, Not(HasSubstr("carries on"))) << said;
}

TEST_F(MirrorLifecycle, AdminApiNeedsTheToken) {
  ASSERT_OK_AND_ASSIGN(HttpReply anonymous, HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos"));
  EXPECT_EQ(anonymous.status, 401);
  HttpCall wrong;
  wrong.headers.emplace_back("Authorization", "Bearer not-the-token");
  ASSERT_OK_AND_ASSIGN(HttpReply refused, HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos", wrong));
  EXPECT_EQ(refused.status, 401);
  HttpCall sync = wrong;
  sync.method = "POST";
  sync.body = "{\"name\": \"org/alpha\", \"url\": \"" + upstream_->UrlFor("org/alpha") + "\"}";
  ASSERT_OK_AND_ASSIGN(HttpReply add, HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos", sync));
  EXPECT_EQ(add.status, 401);
  EXPECT_FALSE(std::filesystem::exists(mirrord_->store_dir() / "repos" / "org"));

  // mirrorctl with another store's token: exit 3, saying why.
  std::filesystem::path other = dir_->path() / "other.toml";
  std::filesystem::path token = dir_->path() / "wrong.token";
  ASSERT_OK(WriteFileAtomically(token, "not-the-token\n"));
  ASSERT_OK(WriteFileAtomically(other, "[admin]\ntoken_file = \"" + token.string() + "\"\n"));
  ASSERT_OK_AND_ASSIGN(
      ProcessResult r,
      RunProcess({MirrordProcess::DefaultMirrorctlBinary().string(), "--config", other.string(),
                  "--server", mirrord_->BaseUrl(), "list"}));
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  EXPECT_THAT(r.stderr_text, HasSubstr("token")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, Not(HasSubstr("not-the-token")));

  // And with mirrord gone: exit 3 too.
  ASSERT_OK(mirrord_->Terminate().status());
  ASSERT_OK_AND_ASSIGN(ProcessResult gone, mirrord_->Mirrorctl({"list"}));
  EXPECT_EQ(gone.exit_code, 3) << gone.Describe();
  EXPECT_FALSE(gone.stderr_text.empty());
}

}  // namespace
}  // namespace mirrord::test
