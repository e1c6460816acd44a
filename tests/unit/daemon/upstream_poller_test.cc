// UpstreamPoller against a fake PollTarget: what one poll asks and does.
#include "daemon/upstream_poller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace mirrord {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class FakePollTarget : public PollTarget {
 public:
  Result<std::vector<std::string>> RepoNames() override { return names; }
  bool HasPendingWork(std::string_view name) override {
    return pending.contains(std::string(name));
  }
  Result<bool> ClaimPoll(std::string_view name, int64_t now_ms, int64_t hold_ms) override {
    claims.push_back({std::string(name), now_ms, hold_ms});
    if (!claim_result.ok()) return claim_result;
    return *claim_result;
  }
  Result<bool> UpstreamChanged(std::string_view name) override {
    checked.emplace_back(name);
    return changed;
  }
  Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) override {
    requested.emplace_back(name);
    triggers.push_back(trigger.trigger);
    return int64_t{42};
  }
  void SetNextPoll(std::string_view name, int64_t unix_seconds) override {
    next_poll[std::string(name)] = unix_seconds;
  }

  struct Claim {
    std::string name;
    int64_t now_ms;
    int64_t hold_ms;
  };
  std::vector<std::string> names;
  std::set<std::string> pending;
  Result<bool> claim_result = true;
  Result<bool> changed = true;
  std::vector<Claim> claims;
  std::vector<std::string> checked;
  std::vector<std::string> requested;
  std::vector<SyncTrigger> triggers;
  std::map<std::string, int64_t> next_poll;
};

// A clock at a fixed instant, so claims are checked exactly.
class FixedClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point();
  }
};

class UpstreamPollerTest : public ::testing::Test {
 protected:
  LiveConfig config_{DefaultConfig()};
  FakePollTarget target_;
  Metrics metrics_;
  FixedClock clock_;
  UpstreamPoller poller_{config_, target_, metrics_, 1, clock_};
};

TEST_F(UpstreamPollerTest, ChangedUpstreamRequestsOnePollSync) {
  poller_.PollOne("THUDM/GLM-4", std::chrono::seconds(600));
  ASSERT_EQ(target_.claims.size(), 1u);
  EXPECT_EQ(target_.claims[0].name, "THUDM/GLM-4");
  EXPECT_EQ(target_.claims[0].now_ms, 1'700'000'000'000);
  EXPECT_EQ(target_.claims[0].hold_ms, 300'000);  // half an interval
  EXPECT_THAT(target_.checked, ElementsAre("THUDM/GLM-4"));
  EXPECT_THAT(target_.requested, ElementsAre("THUDM/GLM-4"));
  EXPECT_THAT(target_.triggers, ElementsAre(SyncTrigger::kPoll));
  EXPECT_THAT(metrics_.Render(), HasSubstr("mirrord_polls_total{result=\"changed\"} 1"));
}

TEST_F(UpstreamPollerTest, UnchangedUpstreamQueuesNothing) {
  target_.changed = false;
  poller_.PollOne("a/b", std::chrono::seconds(60));
  EXPECT_THAT(target_.checked, ElementsAre("a/b"));
  EXPECT_THAT(target_.requested, IsEmpty());
  EXPECT_THAT(metrics_.Render(), HasSubstr("mirrord_polls_total{result=\"unchanged\"} 1"));
}

TEST_F(UpstreamPollerTest, PendingWorkSkipsThePollEntirely) {
  target_.pending.insert("a/b");
  poller_.PollOne("a/b", std::chrono::seconds(60));
  EXPECT_THAT(target_.claims, IsEmpty());
  EXPECT_THAT(target_.checked, IsEmpty());
  EXPECT_THAT(target_.requested, IsEmpty());
}

TEST_F(UpstreamPollerTest, AnotherNodeClaimedThePoll) {
  target_.claim_result = false;
  poller_.PollOne("a/b", std::chrono::seconds(60));
  EXPECT_EQ(target_.claims.size(), 1u);
  EXPECT_THAT(target_.checked, IsEmpty());
  target_.claim_result = Unavailable("queue down");
  poller_.PollOne("a/b", std::chrono::seconds(60));
  EXPECT_THAT(target_.checked, IsEmpty());
}

TEST_F(UpstreamPollerTest, FailedCheckIsCountedAndQueuesNothing) {
  target_.changed = Unavailable("upstream down");
  poller_.PollOne("a/b", std::chrono::seconds(60));
  EXPECT_THAT(target_.requested, IsEmpty());
  EXPECT_THAT(metrics_.Render(), HasSubstr("mirrord_polls_total{result=\"failed\"} 1"));
}

}  // namespace
}  // namespace mirrord
