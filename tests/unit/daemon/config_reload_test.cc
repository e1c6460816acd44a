// What a reload may change live and what it keeps until a restart; the one load function
// shared by start, reload and --check-config.
#include "daemon/config_reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "daemon/registry_target.h"
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

// A [registries.*] secret file that cannot be read (or is empty) is refused by a start, a
// reload and --check-config alike, naming the key and the file but never the secret.
TEST(LoadDaemonConfig, RegistrySecretsMustBeReadable) {
  ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create());
  const std::filesystem::path file = dir.path() / "mirrord.toml";
  const std::filesystem::path password = dir.path() / "lab.password";
  const std::filesystem::path token = dir.path() / "lab.token";
  ASSERT_OK(WriteFileAtomically(file,
                                "[registries.lab]\nurl = \"https://registry.lab\"\n"
                                "username = \"bot\"\npassword_file = \"" +
                                    password.string() + "\"\n"));
  Result<LoadedConfig> missing = LoadDaemonConfig(file);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("[registries.lab] password_file " + password.string()));
  ASSERT_OK(WriteFileAtomically(password, "\n"));
  Result<LoadedConfig> empty = LoadDaemonConfig(file);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));
  ASSERT_OK(WriteFileAtomically(password, "hunter2\n"));
  ASSERT_OK(LoadDaemonConfig(file).status());

  ASSERT_OK(WriteFileAtomically(file,
                                "[registries.lab]\nurl = \"https://registry.lab\"\n"
                                "token_file = \"" +
                                    token.string() + "\"\nca_file = \"" +
                                    (dir.path() / "ca.pem").string() + "\"\n"));
  ASSERT_OK(WriteFileAtomically(token, std::string(kMaxRegistrySecretBytes + 1, 't')));
  Result<LoadedConfig> big = LoadDaemonConfig(file);
  ASSERT_FALSE(big.ok());
  EXPECT_THAT(big.status().message(), HasSubstr("[registries.lab] token_file"));
  EXPECT_THAT(big.status().message(), ::testing::Not(HasSubstr("ttttt")));
  ASSERT_OK(WriteFileAtomically(token, "tok"));
  Result<LoadedConfig> no_ca = LoadDaemonConfig(file);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_THAT(no_ca.status().message(), HasSubstr("[registries.lab] ca_file"));
  ASSERT_OK(WriteFileAtomically(dir.path() / "ca.pem", "-----BEGIN CERTIFICATE-----\n"));
  ASSERT_OK_AND_ASSIGN(LoadedConfig loaded, LoadDaemonConfig(file));
  ASSERT_OK_AND_ASSIGN(RegistryTarget target,
                       ReadRegistryTarget(loaded.config->registries.at("lab")));
  EXPECT_EQ(target.token, "tok");
  EXPECT_TRUE(target.password.empty());

  // http:// without insecure is refused by the same validation.
  ASSERT_OK(WriteFileAtomically(file, "[registries.lab]\nurl = \"http://registry.lab\"\n"));
  Result<LoadedConfig> http = LoadDaemonConfig(file);
  ASSERT_FALSE(http.ok());
  EXPECT_THAT(http.status().message(), HasSubstr("insecure = true"));
}

}  // namespace
}  // namespace mirrord::test
