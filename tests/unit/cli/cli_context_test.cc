#include "cli/cli_context.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>

namespace mirrord {
namespace {

class CliContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("cli_context_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    env_.getenv = [this](std::string_view name) -> std::optional<std::string> {
      auto it = vars_.find(std::string(name));
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
    env_.default_config = dir_ / "etc-mirrord.toml";  // absent unless a test writes it
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }

  std::filesystem::path dir_;
  std::map<std::string, std::string> vars_;
  CliEnvironment env_;
};

TEST_F(CliContextTest, EmbeddedDefaultsWhenNothingIsGiven) {
  auto c = ResolveCliContext({}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->config_file.empty());
  EXPECT_EQ(c->server_url, "http://127.0.0.1:8080");
  EXPECT_EQ(c->token_file, DefaultConfig().storage_root / "admin.token");
}

TEST_F(CliContextTest, DefaultFileIsReadWhenItExists) {
  Write("etc-mirrord.toml", "[server]\nlisten = \"127.0.0.1:9001\"\n");
  auto c = ResolveCliContext({}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->config_file, env_.default_config);
  EXPECT_EQ(c->server_url, "http://127.0.0.1:9001");
}

TEST_F(CliContextTest, EnvironmentBeatsDefaultFileAndFlagBeatsEnvironment) {
  Write("etc-mirrord.toml", "[server]\nlisten = \"127.0.0.1:9001\"\n");
  auto from_env = Write("env.toml", "[server]\nlisten = \"127.0.0.1:9002\"\n");
  auto from_flag = Write("flag.toml", "[server]\nlisten = \"127.0.0.1:9003\"\n");
  vars_["MIRRORD_CONFIG"] = from_env.string();
  auto c = ResolveCliContext({}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->config_file, from_env);
  EXPECT_EQ(c->server_url, "http://127.0.0.1:9002");

  c = ResolveCliContext(CliFlags{from_flag.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->config_file, from_flag);
  EXPECT_EQ(c->server_url, "http://127.0.0.1:9003");
}

TEST_F(CliContextTest, EmptyEnvironmentVariablesCountAsUnset) {
  vars_["MIRRORD_CONFIG"] = "";
  vars_["MIRRORD_URL"] = "";
  auto c = ResolveCliContext({}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server_url, "http://127.0.0.1:8080");
}

TEST_F(CliContextTest, NamedConfigMustExistAndParse) {
  auto c = ResolveCliContext(CliFlags{(dir_ / "missing.toml").string(), "", "", ""}, env_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("missing.toml"), std::string::npos);
  EXPECT_NE(c.error().message().find("--config"), std::string::npos);

  vars_["MIRRORD_CONFIG"] = (dir_ / "gone.toml").string();
  c = ResolveCliContext({}, env_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("$MIRRORD_CONFIG"), std::string::npos);

  auto bad = Write("bad.toml", "[server]\nlisten = \"nohost\"\n");
  c = ResolveCliContext(CliFlags{bad.string(), "", "", ""}, env_);
  EXPECT_FALSE(c.ok());
}

TEST_F(CliContextTest, ServerFlagBeatsEnvironmentBeatsConfig) {
  auto cfg = Write("c.toml", "[server]\nlisten = \"10.0.0.1:9000\"\n");
  vars_["MIRRORD_URL"] = "http://env.example:1234/";
  auto c = ResolveCliContext(CliFlags{cfg.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server_url, "http://env.example:1234");

  c = ResolveCliContext(CliFlags{cfg.string(), "mirror.lab:8080", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server_url, "http://mirror.lab:8080");

  vars_["MIRRORD_URL"] = "ftp://x";
  c = ResolveCliContext({}, env_);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("$MIRRORD_URL"), std::string::npos);
}

TEST_F(CliContextTest, TokenFileFromConfig) {
  auto explicit_token = Write("c1.toml", "[admin]\ntoken_file = \"/srv/token\"\n");
  auto c = ResolveCliContext(CliFlags{explicit_token.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->token_file, "/srv/token");

  auto from_root = Write("c2.toml", "[storage]\nroot = \"/var/lib/mirrord\"\n");
  c = ResolveCliContext(CliFlags{from_root.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->token_file, "/var/lib/mirrord/admin.token");
}

TEST_F(CliContextTest, LoadAdminTokenNamesTheFile) {
  CliContext c;
  c.token_file = dir_ / "admin.token";
  auto missing = LoadAdminToken(c);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find(c.token_file.string()), std::string::npos);

  Write("admin.token", "s3cret\n");
  auto token = LoadAdminToken(c);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(*token, "s3cret");
}

TEST_F(CliContextTest, TokenFlagBeatsEnvironmentBeatsTokenFile) {
  Write("admin.token", "from-file\n");
  auto cfg = Write("c.toml", "[admin]\ntoken_file = \"" + (dir_ / "admin.token").string() + "\"\n");
  auto c = ResolveCliContext(CliFlags{cfg.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*LoadAdminToken(*c), "from-file");
  EXPECT_NE(c->token_source.find("admin.token"), std::string::npos) << c->token_source;

  vars_["MIRRORD_TOKEN"] = "from-env\n";  // as `$(cat file)` in some shells leaves it
  c = ResolveCliContext(CliFlags{cfg.string(), "", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*LoadAdminToken(*c), "from-env");
  EXPECT_EQ(c->token_source, "$MIRRORD_TOKEN");

  c = ResolveCliContext(CliFlags{cfg.string(), "", "from-flag", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*LoadAdminToken(*c), "from-flag");
  EXPECT_EQ(c->token_source, "--token");
}

TEST_F(CliContextTest, TokenWithALineBreakIsRefusedWithoutEchoingIt) {
  auto c = ResolveCliContext(CliFlags{"", "", "abc\r\nX-Injected: 1", ""}, env_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().find("abc"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("--token"), std::string::npos);
}

TEST_F(CliContextTest, RemoteUseDoesNotNeedTheLocalConfig) {
  // A default config this user cannot use (here: unparsable) is not read when the server
  // and the token are both given.
  Write("etc-mirrord.toml", "[server\n");
  auto broken = ResolveCliContext({}, env_);
  EXPECT_FALSE(broken.ok());
  vars_["MIRRORD_TOKEN"] = "t";
  auto c = ResolveCliContext(CliFlags{"", "https://mirror.lab", "", ""}, env_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server_url, "https://mirror.lab");
  EXPECT_TRUE(c->config_file.empty());
  EXPECT_EQ(*LoadAdminToken(*c), "t");
}

TEST(ServerUrlTest, FromListen) {
  EXPECT_EQ(ServerUrlFromListen("127.0.0.1", 8080), "http://127.0.0.1:8080");
  EXPECT_EQ(ServerUrlFromListen("0.0.0.0", 8080), "http://127.0.0.1:8080");
  EXPECT_EQ(ServerUrlFromListen("", 80), "http://127.0.0.1:80");
  EXPECT_EQ(ServerUrlFromListen("::", 8080), "http://[::1]:8080");
  EXPECT_EQ(ServerUrlFromListen("fd00::5", 8080), "http://[fd00::5]:8080");
  EXPECT_EQ(ServerUrlFromListen("mirror.lab", 8080), "http://mirror.lab:8080");
}

TEST(ServerUrlTest, Normalize) {
  EXPECT_EQ(*NormalizeServerUrl("mirror.lab:8080"), "http://mirror.lab:8080");
  EXPECT_EQ(*NormalizeServerUrl("https://mirror.lab/"), "https://mirror.lab");
  EXPECT_FALSE(NormalizeServerUrl("ftp://mirror.lab").ok());
  EXPECT_FALSE(NormalizeServerUrl("http://").ok());
}

}  // namespace
}  // namespace mirrord
