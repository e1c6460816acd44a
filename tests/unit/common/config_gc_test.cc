// The [gc] and [verify] sections of the config: defaults, durations that 0 turns off, and
// what is refused.
#include <gtest/gtest.h>

#include "common/config.h"
#include "tests/fixtures/status_matchers.h"

namespace mirrord {
namespace {

using std::chrono::seconds;

TEST(ConfigGc, Defaults) {
  ASSERT_OK_AND_ASSIGN(Config c, ParseConfig("", "t.toml"));
  EXPECT_EQ(c.gc.grace, seconds(7 * 86400));
  EXPECT_EQ(c.gc.interval, seconds(86400));
  EXPECT_EQ(c.verify.rate, 32u << 20);
  EXPECT_EQ(c.verify.interval, seconds(7 * 86400));
}

TEST(ConfigGc, ReadsEveryKey) {
  ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(R"(
[gc]
grace = "12h"
interval = "0"
[verify]
rate = 1048576
interval = 0
)",
                                             "t.toml"));
  EXPECT_EQ(c.gc.grace, seconds(12 * 3600));
  EXPECT_EQ(c.gc.interval, seconds(0));
  EXPECT_EQ(c.verify.rate, 1048576u);
  EXPECT_EQ(c.verify.interval, seconds(0));
}

TEST(ConfigGc, RefusesWhatItCannotUse) {
  for (const char* bad : {"[gc]\ngrace = \"soon\"\n", "[gc]\ngrace = 0\n", "[gc]\ngrac = \"1d\"\n",
                          "[verify]\nrate = -1\n", "[verify]\ninterval = \"-1d\"\n", "gc = 1\n"}) {
    Result<Config> c = ParseConfig(bad, "t.toml");
    EXPECT_FALSE(c.ok()) << bad;
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ConfigGc, DurationOrZero) {
  ASSERT_OK_AND_ASSIGN(seconds zero, ParseDurationOrZero("0s"));
  EXPECT_EQ(zero, seconds(0));
  ASSERT_OK_AND_ASSIGN(seconds week, ParseDurationOrZero("7d"));
  EXPECT_EQ(week, seconds(7 * 86400));
  EXPECT_FALSE(ParseDurationOrZero("-1").ok());
  EXPECT_FALSE(ParseDurationOrZero("").ok());
}

}  // namespace
}  // namespace mirrord
