#include "storage/catalog.h"
#include "storage/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/migrations.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-catalog-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_.emplace(std::move(*dir));
    Reopen();
  }

  std::filesystem::path File() const { return dir_->path() / "catalog.sqlite"; }

  void Reopen() {
    catalog_.reset();
    auto opened = Catalog::Open(File());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(*opened);
  }

  RepoRecord AddRepo(const std::string& name, int64_t now = 100) {
    RepoRecord r;
    r.name = name;
    r.upstream = "github";
    r.path = name;
    r.created_at = r.updated_at = now;
    auto inserted = catalog_->InsertRepo(r);
    EXPECT_TRUE(inserted.ok()) << inserted.status().ToString();
    return inserted.value_or(RepoRecord{});
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
};

std::vector<RefRecord> SomeRefs(int n, const std::string& oid_prefix) {
  std::vector<RefRecord> refs;
  for (int i = 0; i < n; ++i) {
    refs.push_back({"refs/heads/b" + std::to_string(i), oid_prefix + std::to_string(i), ""});
  }
  return refs;
}

TEST_F(CatalogTest, OpenCreatesWalCatalogAtLatestVersion) {
  EXPECT_EQ(catalog_->schema_version(), static_cast<int>(CatalogMigrations().size()));
  EXPECT_TRUE(std::filesystem::exists(File()));
  auto db = Db::Open(File());
  ASSERT_TRUE(db.ok());
  auto mode = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->ColumnText(0), "wal");
}

TEST_F(CatalogTest, OpenNeedsAnExistingDirectory) {
  auto c = Catalog::Open(dir_->path() / "missing" / "catalog.sqlite");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound) << c.status().ToString();
}

TEST_F(CatalogTest, OpenRejectsAFileThatIsNotADatabase) {
  std::filesystem::path junk = dir_->path() / "junk.sqlite";
  {
    std::FILE* f = std::fopen(junk.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(std::string(4096, 'x').c_str(), f);
    std::fclose(f);
  }
  auto c = Catalog::Open(junk);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDataLoss) << c.status().ToString();
}

TEST_F(CatalogTest, ReopenKeepsDataAndVersion) {
  RepoRecord repo = AddRepo("org/model");
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, SomeRefs(3, "a"), "refs/heads/b0", 200).ok());
  Reopen();
  EXPECT_EQ(catalog_->schema_version(), static_cast<int>(CatalogMigrations().size()));
  auto got = catalog_->GetRepo("org/model");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, repo.id);
  EXPECT_EQ(got->head, "refs/heads/b0");
  EXPECT_EQ(*catalog_->CountRefs(repo.id), 3u);
}

TEST_F(CatalogTest, InsertGetListDelete) {
  RepoRecord in;
  in.name = "b/two";
  in.url = "https://example.com/two.git";
  in.created_at = 10;
  in.updated_at = 11;
  auto b = catalog_->InsertRepo(in);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT(b->id, 0);
  EXPECT_EQ(b->state, "new");
  AddRepo("a/one");

  auto got = catalog_->GetRepo("b/two");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, b->id);
  EXPECT_EQ(got->url, "https://example.com/two.git");
  EXPECT_EQ(got->upstream, "");
  EXPECT_EQ(got->state, "new");
  EXPECT_EQ(got->created_at, 10);
  EXPECT_EQ(got->updated_at, 11);
  EXPECT_EQ(got->last_success_at, 0);

  auto list = catalog_->ListRepos();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a/one");
  EXPECT_EQ((*list)[1].name, "b/two");

  EXPECT_EQ(catalog_->GetRepo("c/three").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->DeleteRepo("a/one").ok());
  EXPECT_EQ(catalog_->GetRepo("a/one").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->DeleteRepo("a/one").code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->ListRepos()->size(), 1u);
}

TEST_F(CatalogTest, CountsReposByState) {
  auto empty = catalog_->CountReposByState();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());
  auto a = AddRepo("a/one");
  auto b = AddRepo("b/two");
  AddRepo("c/three");
  ASSERT_TRUE(catalog_->SetRepoState(a.id, "ready", 20).ok());
  ASSERT_TRUE(catalog_->SetRepoState(b.id, "ready", 20).ok());
  auto counts = catalog_->CountReposByState();
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"new", 1}, {"ready", 2}}));
}

