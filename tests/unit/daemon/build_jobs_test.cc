// BuildJobs against a real SQLite catalog and job queue: which refs a recipe builds, the
// builds a publication queues (new and moved refs only, per matching recipe, coalesced per
// build and ref), and the checks of an operator's request.
#include "daemon/build_jobs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "storage/sqlite_job_queue.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using test::StatusIs;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

BuildRecipe Recipe(std::string name, std::string repo, std::vector<std::string> refs = {}) {
  BuildRecipe r;
  r.name = std::move(name);
  r.repo = std::move(repo);
  r.refs = std::move(refs);
  return r;
}

TEST(RecipeBuildsRefTest, GlobsElseTheDefaultBranchAndTags) {
  BuildRecipe any = Recipe("lab/m", "org/m");
  EXPECT_TRUE(RecipeBuildsRef(any, "refs/heads/main", "refs/heads/main"));
  EXPECT_TRUE(RecipeBuildsRef(any, "refs/tags/v1", "refs/heads/main"));
  EXPECT_FALSE(RecipeBuildsRef(any, "refs/heads/dev", "refs/heads/main"));
  EXPECT_FALSE(RecipeBuildsRef(any, "refs/heads/main", ""));
  BuildRecipe globs = Recipe("lab/m", "org/m", {"refs/heads/release-*"});
  EXPECT_TRUE(RecipeBuildsRef(globs, "refs/heads/release-2", "refs/heads/main"));
  EXPECT_FALSE(RecipeBuildsRef(globs, "refs/heads/main", "refs/heads/main"));
  EXPECT_FALSE(RecipeBuildsRef(globs, "refs/tags/v1", "refs/heads/main"));
}

class BuildJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
    dir_.emplace(std::move(dir));
    config_ = DefaultConfig();
    config_.storage_root = dir_->path();
    config_.builds = {Recipe("lab/m", "org/m"), Recipe("lab/m-rel", "org/m", {"refs/heads/rel*"}),
                      Recipe("lab/other", "org/other")};
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.db"));
    ASSERT_OK_AND_ASSIGN(queue_, SqliteJobQueue::Open(dir_->path() / "catalog.db"));
    RepoRecord r;
    r.name = "org/m";
    ASSERT_OK_AND_ASSIGN(repo_, catalog_->InsertRepo(r));
    live_.emplace(config_);
    jobs_.emplace(*live_, *catalog_, *queue_, SystemClock::Instance(), [this] { ++wakes_; });
  }

  std::vector<QueuedJob> Builds() {
    Result<std::vector<QueuedJob>> all = queue_->List();
    EXPECT_TRUE(all.ok());
    std::vector<QueuedJob> out;
    for (const QueuedJob& j : all.value_or(std::vector<QueuedJob>{})) {
      if (j.kind == JobKind::kBuild) out.push_back(j);
    }
    return out;
  }

  std::optional<TempDir> dir_;
  Config config_;
  std::optional<LiveConfig> live_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<SqliteJobQueue> queue_;
  RepoRecord repo_;
  int wakes_ = 0;
  std::optional<BuildJobs> jobs_;
};

