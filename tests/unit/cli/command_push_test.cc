// `mirrorctl push`: NAME:TAG parsing, its human output (progress and result), the JSON of a
// push run the admin API sends and mirrorctl reads back, and the usage errors it answers
// before asking mirrord anything.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;

PushRunView Pushed() {
  PushRunView v;
  v.run_id = 9;
  v.image = "lab/glm";
  v.digest = "sha256:" + std::string(64, 'a');
  v.model_digest = "sha256:" + std::string(64, 'b');
  v.registry = "lab";
  v.repository = "models/lab/glm";
  v.tags = {"main", "latest"};
  v.model_tags = {"main-model"};
  v.repo = "THUDM/GLM-4";
  v.trigger = "manual";
  v.state = "succeeded";
  v.blobs_uploaded = 2;
  v.blobs_mounted = 1;
  v.blobs_skipped = 4;
  v.uploads_resumed = 1;
  v.bytes_sent = 3ull << 30;
  v.duration_ms = 42000;
  return v;
}

TEST(PushCommandTest, SplitsNameAndTagAtTheLastColon) {
  std::string name, tag;
  ASSERT_TRUE(SplitImageTag("lab/glm:main", &name, &tag));
  EXPECT_EQ(name, "lab/glm");
  EXPECT_EQ(tag, "main");
  ASSERT_TRUE(SplitImageTag("a:b-model", &name, &tag));
  EXPECT_EQ(tag, "b-model");
  for (std::string_view bad : {"lab/glm", "lab/glm:", ":main", "Lab:main", "a:b/c", "a:.x"}) {
    EXPECT_FALSE(SplitImageTag(bad, &name, &tag)) << bad;
  }
}

TEST(PushCommandTest, ProgressShowsBlobsBytesAndTheBlobBeingSent) {
  PushRunView v;
  v.state = "running";
  v.blobs_total = 5;
  v.blobs_done = 2;
  v.bytes_total = 4ull << 30;
  v.bytes_sent = 1ull << 30;
  v.blob = "sha256:" + std::string(64, 'c');
  EXPECT_EQ(FormatPushProgress(v), "[running] 2/5 blobs  1.0 GiB of 4.0 GiB  sha256:cccccccccccc");
  v.blobs_total = v.bytes_total = 0;
  v.blob.clear();
  EXPECT_EQ(FormatPushProgress(v), "[running]");
}

TEST(PushCommandTest, ResultNamesEveryDestinationTagWithItsDigest) {
  PushRunView v = Pushed();
  const std::string out = FormatPushResult(v);
  EXPECT_THAT(out, HasSubstr("lab/glm: pushed to lab/models/lab/glm (2 uploaded, 1 mounted, 4 "
                             "already there; 3.0 GiB sent, 1 resumed in 42 s)\n"));
  EXPECT_THAT(out, HasSubstr("lab/models/lab/glm:main  " + v.digest + "\n"));
  EXPECT_THAT(out, HasSubstr("lab/models/lab/glm:latest  " + v.digest + "\n"));
  EXPECT_THAT(out, HasSubstr("lab/models/lab/glm:main-model  " + v.model_digest + "\n"));
  v.tags.clear();
  v.model_tags.clear();
  EXPECT_THAT(FormatPushResult(v), HasSubstr("lab/models/lab/glm@" + v.digest + "\n"));
}

TEST(PushRunJsonTest, RoundTripsEveryField) {
  PushRunView v = Pushed();
  v.state = "failed";
  v.error = "blob sha256:dd: registry answered 503";
  v.failure = RunFailure{FailurePhase::kPush, "Unavailable", true, 30};
  v.attempt = 2;
  v.bytes_total = 10;
  v.blobs_total = 3;
  v.blobs_done = 1;
  v.blob = "sha256:dd";
  v.queued_at = 1;
  v.started_at = 2;
  v.finished_at = 3;
  boost::json::value jv = boost::json::value_from(v);
  ASSERT_TRUE(jv.as_object().contains("model_tags"));
  EXPECT_EQ(jv.at("failure").at("phase").as_string(), "push");
  Result<PushRunView> back = PushRunViewFromJson(jv);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(boost::json::serialize(boost::json::value_from(*back)), boost::json::serialize(jv));
}

TEST(PushCommandTest, AMalformedImageIsAUsageErrorBeforeAnyRequest) {
  // No server listens at this address: a request would be an unreachable error (exit 3).
  ApiClient client("http://127.0.0.1:9", "token", "test");
  std::ostringstream out, err;
  CommandIo io{out, err};
  PushArgs args;
  args.image = "lab/glm";
  args.registry = "lab";
  EXPECT_EQ(RunPushCommand(client, args, io), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("NAME:TAG"));
  EXPECT_EQ(out.str(), "");
  args.image = "lab/glm:main";
  args.registry = "";
  EXPECT_EQ(RunPushCommand(client, args, io), kExitUsage);
  args.registry = "lab";
  EXPECT_EQ(RunPushCommand(client, args, io), kExitUnreachable);
}

}  // namespace
}  // namespace mirrord

namespace mirrord {
namespace {

TEST(FormatQueueTest, PushJobsShowTheirImageAndRegistry) {
  QueueView q;
  QueueJobView push;
  push.run_id = 3;
  push.kind = "push";
  push.repo = "THUDM/GLM-4";
  push.build = "lab/glm@sha256:aa";
  push.ref = "lab";
  push.trigger = "webhook";
  push.state = "queued";
  push.host = "registry.lab:5000";
  q.jobs = {push};
  const std::string out = FormatQueue(q, 1000);
  EXPECT_THAT(out, ::testing::ContainsRegex("#3 +push +lab/glm@sha256:aa -> lab"));
}

}  // namespace
}  // namespace mirrord
