// mirrorctl as people use gh, kubectl and docker, driven as the real binary against a real
// mirrord and a github-shaped upstream (git http-backend behind the `github` URL template):
// the mission's own command on a new name, a mistyped name not kept, --json everywhere,
// --token / $MIRRORD_TOKEN / --server for remote use, remove asking first, list telling
// last success from last failure, "did you mean", --version, completion.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kMission = "THUDM/GLM-4-Vision";
constexpr std::string_view kTypo = "THUDM/GLM-4-Visoin";
constexpr std::string_view kHfName = "hf/THUDM/chatglm3-6b";
constexpr std::string_view kHfPath = "THUDM/chatglm3-6b";

// The internal status code names no message may show ("NotFound: ...").
const std::vector<std::string>& StatusCodeNames() {
  static const std::vector<std::string> names = {
      "InvalidArgument", "NotFound",  "AlreadyExists",     "PermissionDenied",
      "Unavailable",     "Cancelled", "DeadlineExceeded",  "DataLoss",
      "Internal",        "Unknown",   "ResourceExhausted", "FailedPrecondition"};
  return names;
}

void ExpectNoStatusNames(const std::string& text) {
  for (const std::string& n : StatusCodeNames()) {
    EXPECT_THAT(text, Not(HasSubstr(n + ":"))) << text;
    EXPECT_THAT(text, Not(HasSubstr("(" + n + ")"))) << text;
  }
}

// The keys of a JSON object, for "exactly these documented fields".
std::vector<std::string> Keys(const boost::json::value& v) {
  std::vector<std::string> keys;
  if (!v.is_object()) return keys;
  for (const auto& m : v.as_object()) keys.emplace_back(m.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// README, "mirrorctl --json": a repo's fields.
const std::vector<std::string> kRepoFields = Sorted({"name",
                                                     "upstream",
                                                     "url",
                                                     "state",
                                                     "last_run",
                                                     "active_run",
                                                     "last_success_at",
                                                     "last_failure",
                                                     "last_failure_at",
                                                     "ref_count",
                                                     "head",
                                                     "lfs_objects",
                                                     "lfs_logical_bytes",
                                                     "lfs_present_objects",
                                                     "lfs_present_bytes",
                                                     "lfs_failed_objects",
                                                     "store_physical_bytes",
                                                     "next_attempt_at",
                                                     "next_attempt",
                                                     "upstream_event",
                                                     "upstream_event_at"});

class CliHabits : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("cli-habits-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    // GitHub's layout (OWNER/NAME.git at the root) and a Hugging Face stand-in under hfhub/.
    for (std::string_view name : {kMission, std::string_view("hfhub/THUDM/chatglm3-6b")}) {
      ASSERT_OK(CreateSeededRepo(*upstream_, dir_->path() / "work", name).status());
    }
    MirrordOptions o;
    o.extra_toml = "[upstreams.github]\nurl = \"" + upstream_->BaseUrl() +
                   "/{repo}.git\"\n\n[upstreams.hf]\nurl = \"" + upstream_->BaseUrl() +
                   "/hfhub/{repo}.git\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(token_, mirrord_->AdminToken());
  }

  // mirrorctl as the fixture runs it (config and server from the environment, stdin
  // /dev/null); everything it printed is kept for the secret check.
  Result<ProcessResult> Ctl(const std::vector<std::string>& args) {
    Result<ProcessResult> r = mirrord_->Mirrorctl(args);
    if (r.ok()) printed_ += r->stdout_text + r->stderr_text;
    return r;
  }

  // mirrorctl with exactly `env` of the MIRRORD_* variables, from a directory with no
  // ./var/mirrord (so no token file is found by accident).
  Result<ProcessResult> CtlWithEnv(const std::vector<std::string>& args,
                                   const std::map<std::string, std::string>& env,
                                   std::optional<std::string> stdin_data = std::nullopt) {
    ProcessOptions o;
    o.cwd = dir_->path();
    o.unset_env = {"MIRRORD_TOKEN", "MIRRORD_URL", "MIRRORD_CONFIG"};
    o.env = env;
    o.stdin_data = std::move(stdin_data);
    std::vector<std::string> argv = {MirrordProcess::DefaultMirrorctlBinary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    Result<ProcessResult> r = RunProcess(argv, o);
    if (r.ok()) printed_ += r->stdout_text + r->stderr_text;
    return r;
  }

  void ExpectNotKept(std::string_view name) {
    ASSERT_OK_AND_ASSIGN(ProcessResult status, Ctl({"status", std::string(name)}));
    EXPECT_EQ(status.exit_code, 4) << status.Describe();
    ASSERT_OK_AND_ASSIGN(ProcessResult list, Ctl({"list", "--json"}));
    ASSERT_TRUE(list.ok()) << list.Describe();
    EXPECT_THAT(list.stdout_text, Not(HasSubstr(std::string(name))));
    EXPECT_FALSE(
        std::filesystem::exists(mirrord_->store_dir() / "repos" / (std::string(name) + ".git")));
    ASSERT_OK_AND_ASSIGN(HttpReply refs,
                         HttpFetch(mirrord_->UrlFor(name) + "/info/refs?service=git-upload-pack"));
    EXPECT_EQ(refs.status, 404);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::string token_;
  std::string printed_;
};

TEST_F(CliHabits, MissionCommandMirrorsANewNameFromGitHub) {
  // Exactly the README's Quick start line, on a daemon that has never heard of the name.
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  EXPECT_THAT(r.stderr_text, HasSubstr("added " + std::string(kMission) + " from github (" +
                                       upstream_->UrlFor(kMission) + ")"));
  EXPECT_THAT(r.stdout_text, HasSubstr(std::string(kMission) + ": 2 refs added"));

  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor(kMission)}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kMission)}));
  EXPECT_EQ(got, want);
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kMission), (dir_->path() / "clone").string()})
                .status());
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kMission));
  EXPECT_EQ(status.upstream, "github");
  EXPECT_EQ(status.url, upstream_->UrlFor(kMission));
  EXPECT_EQ(status.state, "ready");

  // The same command again just syncs the existing mirror.
  ASSERT_OK_AND_ASSIGN(ProcessResult again, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(again.ok()) << again.Describe();
  EXPECT_THAT(again.stderr_text, Not(HasSubstr("added")));
  EXPECT_THAT(again.stdout_text, HasSubstr(std::string(kMission) + ": 0 refs added"));
}

