// ParseAuthorization: Basic and Bearer as git, git-lfs, huggingface_hub, docker and skopeo
// send them, and what hostile values must come to (no credentials, never a crash).
#include "common/http_credentials.h"

#include <gtest/gtest.h>

#include <string>

#include "common/base64.h"

namespace mirrord {
namespace {

TEST(HttpCredentials, BasicAnyUserTokenAsPassword) {
  auto c = ParseAuthorization("Basic " + Base64("alice:mrd_secret"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->scheme, HttpCredentials::Scheme::kBasic);
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->secret, "mrd_secret");
  // The scheme is case-insensitive, blanks around the credentials are trimmed, and the first
  // ':' splits (a password may hold ':').
  auto d = ParseAuthorization("  bAsIc   " + Base64("x:a:b") + " ");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->user, "x");
  EXPECT_EQ(d->secret, "a:b");
}

TEST(HttpCredentials, TokenAsUserNameWithEmptyPassword) {
  auto c = ParseAuthorization("Basic " + Base64("mrd_tok:"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->secret, "mrd_tok");
  EXPECT_FALSE(ParseAuthorization("Basic " + Base64(":")).has_value());
}

TEST(HttpCredentials, Bearer) {
  auto c = ParseAuthorization("Bearer hf_abc.def-ghi");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->scheme, HttpCredentials::Scheme::kBearer);
  EXPECT_EQ(c->secret, "hf_abc.def-ghi");
  EXPECT_EQ(c->user, "");
  ASSERT_TRUE(ParseAuthorization("bearer\tT").has_value());
}

TEST(HttpCredentials, MalformedValuesAreNoCredentials) {
  for (std::string bad : {std::string(), std::string("Basic"), std::string("Basic "),
                          std::string("Bearer"), std::string("Bearer  "), std::string("Bearer a b"),
                          std::string("Digest abc"), std::string("Basicx ") + Base64("a:b"),
                          std::string("Basic !!!!"), std::string("Basic YQ"),  // no padding
                          std::string("Basic ") + Base64("nocolon"),
                          std::string("Basic ") + Base64("a:b\nc"),  // control character
                          std::string("Bearer a\x01"), std::string("Basic YQ==YQ==")}) {
    EXPECT_FALSE(ParseAuthorization(bad).has_value()) << bad;
  }
}

TEST(HttpCredentials, OverlongValuesAreRefused) {
  std::string token(kMaxAuthorizationLength, 'a');
  EXPECT_FALSE(ParseAuthorization("Bearer " + token).has_value());
  EXPECT_TRUE(ParseAuthorization("Bearer " + token.substr(0, 100)).has_value());
}

TEST(Base64Decode, RoundTripsAndRefusesGarbage) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\x00\xff\x10", 3)}) {
    auto back = Base64Decode(Base64(s));
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64Decode("a===").has_value());
  EXPECT_FALSE(Base64Decode("=aaa").has_value());
  EXPECT_FALSE(Base64Decode("a b=").has_value());
  EXPECT_FALSE(Base64Decode("YR==").has_value());  // non-zero unused bits
  EXPECT_FALSE(Base64Decode("YWJ=").has_value());
}

}  // namespace
}  // namespace mirrord
