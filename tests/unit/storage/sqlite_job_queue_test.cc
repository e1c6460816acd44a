// SqliteJobQueue: the conformance suite on a catalog file, plus what is SQLite's own.
#include "storage/sqlite_job_queue.h"

#include <gmock/gmock.h>

#include "storage/catalog.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/storage/job_queue_conformance.h"

namespace mirrord {
namespace {

using test::StatusIs;

class SqliteStore final : public JobQueueTestStore {
 public:
  static Result<std::unique_ptr<JobQueueTestStore>> Make() {
    ASSIGN_OR_RETURN(test::TempDir dir, test::TempDir::Create("mirrord-jobq-"));
    auto store = std::unique_ptr<SqliteStore>(new SqliteStore(std::move(dir)));
    ASSIGN_OR_RETURN(store->catalog_, Catalog::Open(store->file()));
    return std::unique_ptr<JobQueueTestStore>(std::move(store));
  }
  Result<std::unique_ptr<JobQueue>> Connect() override {
    ASSIGN_OR_RETURN(std::unique_ptr<SqliteJobQueue> q, SqliteJobQueue::Open(file()));
    return std::unique_ptr<JobQueue>(std::move(q));
  }

 private:
  explicit SqliteStore(test::TempDir dir) : dir_(std::move(dir)) {}
  std::filesystem::path file() const { return dir_.path() / "catalog.sqlite"; }

  test::TempDir dir_;
  std::unique_ptr<Catalog> catalog_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, JobQueueConformanceTest,
                         ::testing::Values(JobQueueBackend{"sqlite", &SqliteStore::Make}),
                         BackendName);

TEST(SqliteJobQueueTest, RefusesACatalogWithoutTheQueueSchema) {
  ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-jobq-"));
  {
    ASSERT_OK_AND_ASSIGN(Db db, Db::Open(dir.path() / "old.sqlite"));
    ASSERT_OK(db.Exec("PRAGMA user_version = 2"));
  }
  EXPECT_THAT(SqliteJobQueue::Open(dir.path() / "old.sqlite").status(),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(SqliteJobQueue::Open(dir.path() / "missing.sqlite").status(),
              StatusIs(StatusCode::kNotFound));
}

TEST(SqliteJobQueueTest, QueueSurvivesReopening) {
  ASSERT_OK_AND_ASSIGN(auto store, SqliteStore::Make());
  {
    ASSERT_OK_AND_ASSIGN(auto q, store->Connect());
    QueuedJob j;
    j.run_id = 7;
    j.repo = "org/a";
    j.trigger = "webhook";
    j.priority = static_cast<int>(JobPriority::kWebhook);
    j.queued_at_ms = 1234;
    j.pushed_at_ms = 1200;
    j.host = "github.com";
    ASSERT_OK(q->Enqueue(j).status());
  }
  ASSERT_OK_AND_ASSIGN(auto q, store->Connect());
  ASSERT_OK_AND_ASSIGN(std::vector<QueuedJob> all, q->List());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].run_id, 7);
  EXPECT_EQ(all[0].trigger, "webhook");
  EXPECT_EQ(all[0].queued_at_ms, 1234);
  EXPECT_EQ(all[0].pushed_at_ms, 1200);
}

}  // namespace
}  // namespace mirrord