TEST_F(CliHabits, HfPrefixMirrorsFromHuggingFace) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Ctl({"sync", std::string(kHfName)}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  const std::string hf_url = upstream_->UrlFor("hfhub/" + std::string(kHfPath));
  EXPECT_THAT(r.stderr_text, HasSubstr("from hf (" + hf_url + ")"));
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kHfName));
  EXPECT_EQ(status.upstream, "hf");
  EXPECT_EQ(status.url, hf_url);
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", hf_url}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kHfName)}));
  EXPECT_EQ(got, want);
}

TEST_F(CliHabits, AMistypedNewNameIsNotKept) {
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Ctl({"sync", std::string(kTypo)}));
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_THAT(r.stderr_text, HasSubstr("github has no repository " + std::string(kTypo)))
      << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr(upstream_->UrlFor(kTypo)));
  EXPECT_THAT(r.stderr_text, HasSubstr(std::string(kTypo) + " was not kept")) << r.stderr_text;
  ExpectNoStatusNames(r.stderr_text);
  ExpectNotKept(kTypo);

  // --json says the same in fields.
  ASSERT_OK_AND_ASSIGN(ProcessResult j, Ctl({"sync", std::string(kTypo), "--json"}));
  EXPECT_EQ(j.exit_code, 4) << j.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value out, ParseJson(j.stdout_text));
  EXPECT_EQ(Keys(out), Sorted({"name", "added", "removed", "run"}));
  EXPECT_EQ(out.at("name"), boost::json::value(std::string(kTypo)));
  EXPECT_EQ(out.at("added"), boost::json::value(true));
  EXPECT_EQ(out.at("removed"), boost::json::value(true));
  ASSERT_OK_AND_ASSIGN(SyncRunView run, SyncRunViewFromJson(out.at("run")));
  EXPECT_EQ(run.state, "failed");
  ASSERT_TRUE(run.failure.has_value());
  EXPECT_EQ(run.failure->code, "NotFound");
  EXPECT_EQ(run.failure->phase, FailurePhase::kConnect);
  ExpectNotKept(kTypo);

  // GitHub answers 401, not 404, for a repository that does not exist (or is private) when
  // asked without credentials: not kept either, and the token is named as the other cause.
  int id = upstream_->AddFault(Fault::AnswerStatus("/THUDM/secret-model.git/", 401));
  ASSERT_OK_AND_ASSIGN(ProcessResult p, Ctl({"sync", "THUDM/secret-model"}));
  EXPECT_EQ(p.exit_code, 4) << p.Describe();
  EXPECT_GE(upstream_->FaultHits(id), 1);
  EXPECT_THAT(p.stderr_text, HasSubstr("[upstreams.github] token_file")) << p.stderr_text;
  ExpectNoStatusNames(p.stderr_text);
  ExpectNotKept("THUDM/secret-model");

  // An existing mirror whose upstream goes away is kept, and keeps serving.
  ASSERT_OK_AND_ASSIGN(ProcessResult ok, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(ok.ok()) << ok.Describe();
  std::filesystem::rename(upstream_->RepoPath(kMission), dir_->path() / "moved.git");
  ASSERT_OK_AND_ASSIGN(ProcessResult gone, Ctl({"sync", std::string(kMission)}));
  EXPECT_EQ(gone.exit_code, 1) << gone.Describe();
  EXPECT_THAT(gone.stderr_text, Not(HasSubstr("not kept")));
  ASSERT_OK_AND_ASSIGN(RepoStatus kept, StatusJson(*mirrord_, kMission));
  EXPECT_EQ(kept.ref_count, 2u);
  ASSERT_OK(Git({"ls-remote", mirrord_->UrlFor(kMission)}).status());
}

