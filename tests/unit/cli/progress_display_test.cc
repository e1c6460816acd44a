#include "cli/progress_display.h"

#include <gtest/gtest.h>

#include <sstream>

namespace mirrord {
namespace {

class FakeClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return wall; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return steady; }
  void Advance(std::chrono::milliseconds d) {
    steady += d;
    wall += d;
  }
  std::chrono::system_clock::time_point wall{std::chrono::seconds(1'700'000'000)};
  std::chrono::steady_clock::time_point steady{std::chrono::hours(1)};
};

SyncProgress Fetching(uint64_t received, uint64_t total, uint64_t bytes, double rate) {
  SyncProgress p;
  p.phase = "fetching";
  p.received_objects = received;
  p.total_objects = total;
  p.received_bytes = bytes;
  p.bytes_per_second = rate;
  return p;
}

constexpr uint64_t kMiB = 1024 * 1024;

TEST(FormatBytesTest, BinaryUnitsWithOneDecimal) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(static_cast<uint64_t>(45.6 * kMiB)), "45.6 MiB");
  EXPECT_EQ(FormatBytes(kMiB - 1), "1.0 MiB") << "never \"1024.0 KiB\"";
  EXPECT_EQ(FormatBytes(20 * 1024 * kMiB), "20.0 GiB");
  EXPECT_EQ(FormatBytes(3 * 1024 * 1024 * kMiB), "3.0 TiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16.0 EiB");
}

TEST(FormatRateTest, PerSecond) {
  EXPECT_EQ(FormatRate(12.3 * kMiB), "12.3 MiB/s");
  EXPECT_EQ(FormatRate(500), "500 B/s");
  EXPECT_EQ(FormatRate(0), "0 B/s");
  EXPECT_EQ(FormatRate(-5), "0 B/s");
  EXPECT_EQ(FormatRate(std::numeric_limits<double>::quiet_NaN()), "0 B/s");
  EXPECT_EQ(FormatRate(std::numeric_limits<double>::infinity()), "0 B/s");
}

TEST(FormatProgressTest, FullLine) {
  EXPECT_EQ(FormatProgress(Fetching(1234, 5678, static_cast<uint64_t>(45.6 * kMiB), 12.3 * kMiB)),
            "[fetching] 1234/5678 objects  45.6 MiB  12.3 MiB/s");
}

TEST(FormatProgressTest, LeavesOutWhatIsNotKnown) {
  SyncProgress queued;
  queued.phase = "queued";
  EXPECT_EQ(FormatProgress(queued), "[queued]");
  EXPECT_EQ(FormatProgress(Fetching(12, 0, 0, 0)), "[fetching] 12 objects");
  EXPECT_EQ(FormatProgress(Fetching(0, 100, 2048, 0)), "[fetching] 0/100 objects  2.0 KiB");
  EXPECT_EQ(FormatProgress(SyncProgress{}), "[waiting]");
}

TEST(FormatSyncSummaryTest, CountsSizeAndDuration) {
  SyncRunView run;
  run.repo = "THUDM/GLM-4";
  run.state = "succeeded";
  run.refs_added = 3;
  run.refs_updated = 1;
  run.refs_deleted = 2;
  run.progress.received_bytes = static_cast<uint64_t>(45.6 * kMiB);
  run.queued_at = 100;
  run.started_at = 110;
  run.finished_at = 152;
  EXPECT_EQ(FormatSyncSummary(run),
            "THUDM/GLM-4: 3 refs added, 1 updated, 2 deleted, 45.6 MiB in 42 s");
  run.started_at = 0;
  EXPECT_EQ(FormatSyncSummary(run),
            "THUDM/GLM-4: 3 refs added, 1 updated, 2 deleted, 45.6 MiB in 52 s");
}

TEST(ProgressDisplayTest, TtyRedrawsOneLine) {
  std::ostringstream out;
  FakeClock clock;
  ProgressDisplay d(out, /*tty=*/true, clock);
  d.Update(Fetching(1234, 5678, static_cast<uint64_t>(45.6 * kMiB), 12.3 * kMiB));
  EXPECT_EQ(out.str(), "\r[fetching] 1234/5678 objects  45.6 MiB  12.3 MiB/s");
  out.str("");
  SyncProgress publishing;
  publishing.phase = "publishing";
  d.Update(publishing);
  // The shorter line blanks out the rest of the longer one; no newline until Finish().
  std::string expected = "\r[publishing]";
  expected.append(std::string("[fetching] 1234/5678 objects  45.6 MiB  12.3 MiB/s").size() -
                      std::string("[publishing]").size(),
                  ' ');
  EXPECT_EQ(out.str(), expected);
  out.str("");
  d.Update(publishing);
  EXPECT_EQ(out.str(), "") << "an unchanged line is not redrawn";
  d.Finish();
  EXPECT_EQ(out.str(), "\n");
  d.Finish();
  EXPECT_EQ(out.str(), "\n") << "Finish() is idempotent";
}

TEST(ProgressDisplayTest, TtyFinishWithoutUpdatesPrintsNothing) {
  std::ostringstream out;
  ProgressDisplay d(out, /*tty=*/true);
  d.Finish();
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressDisplayTest, PlainPrintsOnPhaseChangeAndAtMostEveryTwoSeconds) {
  std::ostringstream out;
  FakeClock clock;
  ProgressDisplay d(out, /*tty=*/false, clock);
  SyncProgress connecting;
  connecting.phase = "connecting";
  d.Update(connecting);
  d.Update(Fetching(1, 100, 1024, 0));  // phase change: printed at once
  clock.Advance(std::chrono::milliseconds(500));
  d.Update(Fetching(10, 100, 10240, 0));  // too soon: skipped
  clock.Advance(std::chrono::milliseconds(1600));
  d.Update(Fetching(50, 100, 51200, 0));  // 2.1 s after the last line
  clock.Advance(std::chrono::seconds(3));
  d.Update(Fetching(50, 100, 51200, 0));  // due, but nothing new
  SyncProgress done;
  done.phase = "done";
  d.Update(done);
  d.Finish();
  EXPECT_EQ(out.str(),
            "[connecting]\n"
            "[fetching] 1/100 objects  1.0 KiB\n"
            "[fetching] 50/100 objects  50.0 KiB\n"
            "[done]\n");
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

}  // namespace
}  // namespace mirrord