TEST_F(BuildJobsTest, PublicationQueuesNewAndMovedRefsOfMatchingRecipes) {
  const std::vector<RefRecord> before = {
      {"refs/heads/main", "a1", ""}, {"refs/heads/rel1", "b1", ""}, {"refs/tags/v1", "t1", "c1"}};
  const std::vector<RefRecord> after = {{"refs/heads/main", "a2", ""},  // moved
                                        {"refs/heads/rel1", "b1", ""},  // unchanged
                                        {"refs/heads/rel2", "b2", ""},  // new
                                        {"refs/heads/dev", "d1", ""},   // nobody builds it
                                        {"refs/tags/v1", "t1", "c1"},   // unchanged
                                        {"refs/tags/v2", "t2", "c2"}};  // new, annotated
  std::vector<QueuedBuild> queued = jobs_->OnPublished("org/m", before, after, "refs/heads/main",
                                                       "webhook", JobPriority::kWebhook, 1234);
  ASSERT_EQ(queued.size(), 3u);
  std::vector<std::string> what;
  for (const QueuedBuild& q : queued) what.push_back(q.build + " " + q.ref + " " + q.commit);
  EXPECT_THAT(what, UnorderedElementsAre("lab/m refs/heads/main a2", "lab/m-rel refs/heads/rel2 b2",
                                         "lab/m refs/tags/v2 c2"));
  std::vector<QueuedJob> jobs = Builds();
  ASSERT_EQ(jobs.size(), 3u);
  for (const QueuedJob& j : jobs) {
    EXPECT_EQ(j.repo, "org/m");
    EXPECT_EQ(j.trigger, "webhook");
    EXPECT_EQ(j.priority, static_cast<int>(JobPriority::kWebhook));
    EXPECT_EQ(j.pushed_at_ms, 1234);
    ASSERT_OK_AND_ASSIGN(BuildRunRecord run, catalog_->GetBuildRun(j.run_id));
    EXPECT_EQ(run.build, j.build);
    EXPECT_EQ(run.ref, j.ref);
    EXPECT_EQ(run.commit, j.commit);
    EXPECT_EQ(run.pushed_at_ms, 1234);
    ASSERT_OK_AND_ASSIGN(SyncRunRecord record, catalog_->GetRun(j.run_id));
    EXPECT_EQ(record.state, "queued");
    EXPECT_EQ(record.repo_id, repo_.id);
  }
  EXPECT_GE(wakes_, 3);
  // A build run is not the repo's last sync.
  ASSERT_OK_AND_ASSIGN(std::optional<SyncRunRecord> last, catalog_->LastFinishedRun(repo_.id));
  EXPECT_FALSE(last.has_value());

  // The next publication moves main again before its build ran: it coalesces (one run),
  // carrying the newer commit.
  const int64_t main_run = queued[0].ref == "refs/heads/main"   ? queued[0].run_id
                           : queued[1].ref == "refs/heads/main" ? queued[1].run_id
                                                                : queued[2].run_id;
  std::vector<RefRecord> later = after;
  later[0].oid = "a3";
  std::vector<QueuedBuild> again =
      jobs_->OnPublished("org/m", after, later, "refs/heads/main", "poll", JobPriority::kPoll, 0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].coalesced);
  EXPECT_EQ(again[0].run_id, main_run);
  jobs = Builds();
  ASSERT_EQ(jobs.size(), 3u);
  for (const QueuedJob& j : jobs) {
    if (j.run_id == main_run) {
      EXPECT_EQ(j.commit, "a3");
      EXPECT_EQ(j.trigger, "webhook");  // the better trigger stays
    }
  }
  // A repo without recipes queues nothing.
  EXPECT_THAT(
      jobs_->OnPublished("org/x", {}, after, "refs/heads/main", "poll", JobPriority::kPoll, 0),
      IsEmpty());
}

TEST_F(BuildJobsTest, RequestNeedsAKnownRecipeASyncedRepoAndAPublishedRef) {
  EXPECT_THAT(jobs_->Request("lab/nope", "", "manual", JobPriority::kManual, 0).status(),
              StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(jobs_->Request("lab/m", "", "manual", JobPriority::kManual, 0).status(),
              StatusIs(StatusCode::kFailedPrecondition));  // never synced
  EXPECT_THAT(jobs_->Request("lab/other", "", "manual", JobPriority::kManual, 0).status(),
              StatusIs(StatusCode::kNotFound));  // not mirrored
  ASSERT_OK(catalog_->ReplaceRefs(repo_.id,
                                  {{"refs/heads/main", "a1", ""}, {"refs/heads/rel1", "b1", ""}},
                                  "refs/heads/main", 100));
  ASSERT_OK_AND_ASSIGN(QueuedBuild main,
                       jobs_->Request("lab/m", "", "manual", JobPriority::kManual, 0));
  EXPECT_EQ(main.ref, "refs/heads/main");
  EXPECT_EQ(main.commit, "a1");
  EXPECT_FALSE(main.coalesced);
  ASSERT_OK_AND_ASSIGN(QueuedBuild twice, jobs_->Request("lab/m", "refs/heads/main", "manual",
                                                         JobPriority::kManual, 0));
  EXPECT_TRUE(twice.coalesced);
  EXPECT_EQ(twice.run_id, main.run_id);
  // Without globs any published ref may be asked for; revision expressions never.
  ASSERT_OK(jobs_->Request("lab/m", "refs/heads/rel1", "manual", JobPriority::kManual, 0).status());
  EXPECT_THAT(
      jobs_->Request("lab/m", "refs/heads/main~1", "manual", JobPriority::kManual, 0).status(),
      StatusIs(StatusCode::kNotFound));
  // With globs, only a matching ref.
  EXPECT_THAT(
      jobs_->Request("lab/m-rel", "refs/heads/main", "manual", JobPriority::kManual, 0).status(),
      StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(
      jobs_->Request("lab/m-rel", "refs/heads/rel1", "manual", JobPriority::kManual, 0).status());
  EXPECT_EQ(Builds().size(), 3u);
}

}  // namespace
}  // namespace mirrord
