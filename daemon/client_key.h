// ClientKey: whom a connection counts against for the per-client connection cap
// ([server] max_connections_per_client). An IPv4 address (or an IPv4-mapped IPv6 one) is
// one client; an IPv6 address counts by its /64, because one subscriber (and so one
// attacker) is routinely given a whole /64 and could otherwise open the cap's worth of
// connections from each of 2^64 addresses.
// Thread-safety: a pure function.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>

namespace mirrord {

// "192.0.2.7" for IPv4 (mapped or not); "2001:db8:1:2::/64" for IPv6.
std::string ClientKey(const boost::asio::ip::address& address);

}  // namespace mirrord
