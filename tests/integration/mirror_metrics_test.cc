// /metrics after real syncs: valid Prometheus exposition (promtool agrees) with sync counts
// by outcome that match what happened.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sample lines of a text exposition, keyed by "name{labels}" exactly as written.
Result<std::map<std::string, double>> ParseSamples(const std::string& body) {
  std::map<std::string, double> samples;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t close = line.find('}');
    size_t space = line.find(' ', close == std::string::npos ? 0 : close);
    if (space == std::string::npos) return InvalidArgument("bad sample line: " + line);
    std::string value = line.substr(space + 1);
    if (size_t ts = value.find(' '); ts != std::string::npos) value.resize(ts);
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') return InvalidArgument("bad value: " + line);
    if (!samples.emplace(line.substr(0, space), v).second) {
      return InvalidArgument("duplicate sample: " + line);
    }
  }
  return samples;
}

class MirrorMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-metrics-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "metrics\n", "one").status());
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo("org/model"));
    ASSERT_OK(work.PushMirror(bare_.string()));
    work_.emplace(std::move(work));
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start());
  }

  // GETs /metrics, checks it with promtool, and returns its samples.
  void Scrape(std::map<std::string, double>* samples) {
    ASSERT_OK_AND_ASSIGN(HttpReply reply, HttpFetch(mirrord_->BaseUrl() + "/metrics"));
    ASSERT_EQ(reply.status, 200) << reply.body;
    EXPECT_THAT(reply.Header("Content-Type").value_or(""), StartsWith("text/plain"));
    ProcessOptions o;
    o.stdin_data = reply.body;
    o.timeout = std::chrono::milliseconds(30'000);
    Result<ProcessResult> check = RunProcess({"promtool", "check", "metrics"}, o);
    if (!check.ok() && check.status().code() == StatusCode::kNotFound) {
      ADD_FAILURE() << "promtool is not installed (package prometheus)";
    } else {
      ASSERT_OK(check.status());
      EXPECT_EQ(check->exit_code, 0) << check->Describe() << "\n" << reply.body;
      EXPECT_EQ(check->stdout_text + check->stderr_text, "") << reply.body;
    }
    ASSERT_OK_AND_ASSIGN(*samples, ParseSamples(reply.body));
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorMetrics, CountsSyncsByOutcomeAndPassesPromtool) {
  const std::string succeeded = "mirrord_syncs_total{outcome=\"succeeded\"}";
  const std::string failed = "mirrord_syncs_total{outcome=\"failed\"}";
  std::map<std::string, double> before;
  Scrape(&before);
  EXPECT_EQ(before[succeeded], 0);
  EXPECT_EQ(before[failed], 0);
  const std::string git_bytes = "mirrord_store_bytes{kind=\"git\"}";
  EXPECT_EQ(before[git_bytes], 0);

  // Two successes (the second a no-op) and one failure.
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(ProcessResult ok, mirrord_->Mirrorctl({"sync", "org/model", "--url",
                                                                upstream_->UrlFor("org/model")}));
    ASSERT_TRUE(ok.ok()) << ok.Describe();
  }
  // (An upstream answering 500: a first sync that finds no repository at all is not kept.)
  int broken = upstream_->AddFault(Fault::AnswerStatus("/org/missing.git/", 500));
  ASSERT_OK_AND_ASSIGN(ProcessResult bad, mirrord_->Mirrorctl({"sync", "org/missing", "--url",
                                                               upstream_->UrlFor("org/missing")}));
  ASSERT_EQ(bad.exit_code, 1) << bad.Describe();
  upstream_->RemoveFault(broken);

  std::map<std::string, double> after;
  Scrape(&after);
  ASSERT_TRUE(after.contains(succeeded));
  ASSERT_TRUE(after.contains(failed));
  EXPECT_EQ(after[succeeded], 2);
  EXPECT_EQ(after[failed], 1);
  EXPECT_EQ(after["mirrord_syncs_total{outcome=\"cancelled\"}"], 0);
  EXPECT_EQ(after["mirrord_sync_duration_seconds_count{outcome=\"succeeded\"}"], 2);
  EXPECT_EQ(after["mirrord_sync_duration_seconds_count{outcome=\"failed\"}"], 1);
  EXPECT_GT(after["mirrord_fetched_bytes_total"], 0);
  EXPECT_EQ(after["mirrord_syncs_running"], 0);
  EXPECT_EQ(after["mirrord_repos{state=\"ready\"}"], 1);
  EXPECT_EQ(after["mirrord_repos{state=\"failed\"}"], 1);
  // The mirror's size on disk, as measured after its last sync.
  ASSERT_OK_AND_ASSIGN(uint64_t on_disk, DiskUsageBytes(mirrord_->store_dir() / "repos"));
  EXPECT_GT(after[git_bytes], 0);
  EXPECT_EQ(after[git_bytes], static_cast<double>(on_disk));

  // A failure of a repo that was good before counts as a failure too.
  Fault f = Fault::AnswerStatus("/info/refs", 500);
  upstream_->AddFault(f);
  ASSERT_OK_AND_ASSIGN(ProcessResult bad2, mirrord_->Mirrorctl({"sync", "org/model"}));
  ASSERT_EQ(bad2.exit_code, 1) << bad2.Describe();
  std::map<std::string, double> last;
  Scrape(&last);
  EXPECT_EQ(last[succeeded], 2);
  EXPECT_EQ(last[failed], 2);
  EXPECT_EQ(last["mirrord_repos{state=\"failed\"}"], 2);
  EXPECT_EQ(last["mirrord_repos{state=\"ready\"}"], 0);
}

}  // namespace
}  // namespace mirrord::test
