// ClientKey: the per-client connection cap counts an IPv4 address, or an IPv6 /64.
#include "daemon/client_key.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

std::string KeyOf(const char* text) { return ClientKey(boost::asio::ip::make_address(text)); }

TEST(ClientKeyTest, IPv4AddressesAreClientsOfTheirOwn) {
  EXPECT_EQ(KeyOf("192.0.2.7"), "192.0.2.7");
  EXPECT_NE(KeyOf("192.0.2.7"), KeyOf("192.0.2.8"));
  // The same client over an IPv6 socket.
  EXPECT_EQ(KeyOf("::ffff:192.0.2.7"), "192.0.2.7");
}

TEST(ClientKeyTest, IPv6AddressesCountByTheirSlash64) {
  // An attacker rotating through its /64 stays one client.
  EXPECT_EQ(KeyOf("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(KeyOf("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  EXPECT_EQ(KeyOf("2001:db8:1:2:dead:beef:0:1"), KeyOf("2001:db8:1:2::1"));
  // The next /64 is someone else.
  EXPECT_NE(KeyOf("2001:db8:1:3::1"), KeyOf("2001:db8:1:2::1"));
  EXPECT_EQ(KeyOf("::1"), "::/64");
  // Not confused with an IPv4 client.
  EXPECT_NE(KeyOf("::c000:207"), KeyOf("192.0.2.7"));
}

}  // namespace
}  // namespace mirrord
