// The pieces of mirrorctl's habits that need no daemon: what a new name is mirrored from,
// "did you mean", exit codes, the confirmation answer and the completion script.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/completion.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;

RepoSpec Infer(std::string name, std::string upstream = "", std::string path = "",
               std::string url = "") {
  SyncArgs a;
  a.name = name;
  a.upstream = std::move(upstream);
  a.path = std::move(path);
  a.url = std::move(url);
  return InferRepoSpec(a, name);
}

TEST(InferRepoSpecTest, NewNamesComeFromGitHubOrHuggingFace) {
  RepoSpec gh = Infer("THUDM/GLM-4-Vision");
  EXPECT_EQ(gh.upstream, "github");
  EXPECT_EQ(gh.path, "");  // the daemon's default: the name itself
  EXPECT_EQ(gh.url, "");
  RepoSpec hf = Infer("hf/THUDM/chatglm3-6b");
  EXPECT_EQ(hf.upstream, "hf");
  EXPECT_EQ(hf.path, "THUDM/chatglm3-6b");
  RepoSpec hf_flag = Infer("hf/THUDM/chatglm3-6b", "hf");
  EXPECT_EQ(hf_flag.upstream, "hf");
  EXPECT_EQ(hf_flag.path, "THUDM/chatglm3-6b");
  RepoSpec hf_plain = Infer("THUDM/chatglm3-6b", "hf");
  EXPECT_EQ(hf_plain.path, "");
  RepoSpec explicit_path = Infer("models/glm", "hf", "THUDM/glm-4");
  EXPECT_EQ(explicit_path.path, "THUDM/glm-4");
  RepoSpec by_url = Infer("lab/x", "", "", "https://git.lab/x.git");
  EXPECT_EQ(by_url.upstream, "");
  EXPECT_EQ(by_url.url, "https://git.lab/x.git");
  EXPECT_EQ(by_url.name, "lab/x");
}

TEST(SuggestCommandTest, TyposAndPrefixes) {
  const std::vector<std::string> known = {"sync", "list", "status", "queue", "remove"};
  EXPECT_EQ(SuggestCommand("sycn", known), "sync");
  EXPECT_EQ(SuggestCommand("lsit", known), "list");
  EXPECT_EQ(SuggestCommand("stauts", known), "status");
  EXPECT_EQ(SuggestCommand("rm", known), "");  // not close to anything
  EXPECT_EQ(SuggestCommand("rem", known), "remove");
  EXPECT_EQ(SuggestCommand("s", known), "");  // a prefix of several
  EXPECT_EQ(SuggestCommand("frobnicate", known), "");
  EXPECT_EQ(SuggestCommand("", known), "");
}

TEST(ExitCodeTest, ByStatusCode) {
  EXPECT_EQ(ExitCodeFor(NotFound("x")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(InvalidArgument("x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(Unavailable("x")), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(PermissionDenied("x")), kExitUnreachable);
  EXPECT_EQ(ExitCodeFor(Internal("x")), kExitFailed);
  // --help lists every code.
  const std::string help = ExitCodesHelp();
  for (int code : {kExitOk, kExitFailed, kExitUsage, kExitUnreachable, kExitNotFound}) {
    EXPECT_THAT(help, HasSubstr("  " + std::to_string(code) + "  ")) << code;
  }
}

TEST(ApiReplyExitTest, NotFoundAndBadRequest) {
  std::ostringstream out, err;
  CommandIo io{out, err};
  EXPECT_EQ(ReportApiError(ApiReply{404, R"({"error":{"code":"NotFound","message":"no a/b"}})"},
                           "status", io),
            kExitNotFound);
  EXPECT_EQ(err.str(), "mirrorctl: status: no a/b\n");  // no status code name
  EXPECT_EQ(ReportApiError(ApiReply{400, "{}"}, "", io), kExitUsage);
  EXPECT_EQ(ReportApiError(ApiReply{409, "{}"}, "", io), kExitFailed);
}

TEST(IsYesTest, Answers) {
  for (std::string_view yes : {"y", "Y", "yes", " YES \n", "Yes\r"}) EXPECT_TRUE(IsYes(yes)) << yes;
  for (std::string_view no : {"", "n", "no", "yess", "y es", "ja"}) EXPECT_FALSE(IsYes(no)) << no;
}

TEST(CompletionTest, BashAcceptsTheScriptAndItCompletesCommandsAndFlags) {
  CLI::App app{"test", "mirrorctl"};
  std::string config, name, upstream;
  bool json = false, yes = false;
  app.add_option("--config", config)->type_name("FILE");
  app.add_flag("--json", json);
  CLI::App* sync = app.add_subcommand("sync", "s");
  sync->add_option("name", name);
  sync->add_option("--upstream", upstream);
  CLI::App* remove = app.add_subcommand("remove", "r");
  remove->add_flag("-y,--yes", yes);
  const std::string script = BashCompletionScript(app);
  // Source it in a real bash and ask for completions the way bash would.
  auto complete = [&](const std::string& line) -> std::string {
    std::string program = script + "COMP_WORDS=(" + line +
                          ")\n"
                          "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
                          "_mirrorctl\n"
                          "printf '%s\\n' \"${COMPREPLY[@]}\"\n";
    Result<test::ProcessResult> r = test::RunProcess({"bash", "-c", program});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << r->Describe();
    return r->stdout_text;
  };
  EXPECT_EQ(complete("mirrorctl sy"), "sync\n");
  EXPECT_THAT(complete("mirrorctl remove --"), HasSubstr("--yes\n"));
  EXPECT_THAT(complete("mirrorctl remove --"), HasSubstr("--json\n"));
  EXPECT_THAT(complete("mirrorctl --config x sync --up"), HasSubstr("--upstream\n"));
  // The word after a flag with a value is not the command.
  EXPECT_EQ(complete("mirrorctl --config sync re"), "remove\n");
}

}  // namespace
}  // namespace mirrord
