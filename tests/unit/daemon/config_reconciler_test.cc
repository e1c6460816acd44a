// ConfigReconciler against a real SQLite catalog: what each difference between [[repos]]
// and the catalog turns into, and the retention of repos that left the config.
#include "daemon/config_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord::test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SettableClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return now; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return {}; }
  std::chrono::system_clock::time_point now{std::chrono::seconds(1'700'000'000)};
};

RepoConfig FromUrl(std::string name, std::string url) {
  RepoConfig rc;
  rc.name = std::move(name);
  rc.url = std::move(url);
  return rc;
}

class ConfigReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.db"));
    registry_ = std::make_unique<RepoRegistry>(live_, *catalog_, clock_);
    reconciler_ = std::make_unique<ConfigReconciler>(
        *catalog_, *registry_,
        ReconcileHooks{
            .queue_sync = [this](const std::string& n) { queued_.push_back(n); },
            .stop = [this](const std::string& n) { stopped_.push_back(n); },
            .purge =
                [this](const std::string& n) {
                  purged_.push_back(n);
                  return catalog_->DeleteRepo(n);
                },
        },
        clock_);
  }

  Result<ReconcileReport> Reconcile(std::vector<RepoConfig> repos) {
    Config c = DefaultConfig();
    c.repos = std::move(repos);
    live_.Set(c);
    queued_.clear();
    stopped_.clear();
    return reconciler_->Reconcile(c);
  }

  std::optional<TempDir> dir_;
  SettableClock clock_;
  LiveConfig live_{DefaultConfig()};
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<RepoRegistry> registry_;
  std::unique_ptr<ConfigReconciler> reconciler_;
  std::vector<std::string> queued_, stopped_, purged_;
};

TEST_F(ConfigReconcilerTest, AddsRepointsAndRetires) {
  ASSERT_OK_AND_ASSIGN(ReconcileReport first, Reconcile({FromUrl("org/a", "https://h/a.git"),
                                                         FromUrl("org/b", "https://h/b.git")}));
  EXPECT_THAT(first.added, ElementsAre("org/a", "org/b"));
  EXPECT_THAT(queued_, ElementsAre("org/a", "org/b"));
  ASSERT_OK_AND_ASSIGN(RepoRecord a, catalog_->GetRepo("org/a"));
  EXPECT_EQ(a.origin, "config");
  const int64_t a_id = a.id;

  // b re-pointed, a dropped, c added.
  ASSERT_OK_AND_ASSIGN(ReconcileReport second, Reconcile({FromUrl("org/b", "https://g/b.git"),
                                                          FromUrl("org/c", "https://h/c.git")}));
  EXPECT_THAT(second.added, ElementsAre("org/c"));
  EXPECT_THAT(second.repointed, ElementsAre("org/b"));
  EXPECT_THAT(second.retired, ElementsAre("org/a"));
  EXPECT_THAT(stopped_, ElementsAre("org/a"));
  EXPECT_THAT(queued_, ::testing::UnorderedElementsAre("org/b", "org/c"));
  ASSERT_OK_AND_ASSIGN(RepoRecord b, catalog_->GetRepo("org/b"));
  EXPECT_EQ(b.url, "https://g/b.git");
  ASSERT_OK_AND_ASSIGN(a, catalog_->GetRepo("org/a"));  // kept, retired
  EXPECT_EQ(a.retired_at, 1'700'000'000);

  // The same config again changes nothing (a never-synced repo gets its sync queued).
  ASSERT_OK_AND_ASSIGN(ReconcileReport third, Reconcile({FromUrl("org/b", "https://g/b.git"),
                                                         FromUrl("org/c", "https://h/c.git")}));
  EXPECT_THAT(third.added, IsEmpty());
  EXPECT_THAT(third.repointed, IsEmpty());
  EXPECT_THAT(third.retired, IsEmpty());
  EXPECT_THAT(stopped_, IsEmpty());

  // Back in the config: mirrored again, same data.
  ASSERT_OK_AND_ASSIGN(ReconcileReport fourth, Reconcile({FromUrl("org/a", "https://h/a.git"),
                                                          FromUrl("org/b", "https://g/b.git"),
                                                          FromUrl("org/c", "https://h/c.git")}));
  EXPECT_THAT(fourth.unretired, ElementsAre("org/a"));
  ASSERT_OK_AND_ASSIGN(a, catalog_->GetRepo("org/a"));
  EXPECT_EQ(a.retired_at, 0);
  EXPECT_EQ(a.id, a_id);  // the same repo and data, not a new registration
}

TEST_F(ConfigReconcilerTest, ApiReposAreLeftAloneUntilTheConfigNamesThem) {
  RepoSpec spec{"org/api", "", "", "https://h/api.git"};
  ASSERT_OK(registry_->Register(spec).status());
  ASSERT_OK_AND_ASSIGN(ReconcileReport r, Reconcile({}));
  EXPECT_THAT(r.retired, IsEmpty());
  ASSERT_OK_AND_ASSIGN(RepoRecord api, catalog_->GetRepo("org/api"));
  EXPECT_EQ(api.origin, "api");
  EXPECT_EQ(api.retired_at, 0);
  // Named by the config (another source): the config takes it over and wins.
  ASSERT_OK_AND_ASSIGN(r, Reconcile({FromUrl("org/api", "https://g/api.git")}));
  EXPECT_THAT(r.unretired, ElementsAre("org/api"));
  EXPECT_THAT(r.repointed, ElementsAre("org/api"));
  ASSERT_OK_AND_ASSIGN(api, catalog_->GetRepo("org/api"));
  EXPECT_EQ(api.origin, "config");
  EXPECT_EQ(api.url, "https://g/api.git");
}

TEST_F(ConfigReconcilerTest, RetiredReposArePurgedAfterTheRetention) {
  ASSERT_OK(Reconcile({FromUrl("org/a", "https://h/a.git")}).status());
  ASSERT_OK(Reconcile({}).status());
  clock_.now += std::chrono::hours(24 * 30) - std::chrono::seconds(1);
  EXPECT_THAT(reconciler_->PurgeExpired(std::chrono::hours(24 * 30)), IsEmpty());
  ASSERT_OK(catalog_->GetRepo("org/a").status());
  clock_.now += std::chrono::seconds(1);
  EXPECT_THAT(reconciler_->PurgeExpired(std::chrono::hours(24 * 30)), ElementsAre("org/a"));
  EXPECT_THAT(purged_, ElementsAre("org/a"));
  EXPECT_EQ(catalog_->GetRepo("org/a").status().code(), StatusCode::kNotFound);
}

TEST_F(ConfigReconcilerTest, SummaryCountsEachKind) {
  ReconcileReport r;
  r.added = {"a"};
  r.repointed = {"b", "c"};
  r.retired = {"d"};
  EXPECT_EQ(r.Summary(3), "3 repos in the config: 1 added, 2 re-pointed, 1 removed, 0 taken back");
}

}  // namespace
}  // namespace mirrord::test
