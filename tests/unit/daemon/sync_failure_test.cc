// Retry decisions and metric labels come from typed facts only.
#include "daemon/sync_failure.h"

#include <gtest/gtest.h>

#include "common/rate_limit.h"

namespace mirrord {
namespace {

TEST(SyncFailureTest, BusyElsewhereIsRetryableNotAConfigurationError) {
  // A download of the same object running elsewhere used to fail the sync for good.
  RunFailure f = ClassifyFailure(FailurePhase::kLfs,
                                 FailedPrecondition("object abc is being downloaded elsewhere"));
  EXPECT_TRUE(f.retryable);
  EXPECT_EQ(f.phase, FailurePhase::kLfs);
  EXPECT_EQ(f.code, "FailedPrecondition");
  EXPECT_FALSE(f.retry_after_seconds);
}

TEST(SyncFailureTest, OnlyInvalidArgumentIsFinal) {
  for (StatusCode code : {StatusCode::kNotFound, StatusCode::kAlreadyExists,
                          StatusCode::kPermissionDenied, StatusCode::kUnavailable,
                          StatusCode::kDeadlineExceeded, StatusCode::kDataLoss,
                          StatusCode::kResourceExhausted, StatusCode::kFailedPrecondition,
                          StatusCode::kInternal}) {
    EXPECT_TRUE(ClassifyFailure(FailurePhase::kFetch, Status(code, "x")).retryable)
        << StatusCodeName(code);
  }
  EXPECT_FALSE(ClassifyFailure(FailurePhase::kConnect, InvalidArgument("bad url")).retryable);
}

TEST(SyncFailureTest, RetryAfterComesFromTheStatusNotItsText) {
  RunFailure limited = ClassifyFailure(
      FailurePhase::kConnect, RateLimited("upstream is rate limiting", std::chrono::seconds(90))
                                  .WithContext("fetch o/r"));
  EXPECT_EQ(limited.retry_after_seconds, 90);
  EXPECT_EQ(FailureMetricLabel(limited), "rate_limited");
  RunFailure text_only =
      ClassifyFailure(FailurePhase::kConnect, ResourceExhausted("x (retry after 90 s)"));
  EXPECT_FALSE(text_only.retry_after_seconds);
  EXPECT_EQ(FailureMetricLabel(text_only), "disk");
}

TEST(SyncFailureTest, LabelsByPhaseThenCode) {
  // The message mentioning LFS means nothing; the phase does.
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kFetch, Unavailable("LFS down"))),
            "unavailable");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kLfs, Unavailable("down"))), "lfs");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kFetch, NotFound("x"))), "not_found");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kFetch, PermissionDenied("x"))),
            "permission_denied");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kFetch, DeadlineExceeded("x"))),
            "timeout");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kVerify, DataLoss("x"))),
            "data_loss");
  EXPECT_EQ(FailureMetricLabel(ClassifyFailure(FailurePhase::kPublish, Internal("x"))), "other");
}

}  // namespace
}  // namespace mirrord
