// Repository globs of read tokens: '*' stays within a segment, '**' spans segments, and
// matching is exact otherwise.
#include "common/repo_glob.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

TEST(RepoGlob, StarStaysWithinOneSegment) {
  EXPECT_TRUE(RepoGlobMatches("org/*", "org/a"));
  EXPECT_FALSE(RepoGlobMatches("org/*", "org/a/b"));
  EXPECT_FALSE(RepoGlobMatches("org/*", "org"));
  EXPECT_FALSE(RepoGlobMatches("org/*", "other/a"));
  EXPECT_TRUE(RepoGlobMatches("org/glm-*", "org/glm-4"));
  EXPECT_FALSE(RepoGlobMatches("org/glm-*", "org/llama"));
  EXPECT_TRUE(RepoGlobMatches("hf/*/chat*6b", "hf/THUDM/chatglm3-6b"));
  EXPECT_TRUE(RepoGlobMatches("*", "solo"));
  EXPECT_FALSE(RepoGlobMatches("*", "a/b"));
}

TEST(RepoGlob, DoubleStarSpansSegments) {
  EXPECT_TRUE(RepoGlobMatches("org/**", "org/a"));
  EXPECT_TRUE(RepoGlobMatches("org/**", "org/a/b/c"));
  EXPECT_TRUE(RepoGlobMatches("org/**", "org"));
  EXPECT_FALSE(RepoGlobMatches("org/**", "organisation/a"));
  EXPECT_TRUE(RepoGlobMatches("**", "any/thing/at/all"));
  EXPECT_TRUE(RepoGlobMatches("a/**/b", "a/b"));
  EXPECT_TRUE(RepoGlobMatches("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(RepoGlobMatches("a/**/b", "a/x/y/c"));
}

TEST(RepoGlob, ExactAndCaseSensitive) {
  EXPECT_TRUE(RepoGlobMatches("THUDM/GLM-4", "THUDM/GLM-4"));
  EXPECT_FALSE(RepoGlobMatches("THUDM/GLM-4", "thudm/glm-4"));
  EXPECT_FALSE(RepoGlobMatches("THUDM/GLM-4", "THUDM/GLM-4x"));
  EXPECT_FALSE(RepoGlobMatches("THUDM/GLM-4", ""));
}

TEST(RepoGlob, InvalidGlobsAreRefusedAndMatchNothing) {
  for (std::string bad : {std::string(), std::string("/org"), std::string("org/"),
                          std::string("a//b"), std::string("org/a**"), std::string("org/?"),
                          std::string("org name"), std::string(300, 'a')}) {
    EXPECT_FALSE(ValidateRepoGlob(bad).ok()) << bad;
    EXPECT_FALSE(RepoGlobMatches(bad, "org/a")) << bad;
  }
  EXPECT_TRUE(ValidateRepoGlob("hf/org/*").ok());
  EXPECT_TRUE(ValidateRepoGlob("**").ok());
}

TEST(RepoGlob, ManyStarsStayCheap) {
  // A pathological glob against a long name: the two-pointer match needs no backtracking
  // explosion (this would not finish with naive recursion).
  std::string glob;
  for (int i = 0; i < 40; ++i) glob += "a*";
  glob += "b";
  std::string name(100, 'a');
  EXPECT_FALSE(RepoGlobMatches(glob, name));
  EXPECT_TRUE(RepoGlobMatches(glob, name + "b"));
}

}  // namespace
}  // namespace mirrord
