#include "storage/queue_depth.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

constexpr int64_t kNow = 1'000'000;

QueuedJob Job(std::string repo, std::string host, bool running = false) {
  QueuedJob j;
  j.repo = std::move(repo);
  j.host = std::move(host);
  j.running = running;
  return j;
}

TEST(QueueDepthTest, EmptyQueue) {
  QueueDepth d = CountQueueDepth({}, {}, kNow, 4);
  EXPECT_EQ(d.ready, 0);
  EXPECT_EQ(d.delayed, 0);
  EXPECT_EQ(d.running, 0);
}

TEST(QueueDepthTest, QueuedJobsAreReadyUnlessHeldBack) {
  std::vector<QueuedJob> jobs;
  jobs.push_back(Job("a", "github.com"));
  QueuedJob retry = Job("b", "github.com");
  retry.not_before_ms = kNow + 1;
  jobs.push_back(retry);
  QueuedJob due = Job("c", "github.com");
  due.not_before_ms = kNow;
  jobs.push_back(due);
  QueueDepth d = CountQueueDepth(jobs, {}, kNow, 4);
  EXPECT_EQ(d.ready, 2);
  EXPECT_EQ(d.delayed, 1);
  EXPECT_EQ(d.running, 0);
}

TEST(QueueDepthTest, APausedHostDelaysAllButManualJobs) {
  std::vector<QueuedJob> jobs{Job("a", "github.com"), Job("b", "huggingface.co")};
  QueuedJob manual = Job("c", "github.com");
  manual.priority = static_cast<int>(JobPriority::kManual);
  jobs.push_back(manual);
  std::vector<PausedHost> paused{{"github.com", kNow + 60'000, "HTTP 429"},
                                 {"huggingface.co", kNow - 1, "expired"}};
  QueueDepth d = CountQueueDepth(jobs, paused, kNow, 4);
  EXPECT_EQ(d.ready, 2);  // b (its pause is over) and the manual c
  EXPECT_EQ(d.delayed, 1);
}

TEST(QueueDepthTest, ThePerHostLimitAndARunningSyncOfTheSameRepoDelay) {
  std::vector<QueuedJob> jobs{Job("a", "github.com", true),     Job("b", "github.com", true),
                              Job("c", "github.com"),           Job("d", "huggingface.co"),
                              Job("e", "huggingface.co", true), Job("e", "huggingface.co")};
  QueueDepth d = CountQueueDepth(jobs, {}, kNow, 2);
  EXPECT_EQ(d.running, 3);
  EXPECT_EQ(d.ready, 1);    // d
  EXPECT_EQ(d.delayed, 2);  // c: github.com is at its limit; e: e is running
  QueueDepth unlimited = CountQueueDepth(jobs, {}, kNow, 0);
  EXPECT_EQ(unlimited.ready, 2);
  EXPECT_EQ(unlimited.delayed, 1);
}

}  // namespace
}  // namespace mirrord
