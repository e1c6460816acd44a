#include "http/url.h"

#include <gtest/gtest.h>

namespace mirrord {
namespace {

TEST(UrlTest, OriginIsLowerCaseWithTheDefaultPortFilledIn) {
  EXPECT_EQ(UrlOrigin("https://GitHub.com/o/r.git"), "https://github.com:443");
  EXPECT_EQ(UrlOrigin("HTTP://h/x"), "http://h:80");
  EXPECT_EQ(UrlOrigin("http://h:8080/x?y#z"), "http://h:8080");
  EXPECT_EQ(UrlOrigin("http://user:secret@h/x"), "http://h:80");  // credentials are not the origin
  EXPECT_EQ(UrlOrigin("http://[::1]:9/x"), "http://[::1]:9");
  EXPECT_EQ(UrlOrigin("http://h:/x"), "http://h:80");  // an empty port is the default one
}

TEST(UrlTest, UnusableUrlsHaveNoOrigin) {
  EXPECT_EQ(UrlOrigin(""), "");
  EXPECT_EQ(UrlOrigin("not a url"), "");
  EXPECT_EQ(UrlOrigin("/srv/x.git"), "");
  EXPECT_EQ(UrlOrigin("ftp://h/x"), "");
  EXPECT_EQ(UrlOrigin("http:///x"), "");
  EXPECT_EQ(UrlOrigin("http://h:99999/x"), "");  // a port beyond 65535 does not wrap around
  EXPECT_EQ(UrlOrigin("http://h:65535/x"), "http://h:65535");
}

TEST(UrlTest, SameOriginNeedsSchemeHostAndPortToMatch) {
  EXPECT_TRUE(SameOrigin("https://h/a", "https://H:443/b"));
  EXPECT_FALSE(SameOrigin("https://h/a", "http://h/a"));
  EXPECT_FALSE(SameOrigin("https://h/a", "https://h:8443/a"));
  EXPECT_FALSE(SameOrigin("https://h/a", "https://cdn.h/a"));
  EXPECT_FALSE(SameOrigin("garbage", "garbage"));  // two unparsable URLs are not one origin
}

TEST(UrlTest, HostKeyCountsConnectionsPerHostAndPort) {
  EXPECT_EQ(UrlHostKey("https://cdn.Example/x?sig=1"), "cdn.example:443");
  EXPECT_EQ(UrlHostKey("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
  EXPECT_EQ(UrlHostKey("unparsable"), "unparsable");
}

TEST(UrlTest, IsHttpUrlRecognisesSchemes) {
  EXPECT_TRUE(IsHttpUrl("http://x/y"));
  EXPECT_TRUE(IsHttpUrl("HTTPS://x/y"));
  EXPECT_FALSE(IsHttpUrl("file:///x"));
  EXPECT_FALSE(IsHttpUrl("/srv/x.git"));
  EXPECT_FALSE(IsHttpUrl("ssh://x/y"));
  EXPECT_FALSE(IsHttpUrl("http"));
}

}  // namespace
}  // namespace mirrord
