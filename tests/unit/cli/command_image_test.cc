// What `mirrorctl image export` and `mirrorctl backup` decide before and while talking to
// mirrord: the NAME:TAG argument and the progress line.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/commands.h"

namespace mirrord {
namespace {

TEST(ImageRefArgTest, SplitsAtTheLastColon) {
  Result<ImageRefArg> r = ParseImageRefArg("lab/glm-4:main");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "lab/glm-4");
  EXPECT_EQ(r->tag, "main");
  Result<ImageRefArg> commit = ParseImageRefArg("m:0123456789abcdef0123456789abcdef01234567");
  ASSERT_TRUE(commit.ok());
  EXPECT_EQ(commit->tag, "0123456789abcdef0123456789abcdef01234567");
}

TEST(ImageRefArgTest, RefusesWhatNamesNoImage) {
  for (const char* bad : {"lab/glm-4", "lab/glm-4:", ":main", "Lab/Upper:main", "a:b:c",
                          "lab/glm:ma/in", "../x:main"}) {
    EXPECT_EQ(ParseImageRefArg(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(BackupProgressTest, ShowsPhaseMirrorsAndBytes) {
  boost::json::object line{{"phase", "mirrors"}, {"repos_done", 3},  {"repos_total", 10},
                           {"files", 1200},      {"bytes", 3 << 20}, {"linked", 1200}};
  EXPECT_EQ(FormatBackupProgress(line), "[mirrors] 3/10 mirrors  1200 files  3.0 MiB");
  EXPECT_EQ(FormatBackupProgress(boost::json::object{{"phase", "catalog"}}), "[catalog]");
}

}  // namespace
}  // namespace mirrord