TEST_F(CliHabits, EveryCommandSpeaksJson) {
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, Ctl({"sync", std::string(kMission), "--json"}));
  ASSERT_TRUE(sync.ok()) << sync.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value s, ParseJson(sync.stdout_text));
  EXPECT_EQ(Keys(s), Sorted({"name", "added", "removed", "run"}));
  EXPECT_EQ(s.at("added"), boost::json::value(true));
  EXPECT_EQ(s.at("removed"), boost::json::value(false));
  ASSERT_OK_AND_ASSIGN(SyncRunView run, SyncRunViewFromJson(s.at("run")));
  EXPECT_EQ(run.state, "succeeded");
  EXPECT_EQ(run.refs_added, 2);

  // Global flags go before or after the command.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"list", "--json"}, std::vector<std::string>{"--json", "list"}}) {
    ASSERT_OK_AND_ASSIGN(ProcessResult list, Ctl(args));
    ASSERT_TRUE(list.ok()) << list.Describe();
    ASSERT_OK_AND_ASSIGN(boost::json::value l, ParseJson(list.stdout_text));
    EXPECT_EQ(Keys(l), std::vector<std::string>{"repos"});
    ASSERT_EQ(l.at("repos").as_array().size(), 1u);
    EXPECT_EQ(Keys(l.at("repos").as_array()[0]), kRepoFields);
    ASSERT_OK_AND_ASSIGN(RepoStatus r, RepoStatusFromJson(l.at("repos").as_array()[0]));
    EXPECT_EQ(r.name, kMission);
    EXPECT_GT(r.last_success_at, 0);
    EXPECT_EQ(r.last_failure_at, 0);
  }

  ASSERT_OK_AND_ASSIGN(ProcessResult one, Ctl({"status", std::string(kMission), "--json"}));
  ASSERT_TRUE(one.ok()) << one.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value o, ParseJson(one.stdout_text));
  EXPECT_EQ(Keys(o), kRepoFields);

  ASSERT_OK_AND_ASSIGN(ProcessResult all, Ctl({"status", "--json"}));
  ASSERT_TRUE(all.ok()) << all.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value a, ParseJson(all.stdout_text));
  EXPECT_EQ(Keys(a), std::vector<std::string>{"repos"});

  ASSERT_OK_AND_ASSIGN(ProcessResult queue, Ctl({"queue", "--json"}));
  ASSERT_TRUE(queue.ok()) << queue.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value q, ParseJson(queue.stdout_text));
  EXPECT_EQ(Keys(q), Sorted({"jobs", "paused_hosts"}));

  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       Ctl({"sync", std::string(kMission), "--no-follow", "--json"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value nf, ParseJson(queued.stdout_text));
  EXPECT_EQ(nf.at("added"), boost::json::value(false));
  ASSERT_OK_AND_ASSIGN(SyncRunView queued_run, SyncRunViewFromJson(nf.at("run")));
  EXPECT_GT(queued_run.run_id, run.run_id);
  EXPECT_EQ(WaitForRunEnd(*mirrord_, queued_run.run_id, std::chrono::seconds(60)), "succeeded");

  ASSERT_OK_AND_ASSIGN(ProcessResult version, Ctl({"--version", "--json"}));
  ASSERT_TRUE(version.ok()) << version.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value v, ParseJson(version.stdout_text));
  EXPECT_EQ(Keys(v), std::vector<std::string>{"version"});

  ASSERT_OK_AND_ASSIGN(ProcessResult removed,
                       Ctl({"remove", std::string(kMission), "--yes", "--json"}));
  ASSERT_TRUE(removed.ok()) << removed.Describe();
  ASSERT_OK_AND_ASSIGN(boost::json::value rm, ParseJson(removed.stdout_text));
  EXPECT_EQ(Keys(rm), Sorted({"name", "removed"}));
  EXPECT_EQ(rm.at("removed"), boost::json::value(true));

  // A failure prints no half document on stdout: the exit code and stderr say it.
  ASSERT_OK_AND_ASSIGN(ProcessResult missing, Ctl({"status", std::string(kMission), "--json"}));
  EXPECT_EQ(missing.exit_code, 4) << missing.Describe();
  EXPECT_EQ(missing.stdout_text, "");
  ExpectNoStatusNames(missing.stderr_text);
}