TEST_F(CatalogTest, DuplicateNameIsAlreadyExists) {
  AddRepo("org/model");
  RepoRecord again;
  again.name = "org/model";
  auto r = catalog_->InsertRepo(again);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(r.status().message().find("org/model"), std::string::npos);
}

TEST_F(CatalogTest, InvalidRepoInput) {
  RepoRecord r;
  EXPECT_EQ(catalog_->InsertRepo(r).status().code(), StatusCode::kInvalidArgument);
  r.name = "x";
  r.state = "bogus";
  EXPECT_EQ(catalog_->InsertRepo(r).status().code(), StatusCode::kInvalidArgument);
  RepoRecord ok = AddRepo("y");
  EXPECT_EQ(catalog_->SetRepoState(ok.id, "bogus", 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->SetRepoState(ok.id + 100, "ready", 1).code(), StatusCode::kNotFound);
  ASSERT_TRUE(catalog_->SetRepoState(ok.id, "syncing", 123).ok());
  auto got = catalog_->GetRepo("y");
  EXPECT_EQ(got->state, "syncing");
  EXPECT_EQ(got->updated_at, 123);
}

TEST_F(CatalogTest, DeleteCascadesToRefsAndRuns) {
  RepoRecord repo = AddRepo("org/model");
  RepoRecord other = AddRepo("org/other");
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, SomeRefs(4, "a"), "refs/heads/b0", 200).ok());
  ASSERT_TRUE(catalog_->ReplaceRefs(other.id, SomeRefs(2, "c"), "refs/heads/b0", 200).ok());
  auto run = catalog_->InsertRun(repo.id, "manual", 150);
  ASSERT_TRUE(run.ok());
  auto other_run = catalog_->InsertRun(other.id, "poll", 150);
  ASSERT_TRUE(other_run.ok());

  ASSERT_TRUE(catalog_->DeleteRepo("org/model").ok());
  EXPECT_EQ(*catalog_->CountRefs(repo.id), 0u);
  EXPECT_EQ(catalog_->GetRun(*run).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*catalog_->CountRefs(other.id), 2u);
  EXPECT_TRUE(catalog_->GetRun(*other_run).ok());

  // Ids are never reused, so a stale run id cannot point at a new repo's run.
  RepoRecord again = AddRepo("org/model");
  EXPECT_GT(again.id, other.id);
  auto new_run = catalog_->InsertRun(again.id, "manual", 300);
  ASSERT_TRUE(new_run.ok());
  EXPECT_GT(*new_run, *other_run);
}

TEST_F(CatalogTest, ReplaceRefsReplacesAndPublishes) {
  RepoRecord repo = AddRepo("org/model");
  std::vector<RefRecord> first = {{"refs/heads/main", "1111", ""},
                                  {"refs/heads/old", "2222", ""},
                                  {"refs/tags/v1", "3333", "4444"}};
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, first, "refs/heads/main", 500).ok());
  auto got = catalog_->GetRepo("org/model");
  EXPECT_EQ(got->state, "ready");
  EXPECT_EQ(got->head, "refs/heads/main");
  EXPECT_EQ(got->last_success_at, 500);
  EXPECT_EQ(got->updated_at, 500);

  std::vector<RefRecord> second = {{"refs/heads/main", "5555", ""},
                                   {"refs/tags/v1", "3333", "4444"}};
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, second, "refs/heads/main", 600).ok());
  auto refs = catalog_->GetRefs(repo.id);
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 2u);  // replaced, not appended: refs/heads/old is gone
  EXPECT_EQ((*refs)[0].name, "refs/heads/main");
  EXPECT_EQ((*refs)[0].oid, "5555");
  EXPECT_EQ((*refs)[1].name, "refs/tags/v1");
  EXPECT_EQ((*refs)[1].peeled, "4444");
  EXPECT_EQ(*catalog_->CountRefs(repo.id), 2u);

  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, {}, "", 700).ok());
  EXPECT_EQ(*catalog_->CountRefs(repo.id), 0u);
}

