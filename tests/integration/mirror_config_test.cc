// A bad config file stops mirrord at once with one line naming the key; a good one passes
// --check-config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <boost/json/value.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/poll_until.h"

namespace mirrord::test {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

struct BadConfig {
  std::string label;
  std::string toml;
  std::vector<std::string> mentions;  // substrings the one error line must contain
};

class MirrorConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-config-"));
    dir_.emplace(std::move(dir));
  }

  // Writes `toml` to a file and runs `mirrord --config FILE [extra]` in the scratch dir. A
  // config that wrongly passes would leave mirrord serving: the timeout turns that into a
  // failure instead of a hang.
  Result<ProcessResult> RunMirrord(const std::string& file_name, const std::string& toml,
                                   const std::vector<std::string>& extra = {}) {
    std::filesystem::path file = dir_->path() / file_name;
    RETURN_IF_ERROR(WriteFileAtomically(file, toml));
    std::vector<std::string> argv = {MirrordProcess::DefaultMirrordBinary().string(), "--config",
                                     file.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions o;
    o.cwd = dir_->path();
    o.timeout = std::chrono::milliseconds(20'000);
    return RunProcess(argv, o);
  }

  std::string Prefix() const {
    return "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\nroot = \"" +
           (dir_->path() / "store").string() + "\"\n\n";
  }

  std::optional<TempDir> dir_;
};

TEST_F(MirrorConfig, BadFilesStopMirrordWithOneLineNamingTheKey) {
  const std::string store = (dir_->path() / "store").string();
  const std::vector<BadConfig> cases = {
      {"listen", "[server]\nlisten = \"nonsense\"\n\n[storage]\nroot = \"" + store + "\"\n",
       {"[server]", "listen", "nonsense"}},
      {"listen-port", "[server]\nlisten = \"127.0.0.1:99999\"\n", {"listen", "99999"}},
      {"unknown-server-key",
       "[server]\nlisten = \"127.0.0.1:0\"\nlisten_backlog = 5\n\n[storage]\nroot = \"" + store +
           "\"\n",
       {"[server]", "listen_backlog", "unknown key"}},
      {"unknown-top-key", Prefix() + "colour = \"blue\"\n", {"colour", "unknown key"}},
      {"unknown-sync-key", Prefix() + "[sync]\nstall_timout = \"2s\"\n",
       {"[sync]", "stall_timout", "unknown key"}},
      {"bad-repo-name",
       Prefix() + "[[repos]]\nname = \"../escape\"\nurl = \"http://127.0.0.1:1/x.git\"\n",
       {"repos", "name", "../escape"}},
      {"reserved-repo-name", Prefix() + "[[repos]]\nname = \"metrics/x\"\n",
       {"repos", "name", "reserved"}},
      {"unknown-upstream", Prefix() + "[[repos]]\nname = \"org/model\"\nupstream = \"nowhere\"\n",
       {"repos", "upstream", "nowhere"}},
      {"bad-duration", Prefix() + "[sync]\nstall_timeout = \"soon\"\n", {"stall_timeout", "soon"}},
      {"upstream-without-placeholder", Prefix() + "[upstreams.lab]\nurl = \"http://lab.example/x\"\n",
       {"upstreams.lab", "url", "{repo}"}},
      {"bad-upstream-scheme", Prefix() + "[upstreams.lab]\nurl = \"ftp://lab.example/{repo}\"\n",
       {"upstreams.lab", "url"}},
      {"upstream-unknown-key",
       Prefix() + "[upstreams.lab]\nurl = \"http://h/{repo}\"\ntoken = \"x\"\n",
       {"upstreams.lab", "token", "unknown key"}},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.label);
    for (bool check_only : {false, true}) {
      SCOPED_TRACE(check_only ? "--check-config" : "serve");
      std::vector<std::string> extra;
      if (check_only) extra.push_back("--check-config");
      ASSERT_OK_AND_ASSIGN(ProcessResult r, RunMirrord(c.label + ".toml", c.toml, extra));
      EXPECT_NE(r.exit_code, 0) << r.Describe();
      EXPECT_EQ(r.term_signal, 0);
      // One line, naming the file and the key.
      EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
      EXPECT_THAT(r.stderr_text, HasSubstr(c.label + ".toml")) << r.stderr_text;
      for (const std::string& m : c.mentions) {
        EXPECT_THAT(r.stderr_text, HasSubstr(m)) << r.stderr_text;
      }
      EXPECT_THAT(r.stdout_text, Not(HasSubstr("configuration OK")));
    }
  }
  // None of them got as far as creating the store.
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "store"));
}