TEST_F(CliHabits, TokenFlagBeatsEnvironmentBeatsConfig) {
  // A config whose token file holds another store's token: what a workstation may have.
  std::filesystem::path wrong_token = dir_->path() / "wrong.token";
  std::filesystem::path wrong_config = dir_->path() / "wrong.toml";
  ASSERT_OK(WriteFileAtomically(wrong_token, "not-the-token\n"));
  ASSERT_OK(WriteFileAtomically(wrong_config,
                                "[admin]\ntoken_file = \"" + wrong_token.string() + "\"\n"));
  const std::string server = mirrord_->BaseUrl();
  const std::vector<std::string> base = {"--config", wrong_config.string(), "--server", server};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("list");
    return args;
  };

  ASSERT_OK_AND_ASSIGN(ProcessResult config_only, CtlWithEnv(with({}), {}));
  EXPECT_EQ(config_only.exit_code, 3) << config_only.Describe();
  EXPECT_THAT(config_only.stderr_text, HasSubstr(wrong_token.string()));

  ASSERT_OK_AND_ASSIGN(ProcessResult flag, CtlWithEnv(with({"--token", token_}), {}));
  EXPECT_TRUE(flag.ok()) << flag.Describe();

  ASSERT_OK_AND_ASSIGN(ProcessResult env, CtlWithEnv(with({}), {{"MIRRORD_TOKEN", token_}}));
  EXPECT_TRUE(env.ok()) << env.Describe();

  ASSERT_OK_AND_ASSIGN(ProcessResult flag_over_env,
                       CtlWithEnv(with({"--token", token_}), {{"MIRRORD_TOKEN", "wrong"}}));
  EXPECT_TRUE(flag_over_env.ok()) << flag_over_env.Describe();

  ASSERT_OK_AND_ASSIGN(ProcessResult wrong_flag, CtlWithEnv(with({"--token", "wrong-flag-token"}),
                                                            {{"MIRRORD_TOKEN", token_}}));
  EXPECT_EQ(wrong_flag.exit_code, 3) << wrong_flag.Describe();
  EXPECT_THAT(wrong_flag.stderr_text, HasSubstr("refused the admin token from --token"));
  EXPECT_THAT(wrong_flag.stderr_text, Not(HasSubstr("wrong-flag-token")));

  // The environment beats even the daemon's own config (and its readable token file).
  ASSERT_OK_AND_ASSIGN(ProcessResult wrong_env,
                       CtlWithEnv({"--config", mirrord_->config_path().string(), "list"},
                                  {{"MIRRORD_TOKEN", "wrong-env-token"}, {"MIRRORD_URL", server}}));
  EXPECT_EQ(wrong_env.exit_code, 3) << wrong_env.Describe();
  EXPECT_THAT(wrong_env.stderr_text, HasSubstr("$MIRRORD_TOKEN"));
  EXPECT_THAT(wrong_env.stderr_text, Not(HasSubstr("wrong-env-token")));

  // Remote use: no config file at all, only the server and the token.
  ASSERT_OK_AND_ASSIGN(
      ProcessResult remote,
      CtlWithEnv({"--json", "list"}, {{"MIRRORD_URL", server}, {"MIRRORD_TOKEN", token_}}));
  ASSERT_TRUE(remote.ok()) << remote.Describe();
  ASSERT_OK(ParseJson(remote.stdout_text).status());

  // --server beats $MIRRORD_URL (here: a port nothing listens on, which fails alone).
  ASSERT_OK_AND_ASSIGN(ProcessResult closed, CtlWithEnv({"--token", token_, "list"},
                                                        {{"MIRRORD_URL", "http://127.0.0.1:1"}}));
  EXPECT_EQ(closed.exit_code, 3) << closed.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult server_flag,
                       CtlWithEnv({"--server", server, "--token", token_, "list"},
                                  {{"MIRRORD_URL", "http://127.0.0.1:1"}}));
  EXPECT_TRUE(server_flag.ok()) << server_flag.Describe();

  // The real token is never printed, whichever way it came.
  EXPECT_THAT(printed_, Not(HasSubstr(token_)));
  ExpectNoStatusNames(printed_);
}

