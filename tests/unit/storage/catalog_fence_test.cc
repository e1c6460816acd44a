// Lease fencing in the catalog (storage/repo_fence.h): two nodes share one catalog file; the
// node whose lease was taken over can write nothing about the repo any more, whatever the
// order in which its writes arrive.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::StatusIs;

class CatalogFenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-fence-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(a_, Catalog::Open(dir_->path() / "catalog.sqlite"));
    ASSERT_OK_AND_ASSIGN(b_, Catalog::Open(dir_->path() / "catalog.sqlite"));
    RepoRecord r;
    r.name = "org/model";
    r.upstream = "github";
    r.path = r.name;
    ASSERT_OK_AND_ASSIGN(repo_, a_->InsertRepo(r));
    ASSERT_OK_AND_ASSIGN(run_, a_->InsertRun(repo_.id, "webhook", 1000));
  }

  SyncRunRecord Finished(std::string state) const {
    SyncRunRecord done;
    done.id = run_;
    done.state = std::move(state);
    done.finished_at = 1100;
    return done;
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> a_;  // node A's connection
  std::unique_ptr<Catalog> b_;  // node B's
  RepoRecord repo_;
  int64_t run_ = 0;
};

const std::vector<RefRecord> kOldRefs = {{"refs/heads/main", "1111", ""}};
const std::vector<RefRecord> kNewRefs = {{"refs/heads/main", "2222", ""}};

TEST_F(CatalogFenceTest, ANodeWhoseLeaseWasRequeuedWritesNothing) {
  // node A runs the job under token 10 and publishes once.
  ASSERT_OK(a_->MarkRunStarted(run_, 1001, 10));
  ASSERT_OK(a_->SetRepoState(repo_.id, "syncing", 1001, 10));
  ASSERT_OK(a_->ReplaceRefs(repo_.id, kOldRefs, "refs/heads/main", 1002, nullptr, 10));
  // node A stalls; node B finds the lease over and requeues it past token 10.
  ASSERT_OK(b_->RequeueRun(run_, 11));
  // node A wakes up: none of its writes land, even before another node claimed the job.
  EXPECT_THAT(a_->CheckFence(repo_.id, 10), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(a_->ReplaceRefs(repo_.id, kNewRefs, "refs/heads/main", 1003, nullptr, 10),
              StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(a_->FinishRun(Finished("failed"), 10), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(a_->SetRepoState(repo_.id, "failed", 1003, 10), StatusIs(StatusCode::kCancelled));
  ASSERT_OK_AND_ASSIGN(std::vector<RefRecord> refs, b_->GetRefs(repo_.id));
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].oid, "1111");
  ASSERT_OK_AND_ASSIGN(SyncRunRecord run, b_->GetRun(run_));
  EXPECT_EQ(run.state, "queued");
  ASSERT_OK_AND_ASSIGN(RepoRecord repo, b_->GetRepo("org/model"));
  EXPECT_EQ(repo.state, "ready");

  // node B claims the same run under token 12 and completes it.
  ASSERT_OK(b_->CheckFence(repo_.id, 12));
  ASSERT_OK(b_->MarkRunStarted(run_, 1004, 12));
  ASSERT_OK(b_->ReplaceRefs(repo_.id, kNewRefs, "refs/heads/main", 1005, nullptr, 12));
  ASSERT_OK(b_->FinishRun(Finished("succeeded"), 12));
  ASSERT_OK_AND_ASSIGN(run, a_->GetRun(run_));
  EXPECT_EQ(run.state, "succeeded");
  ASSERT_OK_AND_ASSIGN(refs, a_->GetRefs(repo_.id));
  EXPECT_EQ(refs[0].oid, "2222");
}

TEST_F(CatalogFenceTest, ANewerTokenStartingTheRepoFencesTheOlderOne) {
  ASSERT_OK(a_->MarkRunStarted(run_, 1001, 10));
  // The requeue was lost (say the requeuing node died): the next owner's first write
  // raises the fence itself.
  ASSERT_OK_AND_ASSIGN(int64_t next, b_->InsertRun(repo_.id, "poll", 1002));
  ASSERT_OK(b_->MarkRunStarted(next, 1003, 20));
  EXPECT_THAT(a_->SetRepoState(repo_.id, "failed", 1004, 10), StatusIs(StatusCode::kCancelled));
  EXPECT_THAT(a_->ReplaceRefs(repo_.id, kNewRefs, "refs/heads/main", 1004, nullptr, 10),
              StatusIs(StatusCode::kCancelled));
  // A refused requeue never lowers the fence, and the fence holds across reopening.
  ASSERT_OK(b_->RequeueRun(next, 5));
  a_.reset();
  ASSERT_OK_AND_ASSIGN(a_, Catalog::Open(dir_->path() / "catalog.sqlite"));
  EXPECT_THAT(a_->CheckFence(repo_.id, 19), StatusIs(StatusCode::kCancelled));
  EXPECT_OK(a_->CheckFence(repo_.id, 20));
  // Unfenced writes (no lease: tools) are not refused.
  EXPECT_OK(a_->SetRepoState(repo_.id, "ready", 1005));
}

TEST_F(CatalogFenceTest, ARequeueOfAFinishedRunStillRaisesTheFence) {
  ASSERT_OK(a_->MarkRunStarted(run_, 1001, 10));
  ASSERT_OK(a_->FinishRun(Finished("succeeded"), 10));
  EXPECT_THAT(b_->RequeueRun(run_, 11), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(a_->SetRepoState(repo_.id, "failed", 1002, 10), StatusIs(StatusCode::kCancelled));
}

}  // namespace
}  // namespace mirrord
