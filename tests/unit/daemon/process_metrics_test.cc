// ProcessMetrics: /proc/<pid>/stat parsing (a command name with spaces and parentheses) and
// a live sample of this test process.
#include "daemon/process_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace mirrord::test {
namespace {

TEST(ParseProcStat, CountsFieldsFromTheLastParenthesis) {
  // pid (comm) state ppid ... utime=14 stime=15 ... num_threads=20 ... starttime=22 vsize=23
  // rss=24 (man 5 proc).
  const std::string stat =
      "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 "
      "1000 123456789 300 18446744073709551615\n";
  ProcessSample s;
  ParseProcStat(stat, /*ticks_per_second=*/100, /*page_size=*/4096, /*boot_time=*/1'000'000, &s);
  ASSERT_TRUE(s.cpu_seconds && s.threads && s.start_time_seconds && s.virtual_bytes &&
              s.resident_bytes);
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 3.0);
  EXPECT_DOUBLE_EQ(*s.threads, 7);
  EXPECT_DOUBLE_EQ(*s.start_time_seconds, 1'000'010);
  EXPECT_DOUBLE_EQ(*s.virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 300.0 * 4096);
}

TEST(ParseProcStat, LeavesUnreadableFieldsUnset) {
  ProcessSample s;
  ParseProcStat("garbage without a parenthesis", 100, 4096, 1, &s);
  EXPECT_FALSE(s.cpu_seconds || s.threads || s.resident_bytes);
  ParseProcStat("1 (x) S 1 2", 100, 4096, 1, &s);
  EXPECT_FALSE(s.cpu_seconds || s.threads || s.resident_bytes);
}

TEST(ReadProcessSample, DescribesThisProcess) {
  ProcessSample s = ReadProcessSample();
  ASSERT_TRUE(s.threads && s.open_fds && s.max_fds && s.resident_bytes && s.start_time_seconds);
  EXPECT_GE(*s.threads, 1);
  EXPECT_GE(*s.open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(*s.max_fds, *s.open_fds);
  EXPECT_GT(*s.resident_bytes, 0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 24 * 3600);  // started by this test run

  ProcessMetrics metrics;
  std::vector<std::string> names;
  for (const auto& family : metrics.Collect()) names.push_back(family.name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"process_cpu_seconds_total", "process_open_fds",
                                              "process_resident_memory_bytes",
                                              "process_start_time_seconds", "process_threads"}));
}

}  // namespace
}  // namespace mirrord::test
