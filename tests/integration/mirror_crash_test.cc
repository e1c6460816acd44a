// kill -9 in the middle of a sync: after a restart on the same store the previously
// published mirror is served intact, the killed run is taken up again under its id (the
// job queue is durable), and syncs complete.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
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
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/seeded_bytes.h"

namespace mirrord::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr std::string_view kRepo = "big/model";

// The run id in "NAME: sync queued as run N".
Result<int64_t> QueuedRunId(const ProcessResult& r) {
  constexpr std::string_view kMarker = "sync queued as run ";
  size_t at = r.stdout_text.find(kMarker);
  if (at == std::string::npos) return Internal("no run id in: " + r.stdout_text);
  int64_t id = std::stoll(r.stdout_text.substr(at + kMarker.size()));
  if (id <= 0) return Internal("bad run id in: " + r.stdout_text);
  return id;
}

class MirrorCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-crash-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "big model\n", "readme").status());
    for (uint32_t i = 0; i < 3; ++i) {
      ASSERT_OK(work.CommitFile("shard-" + std::to_string(i) + ".bin",
                                SeededBytes(512 * 1024, 100 + i), "shard " + std::to_string(i))
                    .status());
    }
    ASSERT_OK(work.CreateAnnotatedTag("v1", "release 1"));
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kRepo));
    ASSERT_OK(work.PushMirror(bare_.string()));
    work_.emplace(std::move(work));
    url_ = upstream_->UrlFor(kRepo);

    MirrordOptions o;
    o.extra_toml = "[sync]\nstall_timeout = \"60s\"\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  // Upstream gains a big commit and a tag.
  void AdvanceUpstream() {
    ASSERT_OK(work_->CommitFile("shard-3.bin", SeededBytes(1024 * 1024, 200), "shard 3").status());
    ASSERT_OK(work_->CreateAnnotatedTag("v2", "release 2"));
    ASSERT_OK(work_->PushMirror(bare_.string()));
  }

  // Queues a sync that stalls once the upstream starts answering the pack request, and
  // waits until mirrord is running it and the upstream holds the stalled response.
  void StartStalledSync(int64_t* run_id, const std::vector<std::string>& source = {}) {
    Fault f = Fault::Stall("/git-upload-pack", "POST");
    stall_fault_ = upstream_->AddFault(f);
    std::vector<std::string> args = {"sync", std::string(kRepo), "--no-follow"};
    args.insert(args.end(), source.begin(), source.end());
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl(args));
    ASSERT_TRUE(r.ok()) << r.Describe();
    ASSERT_OK_AND_ASSIGN(*run_id, QueuedRunId(r));
    ASSERT_OK(upstream_
                  ->WaitForRequest(
                      [&](const RequestRecord& rec) {
                        return rec.stalled && rec.fault_id == stall_fault_;
                      },
                      seconds(30))
                  .status());
    std::string state;
    EXPECT_TRUE(PollUntil(
        [&] {
          Result<SyncRunView> run = GetRun(*mirrord_, *run_id);
          if (run.ok()) state = run->state;
          return state == "running";
        },
        seconds(30)))
        << "run state: " << state;
  }

  void KillAndRestart() {
    ASSERT_OK(mirrord_->Kill());
    ASSERT_OK(mirrord_->Restart());
  }

  // The killed run is not lost: the durable queue gives it back after the restart, under
  // the same id, and it runs again (stalled again while the fault is on).
  void ExpectRunResumed(int64_t run_id) {
    ASSERT_OK_AND_ASSIGN(SyncRunView run, GetRun(*mirrord_, run_id));
    EXPECT_THAT(run.state, ::testing::AnyOf("queued", "running"));
    EXPECT_EQ(run.finished_at, 0);
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
    ASSERT_TRUE(status.active_run.has_value());
    EXPECT_EQ(status.active_run->run_id, run_id);
  }

  // Clears the stall and syncs to completion; the mirror then equals the upstream.
  void ExpectNextSyncCompletes() {
    upstream_->ClearFaults();
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(kRepo)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
    EXPECT_EQ(got, want);
    std::filesystem::path dest = Scratch("final.git");
    ASSERT_OK(
        Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), dest.string()}).status());
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> refs, ForEachRef(dest));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> upstream_refs, ForEachRef(bare_));
    EXPECT_EQ(refs, upstream_refs);
    ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
    EXPECT_EQ(status.state, "ready");
    ASSERT_TRUE(status.last_run.has_value());
    EXPECT_EQ(status.last_run->state, "succeeded");
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
  std::unique_ptr<MirrordProcess> mirrord_;
  int stall_fault_ = 0;
};

TEST_F(MirrorCrash, KillDuringSyncKeepsPublishedMirror) {
  ASSERT_OK_AND_ASSIGN(ProcessResult first,
                       mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
  ASSERT_TRUE(first.ok()) << first.Describe();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> published, ForEachRef(bare_));
  AdvanceUpstream();

  int64_t run_id = 0;
  StartStalledSync(&run_id);
  KillAndRestart();

  // The published mirror is served as it was, and is sound.
  std::filesystem::path dest = Scratch("after-crash.git");
  ASSERT_OK(Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), dest.string()}).status());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> refs, ForEachRef(dest));
  EXPECT_EQ(refs, published);
  ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
  std::filesystem::path store_repo = mirrord_->store_dir() / "repos" / "big" / "model.git";
  ASSERT_TRUE(std::filesystem::is_directory(store_repo));
  ASSERT_OK(Git({"--git-dir=" + store_repo.string(), "fsck", "--full", "--no-dangling"}));
  std::filesystem::path checkout = Scratch("after-crash-checkout");
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), checkout.string()}).status());
  EXPECT_FALSE(std::filesystem::exists(checkout / "shard-3.bin"));
  ASSERT_OK_AND_ASSIGN(std::string shard, ReadFileToString(checkout / "shard-2.bin"));
  EXPECT_EQ(shard, SeededBytes(512 * 1024, 102));

  ExpectRunResumed(run_id);
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  // The old mirror is still good (and served) while the resumed run works.
  EXPECT_THAT(status.state, ::testing::AnyOf("ready", "syncing"));
  EXPECT_GT(status.last_success_at, 0);

  ExpectNextSyncCompletes();
  std::filesystem::path final_checkout = Scratch("final-checkout");
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), final_checkout.string()}).status());
  ASSERT_OK_AND_ASSIGN(std::string shard3, ReadFileToString(final_checkout / "shard-3.bin"));
  EXPECT_EQ(shard3, SeededBytes(1024 * 1024, 200));
}

TEST_F(MirrorCrash, KillDuringFirstSyncServesNothingUntilNextSync) {
  int64_t run_id = 0;
  StartStalledSync(&run_id, {"--url", url_});
  KillAndRestart();

  // Never published: not served.
  ASSERT_OK_AND_ASSIGN(ProcessResult ls, RunGit({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_FALSE(ls.ok());
  EXPECT_THAT(ls.stderr_text, HasSubstr("not found")) << ls.stderr_text;
  ExpectRunResumed(run_id);
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_THAT(status.state, ::testing::AnyOf("new", "syncing"));
  EXPECT_EQ(status.last_success_at, 0);

  ExpectNextSyncCompletes();
}

}  // namespace
}  // namespace mirrord::test
