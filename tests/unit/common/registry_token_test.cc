// Registry tokens: issued, verified, expired, forged, and re-keyed.
#include "common/registry_token.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

const std::string kHash(64, 'a');

TEST(RegistryToken, IssuedTokensVerifyUntilTheyExpire) {
  const std::string key = RegistryTokenKey("admin-secret");
  std::string named = IssueRegistryToken(key, {kHash, 1000});
  auto claims = VerifyRegistryToken(key, named, 999);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->token_hash, kHash);
  EXPECT_EQ(claims->expires_at, 1000);
  EXPECT_FALSE(VerifyRegistryToken(key, named, 1000).has_value());
  std::string anonymous = IssueRegistryToken(key, {"", 1000});
  auto anon = VerifyRegistryToken(key, anonymous, 1);
  ASSERT_TRUE(anon.has_value());
  EXPECT_EQ(anon->token_hash, "");
}

TEST(RegistryToken, ForgeriesAndOtherKeysFail) {
  const std::string key = RegistryTokenKey("admin-secret");
  std::string t = IssueRegistryToken(key, {kHash, 5000});
  EXPECT_FALSE(VerifyRegistryToken(RegistryTokenKey("another"), t, 1).has_value());
  // A later expiry, another subject, a flipped MAC digit: all refused.
  std::string later = t;
  later.replace(later.find("_5000_"), 6, "_9000_");
  EXPECT_FALSE(VerifyRegistryToken(key, later, 1).has_value());
  std::string other = t;
  other[4] = 'b';
  EXPECT_FALSE(VerifyRegistryToken(key, other, 1).has_value());
  std::string flipped = t;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(VerifyRegistryToken(key, flipped, 1).has_value());
  for (std::string bad :
       {std::string(), std::string("mrr_"), std::string("mrd_") + kHash, t + "0", t.substr(1)}) {
    EXPECT_FALSE(VerifyRegistryToken(key, bad, 1).has_value()) << bad;
  }
}

}  // namespace
}  // namespace mirrord