TEST_F(MirrorConfig, TomlSyntaxErrorNamesFileAndLine) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r,
                       RunMirrord("broken.toml", Prefix() + "[sync\nstall_timeout = 3\n"));
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("broken.toml:"));
}

TEST_F(MirrorConfig, MissingFileIsAnError) {
  std::vector<std::string> argv = {MirrordProcess::DefaultMirrordBinary().string(), "--config",
                                   (dir_->path() / "absent.toml").string()};
  ProcessOptions o;
  o.cwd = dir_->path();
  o.timeout = std::chrono::milliseconds(20'000);
  ASSERT_OK_AND_ASSIGN(ProcessResult r, RunProcess(argv, o));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.stderr_text, HasSubstr("absent.toml"));
}

TEST_F(MirrorConfig, CheckConfigAcceptsAGoodFile) {
  std::filesystem::path token = dir_->path() / "lab.token";
  ASSERT_OK(WriteFileAtomically(token, "secret\n"));
  const std::string good = Prefix() +
                           "[admin]\ntoken_file = \"" + (dir_->path() / "admin.token").string() +
                           "\"\n\n"
                           "[sync]\nstall_timeout = \"90s\"\nconcurrency = 2\n"
                           "refspecs = [\"+refs/heads/*:refs/heads/*\", \"+refs/tags/*:refs/tags/*\"]\n"
                           "maintenance = false\n\n"
                           "[upstreams.lab]\nurl = \"https://git.lab.example/{repo}.git\"\n"
                           "token_file = \"" + token.string() + "\"\n\n"
                           "[upstreams.github]\nurl = \"https://github.example/{repo}.git\"\n\n"
                           "[[repos]]\nname = \"THUDM/chatglm3-6b\"\n\n"
                           "[[repos]]\nname = \"hf/THUDM/chatglm3-6b\"\nupstream = \"hf\"\n"
                           "path = \"THUDM/chatglm3-6b\"\npoll_interval = \"1h\"\n\n"
                           "[[repos]]\nname = \"lab/private\"\nupstream = \"lab\"\n\n"
                           "[[repos]]\nname = \"direct/repo\"\nurl = \"https://example.com/x.git\"\n";
  ASSERT_OK_AND_ASSIGN(ProcessResult r, RunMirrord("good.toml", good, {"--check-config"}));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.stdout_text, HasSubstr("configuration OK"));
  EXPECT_EQ(r.stderr_text, "");
  // Checking does not start anything or create the store.
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "store"));

  // The example config shipped with the project is valid too.
  std::filesystem::path example =
      std::filesystem::path(MIRRORD_SOURCE_DIR) / "systemd" / "mirrord.toml.example";
  if (std::filesystem::exists(example)) {
    std::vector<std::string> argv = {MirrordProcess::DefaultMirrordBinary().string(), "--config",
                                     example.string(), "--check-config"};
    ProcessOptions o;
    o.cwd = dir_->path();
    o.timeout = std::chrono::milliseconds(20'000);
    ASSERT_OK_AND_ASSIGN(ProcessResult ex, RunProcess(argv, o));
    EXPECT_EQ(ex.exit_code, 0) << ex.Describe();
  }
}

TEST_F(MirrorConfig, GoodFileServes) {
  // The same kind of file, run for real (through the fixture), answers /healthz.
  MirrordOptions o;
  o.work_dir = dir_->path() / "daemon";
  o.extra_toml = "[sync]\nstall_timeout = \"3s\"\n\n[upstreams.lab]\nurl = \"http://127.0.0.1:9/{repo}.git\"\n";
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start(o));
  ASSERT_OK_AND_ASSIGN(ProcessResult list, mirrord->Mirrorctl({"list"}));
  EXPECT_TRUE(list.ok()) << list.Describe();
  ASSERT_OK_AND_ASSIGN(ExitStatus exit, mirrord->Terminate());
  EXPECT_EQ(exit.exit_code, 0);
}

