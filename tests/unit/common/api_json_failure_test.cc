// The typed failure of a run in the admin API's JSON: written and read back field by field,
// and refused when malformed.
#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "common/api_json.h"

namespace mirrord {
namespace {

namespace json = boost::json;

TEST(ApiJsonFailureTest, RoundTripsEveryPhase) {
  for (FailurePhase phase : {FailurePhase::kConnect, FailurePhase::kFetch, FailurePhase::kVerify,
                             FailurePhase::kLfs, FailurePhase::kPublish, FailurePhase::kBuild}) {
    SyncRunView v;
    v.run_id = 7;
    v.state = "failed";
    v.failure = RunFailure{phase, "ResourceExhausted", true, 120};
    Result<SyncRunView> back = SyncRunViewFromJson(json::value_from(v));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_TRUE(back->failure.has_value());
    EXPECT_EQ(*back->failure, *v.failure) << FailurePhaseName(phase);
  }
}

TEST(ApiJsonFailureTest, AbsentWaitAndAbsentFailure) {
  SyncRunView v;
  v.failure = RunFailure{FailurePhase::kVerify, "DataLoss", false, std::nullopt};
  json::value jv = json::value_from(v);
  EXPECT_TRUE(jv.at("failure").at("retry_after_seconds").is_null());
  Result<SyncRunView> back = SyncRunViewFromJson(jv);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->failure, *v.failure);

  SyncRunView ok;
  json::value okv = json::value_from(ok);
  EXPECT_TRUE(okv.at("failure").is_null());
  Result<SyncRunView> ok_back = SyncRunViewFromJson(okv);
  ASSERT_TRUE(ok_back.ok());
  EXPECT_FALSE(ok_back->failure.has_value());
}

TEST(ApiJsonFailureTest, RefusesUnknownPhaseAndWrongTypes) {
  auto decode = [](std::string_view text) { return SyncRunViewFromJson(*ParseJson(text)); };
  EXPECT_EQ(decode(R"({"failure": {"phase": "teleport", "code": "Internal"}})").status().code(),
            StatusCode::kInvalidArgument);
  Result<SyncRunView> bad_bool = decode(R"({"failure": {"phase": "lfs", "retryable": "yes"}})");
  ASSERT_FALSE(bad_bool.ok());
  EXPECT_NE(bad_bool.status().message().find("failure.retryable"), std::string::npos)
      << bad_bool.status().message();
  EXPECT_FALSE(decode(R"({"failure": {"phase": "lfs", "retry_after_seconds": "soon"}})").ok());
  EXPECT_FALSE(decode(R"({"failure": "fetch"})").ok());
}

}  // namespace
}  // namespace mirrord
