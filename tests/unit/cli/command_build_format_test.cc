// The human output of `mirrorctl build` and the build rows of `mirrorctl queue`, and the
// JSON of a build run the admin API sends and mirrorctl reads back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;

BuildRunView Built() {
  BuildRunView v;
  v.run_id = 7;
  v.build = "lab/glm";
  v.repo = "THUDM/GLM-4";
  v.ref = "refs/heads/main";
  v.commit = "0123456789abcdef0123456789abcdef01234567";
  v.state = "succeeded";
  v.phase = "done";
  v.image_digest = "sha256:" + std::string(64, 'a');
  v.model_digest = "sha256:" + std::string(64, 'b');
  v.image_size = 3 << 20;
  v.tags = {"main", v.commit};
  v.layers = 6;
  v.hashed_layers = 1;
  v.started_at = 100;
  v.finished_at = 112;
  return v;
}

TEST(FormatBuildTest, ProgressShowsTheLayerAndByteCounts) {
  BuildRunView v;
  v.state = "running";
  v.phase = "layers";
  v.layers_total = 4;
  v.layers_done = 1;
  v.bytes_total = 4ull << 30;
  v.bytes_done = 1ull << 30;
  v.hashed_layers = 1;
  EXPECT_EQ(FormatBuildProgress(v), "[layers] 1/4 weight layers  1.0 GiB of 4.0 GiB  1 hashed");
  v.phase = "base";
  v.layers_total = v.bytes_total = v.hashed_layers = 0;
  EXPECT_EQ(FormatBuildProgress(v), "[base]");
}

TEST(FormatBuildTest, ResultNamesEveryServedTagWithItsDigest) {
  BuildRunView v = Built();
  std::string out = FormatBuildResult(v);
  EXPECT_THAT(out, HasSubstr("lab/glm: built refs/heads/main at " + v.commit + " in 12 s"));
  EXPECT_THAT(out, HasSubstr("lab/glm:main  " + v.image_digest + "\n"));
  EXPECT_THAT(out, HasSubstr("lab/glm:" + v.commit + "  " + v.image_digest + "\n"));
  EXPECT_THAT(out, HasSubstr("lab/glm:main-model  " + v.model_digest + "\n"));
}

TEST(BuildRunJsonTest, RoundTripsEveryField) {
  BuildRunView v = Built();
  v.state = "failed";
  v.error = "base registry unreachable";
  v.failure = RunFailure{FailurePhase::kBuild, "Unavailable", true, 30};
  v.attempt = 2;
  v.layers_total = 3;
  v.layers_done = 2;
  v.bytes_total = 99;
  v.bytes_done = 42;
  v.queued_at = 90;
  Result<BuildRunView> back = BuildRunViewFromJson(boost::json::value_from(v));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(boost::json::serialize(boost::json::value_from(*back)),
            boost::json::serialize(boost::json::value_from(v)));
  EXPECT_EQ(back->failure, v.failure);
  EXPECT_EQ(back->tags, v.tags);
  // A wrongly typed field is refused with its name.
  boost::json::object bad = boost::json::value_from(v).as_object();
  bad["layers_done"] = "two";
  Result<BuildRunView> refused = BuildRunViewFromJson(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("layers_done"));
}

TEST(FormatQueueTest, BuildJobsShowTheirRecipeAndRef) {
  QueueView q;
  QueueJobView sync;
  sync.run_id = 1;
  sync.repo = "THUDM/GLM-4";
  sync.trigger = "webhook";
  sync.state = "running";
  sync.node = "node-a";
  sync.host = "github.com";
  QueueJobView build;
  build.run_id = 2;
  build.kind = "build";
  build.repo = "THUDM/GLM-4";
  build.build = "lab/glm";
  build.ref = "refs/heads/main";
  build.trigger = "webhook";
  build.state = "queued";
  q.jobs = {sync, build};
  std::string out = FormatQueue(q, 1000);
  EXPECT_THAT(out, HasSubstr("KIND"));
  EXPECT_THAT(out, HasSubstr("#1   sync   THUDM/GLM-4"));
  EXPECT_THAT(out, HasSubstr("#2   build  lab/glm refs/heads/main"));
}

}  // namespace
}  // namespace mirrord
