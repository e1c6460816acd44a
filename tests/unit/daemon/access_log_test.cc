#include "daemon/access_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

HttpAccessRecord Record(std::string_view path, std::string_view user_agent = "git/2.39.2") {
  HttpAccessRecord r;
  r.method = "GET";
  r.path = path;
  r.status = 200;
  r.bytes = 1234;
  r.duration = std::chrono::microseconds(12345);
  // 2026-12-06T07:58:01.123Z
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796543881123));
  r.client = "10.0.0.7";
  r.user_agent = user_agent;
  r.token_name = "ci";
  r.repo = "org/model";
  return r;
}

json::object Parse(const std::string& line) {
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  return json::parse(line).as_object();
}

TEST(AccessLogLineTest, EveryFieldAsDocumented) {
  json::object o = Parse(FormatAccessLogLine(Record("/org/model.git/info/refs")));
  EXPECT_EQ(o.at("time").as_string(), "2026-12-06T07:58:01.123Z");
  EXPECT_EQ(o.at("client").as_string(), "10.0.0.7");
  EXPECT_EQ(o.at("token").as_string(), "ci");
  EXPECT_EQ(o.at("method").as_string(), "GET");
  EXPECT_EQ(o.at("path").as_string(), "/org/model.git/info/refs");
  EXPECT_EQ(o.at("repo").as_string(), "org/model");
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_EQ(o.at("bytes").as_int64(), 1234);
  EXPECT_DOUBLE_EQ(o.at("duration_ms").to_number<double>(), 12.345);
  EXPECT_EQ(o.at("user_agent").as_string(), "git/2.39.2");
}

TEST(AccessLogLineTest, NeverAQueryString) {
  json::object o = Parse(FormatAccessLogLine(Record("/healthz?token=secret")));
  EXPECT_EQ(o.at("path").as_string(), "/healthz");
}

TEST(AccessLogLineTest, HostileUserAgentIsEscapedAndBounded) {
  const std::string evil = "a\"},{\"status\":999}\n\r\\\x01\x7f\xff" + std::string(5000, 'x');
  const std::string line = FormatAccessLogLine(Record("/p\n\"", evil));
  json::object o = Parse(line);
  EXPECT_EQ(o.at("status").as_int64(), 200);
  const std::string ua(o.at("user_agent").as_string());
  EXPECT_EQ(ua.rfind("a\"},{\"status\":999}\n\r\\\x01\x7f", 0), 0u);
  EXPECT_LE(ua.size(), kMaxLoggedUserAgent + 8);  // \xff decodes to 2 UTF-8 bytes
  EXPECT_EQ(o.at("path").as_string(), "/p\n\"");
}

TEST(AccessLogTest, WritesLinesAndReopensAfterRename) {
  ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("access-log-"));
  const std::filesystem::path file = dir.path() / "access.log";
  Result<std::unique_ptr<AccessLog>> log = AccessLog::Open(file);
  ASSERT_TRUE(log.ok()) << log.error().message();
  (*log)->Append(Record("/first"));
  ASSERT_TRUE(test::PollUntil([&] { return (*log)->written() == 1; }, std::chrono::seconds(30)));
  std::filesystem::rename(file, dir.path() / "access.log.1");
  (*log)->Reopen();
  (*log)->Append(Record("/second"));
  ASSERT_TRUE(test::PollUntil([&] { return (*log)->written() == 2; }, std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(std::string old_text, ReadFileToString(dir.path() / "access.log.1"));
  ASSERT_OK_AND_ASSIGN(std::string new_text, ReadFileToString(file));
  EXPECT_THAT(old_text, HasSubstr("/first"));
  EXPECT_THAT(old_text, Not(HasSubstr("/second")));
  EXPECT_THAT(new_text, HasSubstr("/second"));
  EXPECT_EQ((*log)->dropped(), 0u);
}

TEST(AccessLogTest, FullQueueDropsAndCounts) {
  ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("access-log-"));
  const std::filesystem::path file = dir.path() / "access.log";
  // A queue of one line: of many appended at once, some must be dropped, and every line is
  // either written or counted as dropped.
  Result<std::unique_ptr<AccessLog>> log = AccessLog::Open(file, 1);
  ASSERT_TRUE(log.ok());
  std::atomic<uint64_t> counted{0};
  (*log)->set_on_drop([&counted] { ++counted; });
  constexpr int kLines = 5000;
  for (int i = 0; i < kLines; ++i) (*log)->Append(Record("/x"));
  ASSERT_TRUE(test::PollUntil([&] { return (*log)->written() + (*log)->dropped() == kLines; },
                              std::chrono::seconds(30)));
  EXPECT_GT((*log)->dropped(), 0u);
  EXPECT_EQ(counted.load(), (*log)->dropped());
}

TEST(AccessLogTest, UnopenableFileFailsAtOnce) {
  Result<std::unique_ptr<AccessLog>> log = AccessLog::Open("/nonexistent-dir/access.log");
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error().message(), HasSubstr("/nonexistent-dir/access.log"));
}

}  // namespace
}  // namespace mirrord
