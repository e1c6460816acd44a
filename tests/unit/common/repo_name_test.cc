#include "common/repo_name.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(RepoNameTest, AcceptsOrdinaryNamesAndStripsGitSuffix) {
  EXPECT_EQ(*ValidateRepoName("THUDM/GLM-4-Vision"), "THUDM/GLM-4-Vision");
  EXPECT_EQ(*ValidateRepoName("THUDM/GLM-4-Vision.git"), "THUDM/GLM-4-Vision");
  EXPECT_EQ(*ValidateRepoName("hf/THUDM/chatglm3-6b"), "hf/THUDM/chatglm3-6b");
  EXPECT_EQ(*ValidateRepoName("a_b.c/d-e"), "a_b.c/d-e");
  EXPECT_EQ(*ValidateRepoName("single"), "single");
  // Only a reserved FIRST segment is mirrord's own.
  EXPECT_EQ(*ValidateRepoName("org/datasets"), "org/datasets");
  EXPECT_EQ(*ValidateRepoName("datasets-mirror/x"), "datasets-mirror/x");
}

TEST(RepoNameTest, RefusesDangerousNames) {
  for (const char* bad :
       {"", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", "a/b\x01", "a/b c", "a\\b",
        "a/.hidden", "a/-x", "a/b.lock", "api/x", "healthz", "metrics", "webhooks/github",
        "readyz", "datasets/org/data", "datasets", "a:b", "a/b?c", "a/b%2e", "a/b.git.git", "a.git/b"}) {
    auto r = ValidateRepoName(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(ValidateRepoName(std::string(101, 'a')).ok());
  EXPECT_TRUE(ValidateRepoName(std::string(100, 'a')).ok());
  EXPECT_FALSE(ValidateRepoName("a/b/c/d/e/f/g/h/i").ok());
  std::string with_nul("a/b\0c", 5);
  EXPECT_FALSE(ValidateRepoName(with_nul).ok());
}

TEST(RepoNameTest, ErrorEscapesControlCharacters) {
  auto r = ValidateRepoName("a/\x1b[31mred");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\x1b'), std::string::npos);
  EXPECT_NE(r.status().message().find("\\x1b"), std::string::npos);
}

}  // namespace
}  // namespace mirrord
