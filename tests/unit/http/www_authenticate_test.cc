#include "http/www_authenticate.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

TEST(WwwAuthenticateTest, DockerBearerChallenge) {
  auto r = ParseWwwAuthenticate(
      "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
      "scope=\"repository:library/ubuntu:pull,push\"");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const AuthChallenge& c = (*r)[0];
  EXPECT_EQ(c.scheme, "bearer");
  EXPECT_EQ(c.Param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c.Param("service"), "registry.docker.io");
  EXPECT_EQ(c.Param("scope"), "repository:library/ubuntu:pull,push");
  EXPECT_EQ(c.Param("error"), std::nullopt);
}

TEST(WwwAuthenticateTest, SchemeAndNamesAreCaseInsensitiveValuesAreNot) {
  auto r = ParseWwwAuthenticate("BASIC Realm=\"My Registry\"");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].scheme, "basic");
  EXPECT_EQ((*r)[0].Param("realm"), "My Registry");
}

TEST(WwwAuthenticateTest, EscapesInQuotedStringsAreUndone) {
  auto r = ParseWwwAuthenticate(R"(Bearer realm="a \"b\" \\ c\d")");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].Param("realm"), R"(a "b" \ cd)");
}

TEST(WwwAuthenticateTest, CommaInsideQuotesDoesNotSplit) {
  auto r = ParseWwwAuthenticate(R"(Bearer scope="repository:a:pull,push", realm="r")");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].Param("scope"), "repository:a:pull,push");
  EXPECT_EQ((*r)[0].Param("realm"), "r");
}

TEST(WwwAuthenticateTest, SeveralChallengesInOneValue) {
  auto r = ParseWwwAuthenticate(
      "Basic realm=\"x\", Bearer realm=\"http://h/token\" , service=s,error=\"invalid_token\", "
      "Negotiate, Newauth abc==");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].scheme, "basic");
  EXPECT_EQ((*r)[0].Param("realm"), "x");
  EXPECT_EQ((*r)[1].scheme, "bearer");
  EXPECT_EQ((*r)[1].Param("realm"), "http://h/token");
  EXPECT_EQ((*r)[1].Param("service"), "s");
  EXPECT_EQ((*r)[1].Param("error"), "invalid_token");
  EXPECT_EQ((*r)[2].scheme, "negotiate");
  EXPECT_TRUE((*r)[2].params.empty());
  EXPECT_EQ((*r)[3].scheme, "newauth");
  EXPECT_EQ((*r)[3].token68, "abc==");
}

TEST(WwwAuthenticateTest, UnquotedTokenValuesAndSpacesAroundEquals) {
  auto r = ParseWwwAuthenticate("Bearer realm = tok , service=reg.example");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].Param("realm"), "tok");
  EXPECT_EQ((*r)[0].Param("service"), "reg.example");
}

TEST(WwwAuthenticateTest, EmptyValueHasNoChallenges) {
  auto r = ParseWwwAuthenticate("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = ParseWwwAuthenticate(" , ,");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(WwwAuthenticateTest, MalformedValuesAreRefusedWhole) {
  for (const char* bad : {
           "Bearer realm=\"unterminated", "Bearer realm=\"trailing backslash\\",
           "Bearer realm=\"a\" service=\"b\"",  // no comma between parameters
           "=\"x\"",                            // no scheme
           "Bearer realm=\"bell\x07\"",         // control character
           "Bearer realm=,service=x",           // an empty unquoted value
       }) {
    auto r = ParseWwwAuthenticate(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WwwAuthenticateTest, ALoneWordAfterTheSchemeIsAToken68) {
  auto r = ParseWwwAuthenticate("Bearer realm");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].token68, "realm");
  EXPECT_TRUE((*r)[0].params.empty());
}

TEST(WwwAuthenticateTest, SizesAreBounded) {
  std::string huge = "Bearer realm=\"" + std::string(kMaxWwwAuthenticateBytes, 'a') + "\"";
  auto r = ParseWwwAuthenticate(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);

  std::string many;
  for (size_t i = 0; i <= kMaxAuthChallenges; ++i) many += "Basic, ";
  r = ParseWwwAuthenticate(many);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);

  std::string params = "Bearer ";
  for (size_t i = 0; i <= kMaxAuthParams; ++i) params += "p" + std::to_string(i) + "=v, ";
  r = ParseWwwAuthenticate(params);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace mirrord