// The lines of `git ls-remote` output whose ref does not start with `exclude`.
std::string WithoutRefs(const std::string& ls_remote, std::string_view exclude) {
  std::string out;
  size_t pos = 0;
  while (pos < ls_remote.size()) {
    size_t end = ls_remote.find('\n', pos);
    if (end == std::string::npos) end = ls_remote.size() - 1;
    std::string line = ls_remote.substr(pos, end - pos + 1);
    size_t tab = line.find('\t');
    if (tab == std::string::npos || !std::string_view(line).substr(tab + 1).starts_with(exclude)) {
      out += line;
    }
    pos = end + 1;
  }
  return out;
}

TEST_F(MirrorConfig, ReposFromTheConfigSyncAtStartupWithTheirRefspecs) {
  ASSERT_OK_AND_ASSIGN(auto upstream, TestUpstream::Start(dir_->path() / "upstream"));
  ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
  ASSERT_OK(work.CommitFile("README.md", "configured\n", "one").status());
  ASSERT_OK(work.CreateAnnotatedTag("v1", "one"));
  ASSERT_OK(work.CheckoutNewBranch("topic"));
  ASSERT_OK(work.CommitFile("topic.txt", "pr\n", "pull request").status());
  ASSERT_OK(work.Checkout("main"));
  ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream->CreateBareRepo("org/cfg"));
  ASSERT_OK(work.PushMirror(bare.string()));
  // A pull-request head, as GitHub publishes them.
  ASSERT_OK(Git({"--git-dir=" + bare.string(), "update-ref", "refs/pull/1/head", "topic"})
                .status());
  ASSERT_OK(Git({"--git-dir=" + bare.string(), "branch", "-D", "topic"}).status());

  MirrordOptions o;
  o.work_dir = dir_->path() / "daemon";
  o.extra_toml = "[upstreams.lab]\nurl = \"" + upstream->BaseUrl() +
                 "/{repo}.git\"\n\n"
                 "[[repos]]\nname = \"lab/cfg\"\nupstream = \"lab\"\npath = \"org/cfg\"\n\n"
                 "[[repos]]\nname = \"lab/with-pulls\"\nupstream = \"lab\"\npath = \"org/cfg\"\n"
                 "refspecs = [\"+refs/heads/*:refs/heads/*\", \"+refs/tags/*:refs/tags/*\", "
                 "\"+refs/pull/*/head:refs/pull/*/head\"]\n";
  ASSERT_OK_AND_ASSIGN(auto mirrord, MirrordProcess::Start(o));

  std::map<std::string, int64_t> first_runs;
  for (std::string_view name : {"lab/cfg", "lab/with-pulls"}) {
    SCOPED_TRACE(std::string(name));
    std::optional<RepoStatus> status;
    EXPECT_TRUE(PollUntil(
        [&] {
          Result<RepoStatus> s = StatusJson(*mirrord, name);
          if (s.ok()) status = *s;
          return s.ok() && s->last_run.has_value() && IsFinalRunState(s->last_run->state);
        },
        std::chrono::milliseconds(30'000)))
        << mirrord->Logs();
    ASSERT_TRUE(status.has_value());
    ASSERT_TRUE(status->last_run.has_value());
    EXPECT_EQ(status->last_run->state, "succeeded") << status->last_run->error;
    EXPECT_EQ(status->last_run->trigger, "startup");
    EXPECT_EQ(status->state, "ready");
    first_runs[std::string(name)] = status->last_run->run_id;
  }
  ASSERT_OK_AND_ASSIGN(std::string upstream_refs, Git({"ls-remote", upstream->UrlFor("org/cfg")}));
  ASSERT_THAT(upstream_refs, HasSubstr("\trefs/pull/1/head\n"));
  ASSERT_OK_AND_ASSIGN(std::string plain, Git({"ls-remote", mirrord->UrlFor("lab/cfg")}));
  EXPECT_EQ(plain, WithoutRefs(upstream_refs, "refs/pull/"));
  ASSERT_OK_AND_ASSIGN(std::string pulls, Git({"ls-remote", mirrord->UrlFor("lab/with-pulls")}));
  EXPECT_EQ(pulls, upstream_refs);

  // Once synced, a restart does not sync them again by itself.
  ASSERT_OK(mirrord->Restart());
  for (std::string_view name : {"lab/cfg", "lab/with-pulls"}) {
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord, name));
    EXPECT_FALSE(status.active_run.has_value()) << name;
    ASSERT_TRUE(status.last_run.has_value());
    EXPECT_EQ(status.last_run->run_id, first_runs[std::string(name)]) << name;
  }
}

}  // namespace
}  // namespace mirrord::test
