#include "daemon/base_url.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

namespace ip = boost::asio::ip;

HttpRequest WithHost(std::string_view host, std::string_view forwarded_proto = "") {
  HttpRequest req(http::verb::post, "/x", 11);
  if (!host.empty()) req.set(http::field::host, host);
  if (!forwarded_proto.empty()) req.set("X-Forwarded-Proto", forwarded_proto);
  return req;
}

const ip::tcp::endpoint kLan(ip::make_address("10.0.0.5"), 8080);
const ip::tcp::endpoint kLoopback(ip::make_address("127.0.0.1"), 8080);

TEST(BaseUrlTest, PublicUrlWinsOverEveryHeader) {
  BaseUrl base(BaseUrlOptions{"https://mirror.lab", {"mirror.lab"}});
  EXPECT_EQ(base.For(WithHost("evil.example", "http"), kLan), "https://mirror.lab");
  EXPECT_EQ(base.For(WithHost("mirror.lab:8080"), kLan), "https://mirror.lab");
}

TEST(BaseUrlTest, HostOnlyWhenItNamesThisServer) {
  BaseUrl base(BaseUrlOptions{"", {"mirror.lab", "gpu-box"}});
  EXPECT_EQ(base.For(WithHost("mirror.lab:8080"), kLan), "http://mirror.lab:8080");
  EXPECT_EQ(base.For(WithHost("GPU-BOX:8080"), kLan), "http://GPU-BOX:8080");
  EXPECT_EQ(base.For(WithHost("10.0.0.5:8080"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("localhost:8080"), kLoopback), "http://localhost:8080");
  // Anything else: the address the client connected to.
  EXPECT_EQ(base.For(WithHost("evil.example"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("evil.example:8080", "https"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("mirror.lab:9999"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("mirror.lab"), kLan), "http://10.0.0.5:8080");  // port 80
  EXPECT_EQ(base.For(WithHost("localhost:8080"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("mirror.lab:8080/evil"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost("mirror.lab@evil.example:8080"), kLan), "http://10.0.0.5:8080");
  EXPECT_EQ(base.For(WithHost(""), kLan), "http://10.0.0.5:8080");
  const ip::tcp::endpoint v6(ip::make_address("fd00::5"), 80);
  EXPECT_EQ(base.For(WithHost("evil.example"), v6), "http://[fd00::5]");
  EXPECT_EQ(base.For(WithHost("[fd00::5]"), v6), "http://[fd00::5]");
}

}  // namespace
}  // namespace mirrord
