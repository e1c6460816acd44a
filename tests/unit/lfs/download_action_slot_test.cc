#include "lfs/download_action_slot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

// A clock the test moves.
class SettableClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return now; }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(now.time_since_epoch());
  }
  std::chrono::system_clock::time_point now = std::chrono::system_clock::from_time_t(1'700'000'000);
};

// Hands out actions "href-1", "href-2", ... valid for `lifetime` from the clock's now, or
// the queued error.
struct FakeBatch {
  const SettableClock* clock;
  seconds lifetime{3600};
  int calls = 0;
  std::optional<Status> error;

  DownloadActionSlot::Refresh AsRefresh() {
    return [this]() -> Result<LfsDownloadAction> {
      ++calls;
      if (error) return *error;
      LfsDownloadAction a;
      a.href = "https://cdn/href-" + std::to_string(calls);
      a.expires = clock->now + lifetime;
      return a;
    };
  }
};

class DownloadActionSlotTest : public ::testing::Test {
 protected:
  SettableClock clock_;
  FakeBatch batch_{&clock_, seconds(3600), 0, std::nullopt};
};

TEST_F(DownloadActionSlotTest, AsksOnlyWhenThereIsNoActionYet) {
  DownloadActionSlot slot("LFS object o", std::nullopt, batch_.AsRefresh(), 4, seconds(30), clock_);
  ASSERT_OK_AND_ASSIGN(auto first, slot.Current());
  EXPECT_EQ(first.action.href, "https://cdn/href-1");
  ASSERT_OK_AND_ASSIGN(auto again, slot.Current());
  EXPECT_EQ(again.generation, first.generation);
  EXPECT_EQ(batch_.calls, 1);
  EXPECT_EQ(slot.refreshes(), 0);  // the first action is not a refresh
}

TEST_F(DownloadActionSlotTest, AnActionAboutToExpireIsReplaced) {
  LfsDownloadAction given;
  given.href = "https://cdn/given";
  given.expires = clock_.now + seconds(100);
  DownloadActionSlot slot("LFS object o", given, batch_.AsRefresh(), 4, seconds(30), clock_);
  ASSERT_OK_AND_ASSIGN(auto use, slot.Current());
  EXPECT_EQ(use.action.href, "https://cdn/given");
  clock_.now += seconds(71);  // within the 30 s margin of its expiry
  ASSERT_OK_AND_ASSIGN(use, slot.Current());
  EXPECT_EQ(use.action.href, "https://cdn/href-1");
  EXPECT_EQ(slot.refreshes(), 1);
}

TEST_F(DownloadActionSlotTest, ARefusalOfTheCurrentGenerationRefreshesOnceForAllConnections) {
  DownloadActionSlot slot("LFS object o", std::nullopt, batch_.AsRefresh(), 4, seconds(30), clock_);
  ASSERT_OK_AND_ASSIGN(auto a, slot.Current());
  ASSERT_OK_AND_ASSIGN(auto b, slot.Current());  // a second connection, same generation
  ASSERT_OK_AND_ASSIGN(auto fresh, slot.Current(a.generation, PermissionDenied("HTTP 403")));
  EXPECT_EQ(fresh.action.href, "https://cdn/href-2");
  // The other connection's refusal of the old generation is already answered.
  ASSERT_OK_AND_ASSIGN(auto same, slot.Current(b.generation, PermissionDenied("HTTP 403")));
  EXPECT_EQ(same.generation, fresh.generation);
  EXPECT_EQ(batch_.calls, 2);
}

TEST_F(DownloadActionSlotTest, RefusalsAreBoundedAndTheErrorSticks) {
  DownloadActionSlot slot("LFS object o", std::nullopt, batch_.AsRefresh(), 2, seconds(30), clock_);
  ASSERT_OK_AND_ASSIGN(auto use, slot.Current());
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(use, slot.Current(use.generation, PermissionDenied("HTTP 403: expired")));
  }
  Result<DownloadActionSlot::Use> refused =
      slot.Current(use.generation, PermissionDenied("HTTP 403: expired"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("LFS object o"));
  EXPECT_THAT(refused.status().message(), HasSubstr("HTTP 403: expired"));
  EXPECT_THAT(refused.status().message(), HasSubstr("after 2 fresh download actions"));
  EXPECT_EQ(slot.Current().status().code(), StatusCode::kPermissionDenied);  // sticky
  EXPECT_EQ(batch_.calls, 3);
}

TEST_F(DownloadActionSlotTest, AFailedRefreshIsTheObjectsError) {
  batch_.error = NotFound("upstream has no LFS object o");
  DownloadActionSlot slot("LFS object o", std::nullopt, batch_.AsRefresh(), 4, seconds(30), clock_);
  EXPECT_EQ(slot.Current().status().code(), StatusCode::kNotFound);
  batch_.error.reset();
  EXPECT_EQ(slot.Current().status().code(), StatusCode::kNotFound);  // not asked again
  EXPECT_EQ(batch_.calls, 1);
}

TEST_F(DownloadActionSlotTest, AnAlreadyExpiredFreshActionIsTriedAsItIs) {
  batch_.lifetime = seconds(0);
  DownloadActionSlot slot("LFS object o", std::nullopt, batch_.AsRefresh(), 4, seconds(30), clock_);
  ASSERT_OK_AND_ASSIGN(auto use, slot.Current());
  ASSERT_OK_AND_ASSIGN(auto again, slot.Current());  // no loop of refreshes
  EXPECT_EQ(again.generation, use.generation);
  EXPECT_EQ(batch_.calls, 1);
}

}  // namespace
}  // namespace mirrord
