// One repository's stalled upstream does not hold up another repository's sync or its
// clients.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
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
#include "tests/fixtures/poll_until.h"

namespace mirrord::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

Result<int64_t> QueuedRunId(const ProcessResult& r) {
  constexpr std::string_view kMarker = "sync queued as run ";
  size_t at = r.stdout_text.find(kMarker);
  if (at == std::string::npos) return Internal("no run id in: " + r.stdout_text);
  return std::stoll(r.stdout_text.substr(at + kMarker.size()));
}

class MirrorIsolation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-isolation-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    for (std::string_view name : {"slow/repo", "fast/repo", "fast/other"}) {
      ASSERT_OK(CreateSeededRepo(*upstream_, dir_->path() / "work", name).status());
    }
    MirrordOptions o;
    o.extra_toml = "[sync]\nstall_timeout = \"60s\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  void ExpectEqualsUpstream(std::string_view name) {
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor(name)}));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(name)}));
    EXPECT_EQ(got, want);
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorIsolation, StalledRepoDoesNotBlockOthers) {
  Fault f = Fault::Stall("/slow/repo.git/git-upload-pack", "POST");
  int stall = upstream_->AddFault(f);

  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       mirrord_->Mirrorctl({"sync", "slow/repo", "--url",
                                            upstream_->UrlFor("slow/repo"), "--no-follow"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  EXPECT_THAT(queued.stdout_text, HasSubstr("slow/repo: sync queued as run "));
  ASSERT_OK_AND_ASSIGN(int64_t slow_run, QueuedRunId(queued));
  ASSERT_OK(upstream_
                ->WaitForRequest(
                    [&](const RequestRecord& r) { return r.stalled && r.fault_id == stall; },
                    seconds(30))
                .status());

  // While it hangs, other repos sync to completion, one after the other and at once.
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(ProcessResult fast, mirrord_->Mirrorctl({"sync", "fast/repo", "--url",
                                                                upstream_->UrlFor("fast/repo")},
                                                               seconds(30)));
  ASSERT_TRUE(fast.ok()) << fast.Describe() << "\n" << mirrord_->Logs();
  EXPECT_THAT(fast.stdout_text, HasSubstr("fast/repo: 2 refs added"));
  ASSERT_OK_AND_ASSIGN(ProcessResult other, mirrord_->Mirrorctl({"sync", "fast/other", "--url",
                                                                 upstream_->UrlFor("fast/other")},
                                                                seconds(30)));
  ASSERT_TRUE(other.ok()) << other.Describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(30));
  ExpectEqualsUpstream("fast/repo");
  ExpectEqualsUpstream("fast/other");
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor("fast/repo"),
                 (dir_->path() / "fast-clone").string()})
                .status());

  // ... and the slow one is still running, not failed or finished.
  ASSERT_OK_AND_ASSIGN(SyncRunView slow, GetRun(*mirrord_, slow_run));
  EXPECT_EQ(slow.state, "running");
  // Health and status stay responsive too.
  ASSERT_OK_AND_ASSIGN(HttpReply health, HttpFetch(mirrord_->BaseUrl() + "/healthz"));
  EXPECT_EQ(health.status, 200);
  ASSERT_OK_AND_ASSIGN(ProcessResult status, mirrord_->Mirrorctl({"status", "slow/repo"}));
  EXPECT_TRUE(status.ok()) << status.Describe();
  EXPECT_THAT(status.stdout_text, HasSubstr("syncing"));
  EXPECT_THAT(status.stdout_text, HasSubstr("active run:"));

  // Released, the slow sync completes on its own.
  upstream_->ClearFaults();
  std::string state;
  EXPECT_TRUE(PollUntil(
      [&] {
        Result<SyncRunView> run = GetRun(*mirrord_, slow_run);
        if (run.ok()) state = run->state;
        return state == "succeeded" || state == "failed" || state == "interrupted";
      },
      seconds(60)));
  EXPECT_EQ(state, "succeeded");
  ExpectEqualsUpstream("slow/repo");
}

TEST_F(MirrorIsolation, ClientsOfAStalledRepoKeepTheOldMirror) {
  ASSERT_OK_AND_ASSIGN(ProcessResult first, mirrord_->Mirrorctl({"sync", "slow/repo", "--url",
                                                                 upstream_->UrlFor("slow/repo")}));
  ASSERT_TRUE(first.ok()) << first.Describe();
  ASSERT_OK_AND_ASSIGN(std::string before, Git({"ls-remote", mirrord_->UrlFor("slow/repo")}));
  // Upstream moves on, and the next fetch hangs.
  ASSERT_OK_AND_ASSIGN(WorkRepo work,
                       WorkRepo::Init(dir_->path() / "work2"));
  ASSERT_OK(work.CommitFile("new.txt", "new\n", "new").status());
  ASSERT_OK(work.Push(upstream_->RepoPath("slow/repo").string(), {"HEAD:refs/heads/other"}));
  Fault f = Fault::Stall("/slow/repo.git/git-upload-pack", "POST");
  int stall = upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult queued,
                       mirrord_->Mirrorctl({"sync", "slow/repo", "--no-follow"}));
  ASSERT_TRUE(queued.ok()) << queued.Describe();
  ASSERT_OK(upstream_
                ->WaitForRequest(
                    [&](const RequestRecord& r) { return r.stalled && r.fault_id == stall; },
                    seconds(30))
                .status());
  // The mirror of that very repo still serves its published state meanwhile.
  ASSERT_OK_AND_ASSIGN(std::string during, Git({"ls-remote", mirrord_->UrlFor("slow/repo")}));
  EXPECT_EQ(during, before);
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor("slow/repo"),
                 (dir_->path() / "during").string()})
                .status());
  // A second request for the same repo coalesces into one follow-up run, not a parallel one.
  ASSERT_OK_AND_ASSIGN(ProcessResult again,
                       mirrord_->Mirrorctl({"sync", "slow/repo", "--no-follow"}));
  ASSERT_TRUE(again.ok()) << again.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult third,
                       mirrord_->Mirrorctl({"sync", "slow/repo", "--no-follow"}));
  ASSERT_TRUE(third.ok()) << third.Describe();
  ASSERT_OK_AND_ASSIGN(int64_t second_id, QueuedRunId(again));
  ASSERT_OK_AND_ASSIGN(int64_t third_id, QueuedRunId(third));
  EXPECT_EQ(second_id, third_id);
  ASSERT_OK_AND_ASSIGN(SyncRunView queued_run, GetRun(*mirrord_, second_id));
  EXPECT_EQ(queued_run.state, "queued");

  upstream_->ClearFaults();
  std::string state;
  EXPECT_TRUE(PollUntil(
      [&] {
        Result<SyncRunView> run = GetRun(*mirrord_, second_id);
        if (run.ok()) state = run->state;
        return state == "succeeded" || state == "failed" || state == "interrupted";
      },
      seconds(60)));
  EXPECT_EQ(state, "succeeded");
  ExpectEqualsUpstream("slow/repo");
}

}  // namespace
}  // namespace mirrord::test