TEST_F(CatalogTest, FailedReplaceRefsChangesNothing) {
  RepoRecord repo = AddRepo("org/model");
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, SomeRefs(3, "a"), "refs/heads/b0", 500).ok());
  ASSERT_TRUE(catalog_->SetRepoState(repo.id, "syncing", 550).ok());

  // The duplicate is only discovered by the database, after the old refs were deleted and
  // the repo row updated inside the transaction.
  std::vector<RefRecord> bad = SomeRefs(5, "z");
  bad.push_back(bad.front());
  Status s = catalog_->ReplaceRefs(repo.id, bad, "refs/heads/b1", 600);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();

  auto refs = catalog_->GetRefs(repo.id);
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 3u);
  EXPECT_EQ((*refs)[0].oid, "a0");
  auto got = catalog_->GetRepo("org/model");
  EXPECT_EQ(got->state, "syncing");
  EXPECT_EQ(got->head, "refs/heads/b0");
  EXPECT_EQ(got->last_success_at, 500);

  EXPECT_EQ(catalog_->ReplaceRefs(repo.id, {{"", "1", ""}}, "", 1).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->ReplaceRefs(repo.id + 99, SomeRefs(1, "a"), "", 1).code(),
            StatusCode::kNotFound);
  // The catalog stays usable after a rolled-back transaction.
  ASSERT_TRUE(catalog_->ReplaceRefs(repo.id, SomeRefs(1, "q"), "refs/heads/b0", 700).ok());
  EXPECT_EQ(*catalog_->CountRefs(repo.id), 1u);
}

