#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/log.h"

namespace mirrord {
namespace {

using ::testing::MatchesRegex;

TEST(LogFormat, JournalLinesCarryTheSyslogPriorityAndNoTimestamp) {
  EXPECT_EQ(FormatLogRecord(LogFormat::kJournal, LogLevel::kError, "boom"), "<3>boom\n");
  EXPECT_EQ(FormatLogRecord(LogFormat::kJournal, LogLevel::kWarning, "w"), "<4>w\n");
  EXPECT_EQ(FormatLogRecord(LogFormat::kJournal, LogLevel::kInfo, "i"), "<6>i\n");
  EXPECT_EQ(FormatLogRecord(LogFormat::kJournal, LogLevel::kDebug, "d"), "<7>d\n");
}

TEST(LogFormat, TimestampedLinesForTerminalsAndFiles) {
  EXPECT_THAT(FormatLogRecord(LogFormat::kTimestamped, LogLevel::kWarning, "disk low"),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                           "WARN  disk low\n"));
}

TEST(LogFormat, ARecordIsOneLineWhateverTheInput) {
  // A client-supplied name with a newline must not forge a second (error) record.
  EXPECT_EQ(FormatLogRecord(LogFormat::kJournal, LogLevel::kInfo, "repo a\n<3>forged\r"),
            "<6>repo a <3>forged \n");
}

}  // namespace
}  // namespace mirrord
