// GitHubWebhookHandler::Process (everything after the signature check) against a fake
// WebhookTarget.
#include "daemon/github_webhook_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <set>

namespace mirrord {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kJson = "application/json";

constexpr std::string_view kPush = R"json({
  "ref": "refs/heads/main",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "a10867b14bb761a232cd80139fbd4c0d33264240",
  "repository": {"id": 1, "name": "GLM-4", "full_name": "THUDM/GLM-4",
                 "html_url": "https://github.com/THUDM/GLM-4",
                 "clone_url": "https://github.com/THUDM/GLM-4.git", "pushed_at": 1718000123},
  "created": false, "deleted": false, "forced": false,
  "commits": [], "head_commit": null
})json";

constexpr std::string_view kArchived = R"json({
  "action": "archived",
  "repository": {"id": 1, "name": "GLM-4", "full_name": "THUDM/GLM-4",
                 "clone_url": "https://github.com/THUDM/GLM-4.git"}
})json";

class FakeWebhookTarget : public WebhookTarget {
 public:
  Result<bool> RecordDelivery(std::string_view id, int64_t, int64_t keep_ms) override {
    keep = keep_ms;
    if (!delivery_result.ok()) return delivery_result;
    return seen.insert(std::string(id)).second;
  }
  Result<std::vector<std::string>> FindReposOfUpstream(
      const std::vector<std::string>& urls) override {
    asked_urls = urls;
    return repos;
  }
  Status RecordUpstreamEvent(std::string_view name, std::string_view event) override {
    events.push_back(std::string(name) + ": " + std::string(event));
    return Status::Ok();
  }
  Result<int64_t> RequestSync(std::string_view name, const TriggerInfo& trigger) override {
    requested.emplace_back(name);
    pushed_at_ms.push_back(trigger.pushed_at_ms);
    EXPECT_EQ(trigger.trigger, SyncTrigger::kWebhook);
    return next_run++;
  }

  Result<bool> delivery_result = true;
  std::set<std::string> seen;
  int64_t keep = 0;
  std::vector<std::string> repos;
  std::vector<std::string> asked_urls;
  std::vector<std::string> events;
  std::vector<std::string> requested;
  std::vector<int64_t> pushed_at_ms;
  int64_t next_run = 10;
};

class GitHubWebhookHandlerTest : public ::testing::Test {
 protected:
  FakeWebhookTarget target_;
  Metrics metrics_;
  boost::asio::thread_pool pool_{1};
  GitHubWebhookHandler handler_{"secret", target_, metrics_, pool_};
};

TEST_F(GitHubWebhookHandlerTest, PushQueuesEveryMirrorOfThatUpstreamOnce) {
  target_.repos = {"THUDM/GLM-4", "mirror/glm"};
  auto out = handler_.Process("push", "d-1", kJson, std::string(kPush));
  EXPECT_EQ(out.status, http::status::accepted);
  EXPECT_THAT(out.body, HasSubstr(R"("status":"queued")"));
  EXPECT_THAT(out.body, HasSubstr(R"({"repo":"mirror/glm","run_id":11})"));
  EXPECT_THAT(target_.requested, ElementsAre("THUDM/GLM-4", "mirror/glm"));
  EXPECT_THAT(target_.pushed_at_ms, ElementsAre(1718000123000, 1718000123000));
  EXPECT_THAT(target_.asked_urls, testing::Contains("https://github.com/THUDM/GLM-4.git"));
  EXPECT_THAT(metrics_.Render(),
              HasSubstr(R"(mirrord_webhook_deliveries_total{event="push",outcome="queued"} 1)"));
  // A redelivery of the same id queues nothing more.
  auto again = handler_.Process("push", "d-1", kJson, std::string(kPush));
  EXPECT_EQ(again.status, http::status::ok);
  EXPECT_THAT(again.body, HasSubstr("duplicate"));
  EXPECT_EQ(target_.requested.size(), 2u);
}

TEST_F(GitHubWebhookHandlerTest, UnmirroredUpstreamIsIgnored) {
  auto out = handler_.Process("push", "d-2", kJson, std::string(kPush));
  EXPECT_EQ(out.status, http::status::accepted);
  EXPECT_THAT(out.body, HasSubstr("ignored"));
  EXPECT_THAT(target_.requested, IsEmpty());
}

TEST_F(GitHubWebhookHandlerTest, RepositoryEventIsRecordedNeverSynced) {
  target_.repos = {"THUDM/GLM-4"};
  auto out = handler_.Process("repository", "d-3", kJson, std::string(kArchived));
  EXPECT_EQ(out.status, http::status::accepted);
  EXPECT_THAT(target_.events, ElementsAre("THUDM/GLM-4: archived"));
  EXPECT_THAT(target_.requested, IsEmpty());
}

TEST_F(GitHubWebhookHandlerTest, MalformedAndUnavailable) {
  auto bad = handler_.Process("push", "d-4", kJson, "{not json");
  EXPECT_EQ(bad.status, http::status::bad_request);
  EXPECT_THAT(target_.seen, IsEmpty());  // nothing remembered for a malformed delivery
  target_.delivery_result = Unavailable("queue down");
  auto down = handler_.Process("push", "d-5", kJson, std::string(kPush));
  EXPECT_EQ(down.status, http::status::service_unavailable);
  EXPECT_THAT(target_.requested, IsEmpty());
}

}  // namespace
}  // namespace mirrord