TEST_F(CatalogTest, RunLifecycle) {
  RepoRecord repo = AddRepo("org/model");
  EXPECT_FALSE(catalog_->LastFinishedRun(repo.id)->has_value());

  auto id = catalog_->InsertRun(repo.id, "webhook", 1000);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto run = catalog_->GetRun(*id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->repo_id, repo.id);
  EXPECT_EQ(run->repo_name, "org/model");
  EXPECT_EQ(run->trigger, "webhook");
  EXPECT_EQ(run->state, "queued");
  EXPECT_EQ(run->queued_at, 1000);
  EXPECT_EQ(run->started_at, 0);
  EXPECT_EQ(run->finished_at, 0);
  ASSERT_EQ(catalog_->UnfinishedRuns()->size(), 1u);

  ASSERT_TRUE(catalog_->MarkRunStarted(*id, 1001).ok());
  EXPECT_EQ(catalog_->MarkRunStarted(*id, 1002).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(catalog_->MarkRunStarted(*id + 50, 1002).code(), StatusCode::kNotFound);
  run = catalog_->GetRun(*id);
  EXPECT_EQ(run->state, "running");
  EXPECT_EQ(run->started_at, 1001);
  EXPECT_FALSE(catalog_->LastFinishedRun(repo.id)->has_value());

  SyncRunRecord done;
  done.id = *id;
  done.state = "succeeded";
  done.finished_at = 1010;
  done.received_bytes = uint64_t{5} << 33;  // more than 32 bits
  done.received_objects = 1234;
  done.refs_added = 3;
  done.refs_updated = 2;
  done.refs_deleted = 1;
  ASSERT_TRUE(catalog_->FinishRun(done).ok());
  run = catalog_->GetRun(*id);
  EXPECT_EQ(run->state, "succeeded");
  EXPECT_EQ(run->error, "");
  EXPECT_EQ(run->started_at, 1001);
  EXPECT_EQ(run->finished_at, 1010);
  EXPECT_EQ(run->received_bytes, uint64_t{5} << 33);
  EXPECT_EQ(run->received_objects, 1234u);
  EXPECT_EQ(run->refs_added, 3);
  EXPECT_EQ(run->refs_updated, 2);
  EXPECT_EQ(run->refs_deleted, 1);
  EXPECT_FALSE(run->failure.has_value());  // a success carries no failure
  EXPECT_TRUE(catalog_->UnfinishedRuns()->empty());

  // A finished run is never rewritten.
  done.state = "failed";
  EXPECT_EQ(catalog_->FinishRun(done).code(), StatusCode::kFailedPrecondition);
  done.state = "running";
  EXPECT_EQ(catalog_->FinishRun(done).code(), StatusCode::kInvalidArgument);
  done.id = *id + 50;
  done.state = "failed";
  EXPECT_EQ(catalog_->FinishRun(done).code(), StatusCode::kNotFound);

  // A queued run may fail without ever starting; the latest finished run wins.
  auto second = catalog_->InsertRun(repo.id, "poll", 2000);
  ASSERT_TRUE(second.ok());
  SyncRunRecord failed;
  failed.id = *second;
  failed.state = "failed";
  failed.error = "Unavailable: upstream said 502";
  failed.failure = RunFailure{FailurePhase::kLfs, "Unavailable", true, 45};
  failed.finished_at = 2001;
  ASSERT_TRUE(catalog_->FinishRun(failed).ok());
  auto last = catalog_->LastFinishedRun(repo.id);
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->id, *second);
  EXPECT_EQ((*last)->error, "Unavailable: upstream said 502");
  ASSERT_TRUE((*last)->failure.has_value());
  EXPECT_EQ(*(*last)->failure, *failed.failure);
  // A failure that named no wait reads back without one.
  auto third = catalog_->InsertRun(repo.id, "poll", 3000);
  ASSERT_TRUE(third.ok());
  failed.id = *third;
  failed.failure = RunFailure{FailurePhase::kConnect, "InvalidArgument", false, std::nullopt};
  ASSERT_TRUE(catalog_->FinishRun(failed).ok());
  run = catalog_->GetRun(*third);
  ASSERT_TRUE(run.ok() && run->failure.has_value());
  EXPECT_EQ(*run->failure, *failed.failure);
  EXPECT_EQ((*last)->started_at, 0);

  // The last failure stays findable after a later success.
  auto fourth = catalog_->InsertRun(repo.id, "manual", 4000);
  ASSERT_TRUE(fourth.ok());
  SyncRunRecord ok;
  ok.id = *fourth;
  ok.state = "succeeded";
  ok.finished_at = 4001;
  ASSERT_TRUE(catalog_->FinishRun(ok).ok());
  auto last_failed = catalog_->LastFailedRun(repo.id);
  ASSERT_TRUE(last_failed.ok() && last_failed->has_value());
  EXPECT_EQ((*last_failed)->id, *third);
  EXPECT_EQ((*catalog_->LastFinishedRun(repo.id))->id, *fourth);
  auto none = catalog_->LastFailedRun(repo.id + 99);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  EXPECT_EQ(catalog_->InsertRun(repo.id + 99, "manual", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->GetRun(12345).status().code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, MarkRunningRunsInterrupted) {
  RepoRecord fresh = AddRepo("a/fresh");
  RepoRecord synced = AddRepo("b/synced");
  RepoRecord idle = AddRepo("c/idle");
  ASSERT_TRUE(catalog_->ReplaceRefs(synced.id, SomeRefs(1, "a"), "refs/heads/b0", 50).ok());
  ASSERT_TRUE(catalog_->SetRepoState(idle.id, "failed", 60).ok());

  auto r1 = catalog_->InsertRun(fresh.id, "startup", 100);
  auto r2 = catalog_->InsertRun(synced.id, "poll", 100);
  auto queued = catalog_->InsertRun(synced.id, "manual", 101);
  ASSERT_TRUE(r1.ok() && r2.ok() && queued.ok());
  ASSERT_TRUE(catalog_->MarkRunStarted(*r1, 102).ok());
  ASSERT_TRUE(catalog_->MarkRunStarted(*r2, 102).ok());
  ASSERT_TRUE(catalog_->SetRepoState(fresh.id, "syncing", 102).ok());
  ASSERT_TRUE(catalog_->SetRepoState(synced.id, "syncing", 102).ok());

  Reopen();  // as after a crash
  auto n = catalog_->MarkRunningRunsInterrupted(500, "mirrord stopped during the sync");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  for (int64_t id : {*r1, *r2}) {
    auto run = catalog_->GetRun(id);
    EXPECT_EQ(run->state, "interrupted");
    EXPECT_EQ(run->error, "mirrord stopped during the sync");
    EXPECT_EQ(run->finished_at, 500);
  }
  EXPECT_EQ(catalog_->GetRun(*queued)->state, "queued");
  auto unfinished = catalog_->UnfinishedRuns();
  ASSERT_EQ(unfinished->size(), 1u);
  EXPECT_EQ((*unfinished)[0].id, *queued);
  EXPECT_EQ((*unfinished)[0].repo_name, "b/synced");

  EXPECT_EQ(catalog_->GetRepo("a/fresh")->state, "new");
  EXPECT_EQ(catalog_->GetRepo("b/synced")->state, "ready");
  EXPECT_EQ(catalog_->GetRepo("b/synced")->updated_at, 500);
  EXPECT_EQ(catalog_->GetRepo("c/idle")->state, "failed");  // not syncing: untouched
  EXPECT_EQ(catalog_->GetRepo("c/idle")->updated_at, 60);

  EXPECT_EQ(*catalog_->MarkRunningRunsInterrupted(600, "again"), 0);
}

// Four threads share one Catalog and two more share a second connection to the same file
// (as a second process would): every write lands, reads see whole records, and no call fails
// with Unavailable thanks to the busy timeout and IMMEDIATE transactions.
TEST_F(CatalogTest, ConcurrentUseStaysConsistent) {
  auto second = Catalog::Open(File());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  constexpr int kThreads = 6;
  constexpr int kReposPerThread = 20;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  auto work = [&](int t, Catalog* catalog) {
    auto fail = [&](const std::string& what) {
      if (errors[t].empty()) errors[t] = what;
      failures.fetch_add(1);
    };
    for (int i = 0; i < kReposPerThread; ++i) {
      RepoRecord r;
      r.name = "t" + std::to_string(t) + "/r" + std::to_string(i);
      r.upstream = "github";
      auto repo = catalog->InsertRepo(r);
      if (!repo.ok()) return fail("insert: " + repo.status().ToString());
      auto run = catalog->InsertRun(repo->id, "manual", i);
      if (!run.ok()) return fail("run: " + run.status().ToString());
      if (Status s = catalog->MarkRunStarted(*run, i); !s.ok()) return fail(s.ToString());
      int nrefs = i % 5 + 1;
      if (Status s = catalog->ReplaceRefs(repo->id, SomeRefs(nrefs, r.name), "refs/heads/b0", i);
          !s.ok()) {
        return fail("refs: " + s.ToString());
      }
      SyncRunRecord done;
      done.id = *run;
      done.state = "succeeded";
      done.finished_at = i + 1;
      done.refs_added = nrefs;
      if (Status s = catalog->FinishRun(done); !s.ok()) return fail("finish: " + s.ToString());
      auto got = catalog->GetRepo(r.name);
      if (!got.ok() || got->id != repo->id || got->state != "ready") return fail("get");
      auto count = catalog->CountRefs(repo->id);
      if (!count.ok() || *count != static_cast<size_t>(nrefs)) return fail("count");
      auto list = catalog->ListRepos();
      if (!list.ok()) return fail("list: " + list.status().ToString());
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(work, t, t < 4 ? catalog_.get() : second->get());
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  EXPECT_EQ(failures.load(), 0);

  auto list = catalog_->ListRepos();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), static_cast<size_t>(kThreads * kReposPerThread));
  for (const RepoRecord& r : *list) {
    EXPECT_EQ(r.state, "ready") << r.name;
    auto last = catalog_->LastFinishedRun(r.id);
    ASSERT_TRUE(last.ok() && last->has_value()) << r.name;
    EXPECT_EQ((*last)->repo_name, r.name);
    EXPECT_EQ(static_cast<size_t>((*last)->refs_added), *catalog_->CountRefs(r.id));
  }
  EXPECT_TRUE(catalog_->UnfinishedRuns()->empty());
}

}  // namespace
}  // namespace mirrord