TEST_F(CliHabits, RemoveAsksAndRefusesWithoutATerminal) {
  ASSERT_OK_AND_ASSIGN(ProcessResult sync, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(sync.ok()) << sync.Describe();
  const std::map<std::string, std::string> env = {{"MIRRORD_URL", mirrord_->BaseUrl()},
                                                  {"MIRRORD_TOKEN", token_}};

  // stdin /dev/null, and stdin a pipe saying "y": neither is a person at a terminal.
  for (std::optional<std::string> input :
       {std::optional<std::string>(), std::optional<std::string>("y\n")}) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r,
                         CtlWithEnv({"remove", std::string(kMission)}, env, input));
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_THAT(r.stderr_text, HasSubstr("--yes"));
    ASSERT_OK_AND_ASSIGN(RepoStatus still, StatusJson(*mirrord_, kMission));
    EXPECT_EQ(still.state, "ready");
  }
  ASSERT_OK(Git({"ls-remote", mirrord_->UrlFor(kMission)}).status());

  ASSERT_OK_AND_ASSIGN(ProcessResult yes, CtlWithEnv({"remove", "-y", std::string(kMission)}, env));
  ASSERT_TRUE(yes.ok()) << yes.Describe();
  EXPECT_THAT(yes.stdout_text, HasSubstr("removed " + std::string(kMission)));
  ExpectNotKept(kMission);
}

