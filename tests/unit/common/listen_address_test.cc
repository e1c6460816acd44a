#include "common/listen_address.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config.h"

namespace mirrord {
namespace {

using ::testing::HasSubstr;

TEST(ListenAddressTest, HostPortAndUnixSockets) {
  auto v4 = ParseListenAddress("0.0.0.0:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 8080);
  EXPECT_FALSE(v4->is_unix());
  EXPECT_EQ(v4->ToString(), "0.0.0.0:8080");

  auto v6 = ParseListenAddress("[::1]:8081");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:8081");

  auto sock = ParseListenAddress("unix:/run/mirrord/admin.sock");
  ASSERT_TRUE(sock.ok());
  EXPECT_TRUE(sock->is_unix());
  EXPECT_EQ(sock->unix_path, "/run/mirrord/admin.sock");
  EXPECT_EQ(sock->ToString(), "unix:/run/mirrord/admin.sock");
}

TEST(ListenAddressTest, RefusesWhatCannotBeBound) {
  for (std::string_view bad : {"", "localhost", ":8080", "host:", "host:65536", "host:80x",
                               "[::1:80", "a b:80", "unix:", "unix:relative.sock", "a/b:80"}) {
    auto parsed = ParseListenAddress(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
  EXPECT_FALSE(ParseListenAddress("unix:/" + std::string(200, 'x')).ok());
}

TEST(ListenAddressTest, ConfigKeysForTlsAdminListenerAndAccessLog) {
  auto c = ParseConfig(R"(
[server]
listen = "0.0.0.0:8443"
tls_cert = "/etc/mirrord/tls.crt"
tls_key = "/etc/mirrord/tls.key"
plain_listen = "0.0.0.0:8080"
access_log = "/var/log/mirrord/access.log"

[admin]
listen = "unix:/run/mirrord/admin.sock"
)",
                       "t.toml");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->tls_cert, "/etc/mirrord/tls.crt");
  EXPECT_EQ(c->tls_key, "/etc/mirrord/tls.key");
  ASSERT_TRUE(c->plain_listen.has_value());
  EXPECT_EQ(c->plain_listen->port, 8080);
  EXPECT_EQ(c->access_log, "/var/log/mirrord/access.log");
  ASSERT_TRUE(c->admin_listen.has_value());
  EXPECT_EQ(c->admin_listen->unix_path, "/run/mirrord/admin.sock");

  auto defaults = ParseConfig("", "t.toml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->tls_cert.empty());
  EXPECT_FALSE(defaults->plain_listen.has_value());
  EXPECT_FALSE(defaults->admin_listen.has_value());
  EXPECT_TRUE(defaults->access_log.empty());
}

TEST(ListenAddressTest, ConfigRefusesHalfATlsSetupAndBadListeners) {
  auto half = ParseConfig("[server]\ntls_cert = \"/a.crt\"\n", "t.toml");
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(half.error().message(), HasSubstr("[server] tls_key"));
  auto plain_alone = ParseConfig("[server]\nplain_listen = \"0.0.0.0:8080\"\n", "t.toml");
  ASSERT_FALSE(plain_alone.ok());
  EXPECT_THAT(plain_alone.error().message(), HasSubstr("plain_listen"));
  auto bad_admin = ParseConfig("[admin]\nlisten = \"unix:admin.sock\"\n", "t.toml");
  ASSERT_FALSE(bad_admin.ok());
  EXPECT_THAT(bad_admin.error().message(), HasSubstr("[admin] listen"));
}

}  // namespace
}  // namespace mirrord
