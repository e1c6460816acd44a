// The human output of `mirrorctl list` and `mirrorctl status`.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/commands.h"

namespace mirrord {
namespace {

constexpr int64_t kNow = 1'800'000'000;

RepoStatus Repo(std::string name, std::string state, size_t refs, std::string url) {
  RepoStatus r;
  r.name = std::move(name);
  r.state = std::move(state);
  r.ref_count = refs;
  r.url = std::move(url);
  return r;
}

TEST(FormatAgeTest, Units) {
  EXPECT_EQ(FormatAge(0, kNow), "never");
  EXPECT_EQ(FormatAge(kNow - 2, kNow), "just now");
  EXPECT_EQ(FormatAge(kNow - 42, kNow), "42s ago");
  EXPECT_EQ(FormatAge(kNow - 5 * 60, kNow), "5m ago");
  EXPECT_EQ(FormatAge(kNow - 3 * 3600, kNow), "3h ago");
  EXPECT_EQ(FormatAge(kNow - 2 * 86400, kNow), "2d ago");
}

TEST(FormatTimestampTest, Utc) {
  EXPECT_EQ(FormatTimestamp(0), "never");
  EXPECT_EQ(FormatTimestamp(1'700'000'000), "2023-11-14 22:13:20 UTC");
}

TEST(FormatRepoTableTest, LastSuccessAndLastFailureApart) {
  RepoStatus a = Repo("THUDM/GLM-4", "ready", 12, "https://github.com/THUDM/GLM-4.git");
  // The last attempt failed; the mirror still serves what succeeded an hour earlier.
  a.last_run = SyncRunView{};
  a.last_run->state = "failed";
  a.last_run->finished_at = kNow - 300;
  a.last_failure = a.last_run;
  a.last_failure_at = kNow - 300;
  a.last_success_at = kNow - 3 * 3600;
  RepoStatus b = Repo("hf/x", "new", 0, "https://huggingface.co/x");
  EXPECT_EQ(FormatRepoTable({a, b}, kNow),
            "NAME         STATE  LAST-SUCCESS  LAST-FAILURE  REFS  UPSTREAM\n"
            "THUDM/GLM-4  ready  3h ago        5m ago        12    "
            "https://github.com/THUDM/GLM-4.git\n"
            "hf/x         new    never         never         0     https://huggingface.co/x\n");
  EXPECT_EQ(FormatRepoTable({}, kNow), "NAME  STATE  LAST-SUCCESS  LAST-FAILURE  REFS  UPSTREAM\n");
}

TEST(FormatRepoStatusTest, AnOlderFailureIsShownWithItsError) {
  RepoStatus r = Repo("org/m", "ready", 2, "https://github.com/org/m.git");
  r.last_success_at = kNow - 60;
  r.last_run = SyncRunView{};
  r.last_run->run_id = 9;
  r.last_run->state = "succeeded";
  r.last_failure = SyncRunView{};
  r.last_failure->run_id = 8;
  r.last_failure->state = "failed";
  r.last_failure->error = "upstream answered 502";
  r.last_failure_at = kNow - 7200;
  std::string s = FormatRepoStatus(r, kNow);
  EXPECT_NE(s.find("  last failure: "), std::string::npos) << s;
  EXPECT_NE(s.find("(2h ago): upstream answered 502\n"), std::string::npos) << s;
}

TEST(FormatRepoStatusTest, ShowsLastErrorAndActiveRun) {
  RepoStatus r = Repo("THUDM/GLM-4", "failed", 12, "https://github.com/THUDM/GLM-4.git");
  r.upstream = "github";
  r.head = "refs/heads/main";
  r.last_run = SyncRunView{};
  r.last_run->run_id = 4;
  r.last_run->state = "failed";
  r.last_run->trigger = "poll";
  r.last_run->finished_at = kNow - 60;
  r.last_run->error = "upstream answered 502";
  r.last_run->failure = RunFailure{FailurePhase::kFetch, "Unavailable", true, 30};
  r.active_run = SyncRunView{};
  r.active_run->run_id = 5;
  r.active_run->state = "running";
  r.active_run->progress.phase = "fetching";
  r.active_run->progress.received_objects = 3;
  r.active_run->progress.total_objects = 9;
  std::string s = FormatRepoStatus(r, kNow);
  EXPECT_EQ(s.rfind("THUDM/GLM-4\n", 0), 0u) << s;
  EXPECT_NE(s.find("  state:        failed\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  upstream:     github  https://github.com/THUDM/GLM-4.git\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("  last success: never\n"), std::string::npos) << s;
  EXPECT_NE(s.find("#4 failed (poll)"), std::string::npos) << s;
  EXPECT_NE(s.find("  error:        upstream answered 502\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  failed in:    fetch (unavailable), retryable; upstream asked to wait 30 s\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("  active run:   #5 running [fetching] 3/9 objects\n"), std::string::npos) << s;
}

TEST(ApiReplyTest, ErrorStatusFromBody) {
  ApiReply r{404, R"({"error": {"code": "NotFound", "message": "repo a/b is not mirrored"}})"};
  EXPECT_EQ(r.ErrorStatus(), NotFound("repo a/b is not mirrored"));
  ApiReply html{502, "<html>Bad Gateway</html>\n<body>"};
  EXPECT_EQ(html.ErrorStatus().code(), StatusCode::kInternal);
  EXPECT_EQ(html.ErrorStatus().message(), "mirrord answered HTTP 502: <html>Bad Gateway</html>");
  EXPECT_TRUE((ApiReply{204, ""}.ErrorStatus().ok()));
}

TEST(FormatImagesTest, ARecipeWithoutImagesAndAnEmptyAnswer) {
  boost::json::value answer = boost::json::parse(
      R"({"registry": "127.0.0.1:8080", "images": [{"name": "lab/model", "build": true,
          "repo": "org/model", "ports": ["8000"], "gpu": null, "shm_size": "16g",
          "pull": "", "run": "", "tags": []}]})");
  EXPECT_EQ(FormatImages(answer, kNow), "lab/model  (from org/model)\n  no images yet\n");
  EXPECT_EQ(FormatImages(boost::json::parse(R"({"images": []})"), kNow),
            "no images and no [[builds]] recipes\n");
}

}  // namespace
}  // namespace mirrord