TEST_F(CliHabits, ListTellsLastSuccessFromLastFailure) {
  ASSERT_OK_AND_ASSIGN(ProcessResult ok, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(ok.ok()) << ok.Describe();
  upstream_->AddFault(Fault::AnswerStatus("/info/refs", 500));
  ASSERT_OK_AND_ASSIGN(ProcessResult failed, Ctl({"sync", std::string(kMission)}));
  EXPECT_EQ(failed.exit_code, 1) << failed.Describe();
  ExpectNoStatusNames(failed.stderr_text);

  ASSERT_OK_AND_ASSIGN(ProcessResult list, Ctl({"list"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  std::istringstream lines(list.stdout_text);
  std::string header, row;
  ASSERT_TRUE(std::getline(lines, header));
  ASSERT_TRUE(std::getline(lines, row));
  const size_t success_col = header.find("LAST-SUCCESS");
  const size_t failure_col = header.find("LAST-FAILURE");
  ASSERT_NE(success_col, std::string::npos) << header;
  ASSERT_NE(failure_col, std::string::npos) << header;
  EXPECT_THAT(row, StartsWith(std::string(kMission)));
  EXPECT_THAT(row.substr(success_col), Not(StartsWith("never"))) << list.stdout_text;
  EXPECT_THAT(row.substr(failure_col), Not(StartsWith("never"))) << list.stdout_text;

  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kMission));
  EXPECT_GT(status.last_success_at, 0);
  EXPECT_GE(status.last_failure_at, status.last_success_at);
  ASSERT_TRUE(status.last_failure.has_value());
  EXPECT_EQ(status.last_failure->state, "failed");
  EXPECT_THAT(status.last_failure->error, HasSubstr("500"));
  ExpectNoStatusNames(status.last_failure->error);

  // A later success leaves the failure on record, apart from the success.
  upstream_->ClearFaults();
  ASSERT_OK_AND_ASSIGN(ProcessResult again, Ctl({"sync", std::string(kMission)}));
  ASSERT_TRUE(again.ok()) << again.Describe();
  ASSERT_OK_AND_ASSIGN(RepoStatus after, StatusJson(*mirrord_, kMission));
  EXPECT_EQ(after.last_run->state, "succeeded");
  ASSERT_TRUE(after.last_failure.has_value());
  EXPECT_EQ(after.last_failure->run_id, status.last_failure->run_id);
  ASSERT_OK_AND_ASSIGN(ProcessResult human, Ctl({"status", std::string(kMission)}));
  EXPECT_THAT(human.stdout_text, HasSubstr("last success:"));
  EXPECT_THAT(human.stdout_text, HasSubstr("last failure:"));
  ExpectNoStatusNames(human.stdout_text);
}

TEST_F(CliHabits, UnknownCommandVersionHelpAndCompletion) {
  ASSERT_OK_AND_ASSIGN(ProcessResult typo, Ctl({"sycn", std::string(kMission)}));
  EXPECT_EQ(typo.exit_code, 2) << typo.Describe();
  EXPECT_THAT(typo.stderr_text, HasSubstr("unknown command \"sycn\"; did you mean \"sync\"?"));
  ASSERT_OK_AND_ASSIGN(ProcessResult status, Ctl({"status", std::string(kMission)}));
  EXPECT_EQ(status.exit_code, 4) << "a mistyped command must not act";

  ASSERT_OK_AND_ASSIGN(ProcessResult version, Ctl({"--version"}));
  ASSERT_TRUE(version.ok()) << version.Describe();
  EXPECT_THAT(version.stdout_text, StartsWith("mirrorctl "));

  ASSERT_OK_AND_ASSIGN(ProcessResult help, Ctl({"help"}));
  ASSERT_TRUE(help.ok()) << help.Describe();
  EXPECT_THAT(help.stdout_text, HasSubstr("Exit codes"));

  ASSERT_OK_AND_ASSIGN(ProcessResult completion, Ctl({"completion", "bash"}));
  ASSERT_TRUE(completion.ok()) << completion.Describe();
  std::filesystem::path script = dir_->path() / "mirrorctl.bash";
  ASSERT_OK(WriteFileAtomically(script, completion.stdout_text));
  ASSERT_OK_AND_ASSIGN(ProcessResult syntax, RunProcess({"bash", "-n", script.string()}));
  EXPECT_TRUE(syntax.ok()) << syntax.Describe();
  for (std::string_view cmd : {"sync", "list", "status", "queue", "remove", "completion"}) {
    EXPECT_THAT(completion.stdout_text, HasSubstr(std::string(cmd))) << cmd;
  }
}

}  // namespace
}  // namespace mirrord::test
