// ServableRepos, the serving gate: Lookup answers from memory (never SQLite), a miss wakes
// the refresher, which learns what another node published; a repo removed here stays
// unserved however often the catalog is read.
#include "daemon/servable_repos.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class ServableReposTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-servable-"));
    dir_.emplace(std::move(dir));
    config_.storage_root = dir_->path();
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(config_.CatalogPath()));
    ASSERT_OK_AND_ASSIGN(other_node_, Catalog::Open(config_.CatalogPath()));
  }

  // What another node sharing the catalog does when it publishes `name` the first time.
  void PublishElsewhere(const std::string& name) {
    RepoRecord r;
    r.name = name;
    r.upstream = "github";
    r.path = name;
    ASSERT_OK_AND_ASSIGN(RepoRecord repo, other_node_->InsertRepo(r));
    ASSERT_OK(other_node_->ReplaceRefs(repo.id, {{"refs/heads/main", "1111", ""}},
                                       "refs/heads/main", 100));
  }

  std::optional<test::TempDir> dir_;
  Config config_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Catalog> other_node_;
};

TEST_F(ServableReposTest, AMissWakesTheRefresherWhichLearnsOtherNodesPublications) {
  // A refresh period far beyond the test: only the miss can wake the refresher.
  ServableRepos gate(config_, *catalog_, std::chrono::hours(1));
  gate.StartRefresher();
  PublishElsewhere("org/elsewhere");
  EXPECT_FALSE(gate.Lookup("org/elsewhere").has_value());  // not known here yet
  EXPECT_TRUE(test::PollUntil([&] { return gate.Lookup("org/elsewhere").has_value(); },
                              std::chrono::seconds(30)));
  EXPECT_EQ(*gate.Lookup("org/elsewhere"), config_.RepoDir("org/elsewhere"));
  EXPECT_FALSE(gate.Lookup("org/never").has_value());
}

TEST_F(ServableReposTest, MarkedAndForgottenRepos) {
  ServableRepos gate(config_, *catalog_);
  gate.MarkServable("org/here");
  EXPECT_TRUE(gate.Lookup("org/here").has_value());
  PublishElsewhere("org/removed");
  ASSERT_OK(gate.Refresh());
  EXPECT_TRUE(gate.Lookup("org/removed").has_value());
  gate.Forget("org/removed");
  ASSERT_OK(gate.Refresh());  // the catalog still lists it (the removal is in progress)
  EXPECT_FALSE(gate.Lookup("org/removed").has_value());
  gate.MarkServable("org/removed");  // added and published again
  EXPECT_TRUE(gate.Lookup("org/removed").has_value());
}

// Listeners (the Hugging Face endpoint's answer cache) hear of each publication and removal
// made here, once each, after the change.
TEST_F(ServableReposTest, ListenersHearPublicationsAndRemovals) {
  ServableRepos gate(config_, *catalog_);
  std::vector<std::string> heard;
  gate.AddListener([&](std::string_view name) {
    heard.emplace_back(std::string(name) + (gate.Lookup(name) ? " served" : " gone"));
  });
  gate.MarkServable("org/a");
  gate.MarkServable("org/a");  // a later sync publishes again
  gate.Forget("org/a");
  PublishElsewhere("org/b");
  ASSERT_OK(gate.Refresh());  // another node's first publication: not this node's to tell
  EXPECT_EQ(heard, (std::vector<std::string>{"org/a served", "org/a served", "org/a gone"}));
}

}  // namespace
}  // namespace mirrord
