// What a reload may change live and what it keeps until a restart; the one load function
// shared by start, reload and --check-config.
#include "daemon/config_reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(KeepRestartOnlySettings, KeepsWhatCannotChangeLiveAndSaysSo) {
  Config running = DefaultConfig();
  Config next = DefaultConfig();
  next.listen_port = 9090;
  next.storage_root = "/data/mirrord";
  next.sync_concurrency = 8;
  next.max_connections = 10;
  // Live settings.
  next.log_level = LogLevel::kDebug;
  next.retry_attempts = 9;
  next.per_host_concurrency = 2;
  next.upstreams["lab"] = UpstreamConfig{"lab", "https://git.lab/{repo}.git", {}, std::nullopt};
  RepoConfig repo;
  repo.name = "org/a";
  repo.upstream = "lab";
  repo.path = "org/a";
  next.repos.push_back(repo);

  std::vector<std::string> not_applied;
  Config applied = KeepRestartOnlySettings(running, next, &not_applied);
  EXPECT_THAT(not_applied,
              ElementsAre("[server] listen: 127.0.0.1:8080 -> 127.0.0.1:9090",
                          "[server] max_connections: 1024 -> 10", "[sync] concurrency: 4 -> 8",
                          "[storage] root: ./var/mirrord -> /data/mirrord"));
  EXPECT_EQ(applied.listen_port, 8080);
  EXPECT_EQ(applied.storage_root, running.storage_root);
  EXPECT_EQ(applied.sync_concurrency, 4);
  EXPECT_EQ(applied.max_connections, 1024u);
  EXPECT_EQ(applied.log_level, LogLevel::kDebug);
  EXPECT_EQ(applied.retry_attempts, 9);
  EXPECT_EQ(applied.per_host_concurrency, 2);
  EXPECT_TRUE(applied.upstreams.contains("lab"));
  ASSERT_EQ(applied.repos.size(), 1u);

  not_applied.clear();
  (void)KeepRestartOnlySettings(running, running, &not_applied);
  EXPECT_THAT(not_applied, IsEmpty());
}

TEST(LoadDaemonConfig, RefusesWhatAStartWouldRefuse) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  const std::filesystem::path file = dir.path() / "mirrord.toml";
  const std::filesystem::path secret = dir.path() / "hook.secret";
  ASSERT_OK(
      WriteFileAtomically(file, "[webhooks.github]\nsecret_file = \"" + secret.string() + "\"\n"));
  Result<LoadedConfig> missing = LoadDaemonConfig(file);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("[webhooks.github] secret_file"));

  ASSERT_OK(WriteFileAtomically(secret, "s3cret\n"));
  ASSERT_OK_AND_ASSIGN(LoadedConfig loaded, LoadDaemonConfig(file));
  EXPECT_EQ(loaded.webhook_secret, "s3cret");

  // A [[repos]] source that registering would refuse is refused while parsing.
  ASSERT_OK(WriteFileAtomically(file, "[[repos]]\nname = \"org/a\"\nurl = \"ftp://h/a\"\n"));
  Result<LoadedConfig> ftp = LoadDaemonConfig(file);
  ASSERT_FALSE(ftp.ok());
  EXPECT_THAT(ftp.status().message(), HasSubstr("url must start with http:// or https://"));
  ASSERT_OK(WriteFileAtomically(file, "[[repos]]\nname = \"org/a\"\npath = \"../x\"\n"));
  EXPECT_FALSE(LoadDaemonConfig(file).ok());

  ASSERT_OK_AND_ASSIGN(LoadedConfig defaults, LoadDaemonConfig(""));
  EXPECT_TRUE(defaults.webhook_secret.empty());
}

}  // namespace
}  // namespace mirrord::test
