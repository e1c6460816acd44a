// The libgit2 error translator.
#include "git/libgit2_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mirrord {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Libgit2StatusTest, OkForNonNegativeCodes) {
  EXPECT_TRUE(Libgit2Status(0, "x").ok());
  EXPECT_TRUE(Libgit2Status(1, "x").ok());
}

TEST(Libgit2StatusTest, MapsCodesAndClassesWithContext) {
  ASSERT_TRUE(EnsureLibgit2Initialized().ok());
  auto status_for = [](int code, int klass, const char* message) {
    git_error_set_str(klass, message);
    return Libgit2Status(code, "fetch from upstream");
  };
  Status s = status_for(GIT_ENOTFOUND, GIT_ERROR_REFERENCE, "reference 'x' not found");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "fetch from upstream: reference 'x' not found");
  EXPECT_EQ(status_for(GIT_EAUTH, GIT_ERROR_HTTP, "auth").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(status_for(GIT_ERROR, GIT_ERROR_NET, "early EOF").code(), StatusCode::kUnavailable);
  EXPECT_EQ(status_for(GIT_EUSER, GIT_ERROR_CALLBACK, "stop").code(), StatusCode::kCancelled);
  EXPECT_EQ(status_for(GIT_ERROR, GIT_ERROR_INDEXER, "bad pack").code(), StatusCode::kDataLoss);
  EXPECT_EQ(status_for(GIT_EINVALIDSPEC, GIT_ERROR_INVALID, "bad").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(status_for(GIT_ELOCKED, GIT_ERROR_OS, "locked").code(), StatusCode::kUnavailable);
  EXPECT_EQ(status_for(GIT_ERROR, GIT_ERROR_OS, "failed to write: No space left on device").code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(status_for(GIT_ERROR, GIT_ERROR_ODB, "odd").code(), StatusCode::kInternal);
}

TEST(Libgit2StatusTest, RedactsUrlCredentials) {
  ASSERT_TRUE(EnsureLibgit2Initialized().ok());
  git_error_set_str(GIT_ERROR_NET, "cannot reach https://user:s3cret@example.com/r.git");
  Status s = Libgit2Status(GIT_ERROR, "connect");
  EXPECT_THAT(s.message(), Not(HasSubstr("s3cret")));
  EXPECT_THAT(s.message(), HasSubstr("example.com"));
}

TEST(Libgit2StatusTest, OpenBareRepositoryOfAMissingDirectoryIsNotFound) {
  auto repo = OpenBareRepository("/nonexistent/mirrord/repo.git");
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(repo.status().message(), HasSubstr("/nonexistent/mirrord/repo.git"));
}

}  // namespace
}  // namespace mirrord
