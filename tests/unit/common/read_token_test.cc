// Read tokens: their shape, their stored hash and their names.
#include "common/read_token.h"

#include <gtest/gtest.h>

#include <set>

#include "common/sha256.h"

namespace mirrord {
namespace {

TEST(ReadToken, GeneratedTokensHaveTheFormatAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    Result<std::string> t = GenerateReadToken();
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(IsReadTokenFormat(*t)) << *t;
    EXPECT_EQ(t->size(), kReadTokenLength);
    EXPECT_TRUE(seen.insert(*t).second);
  }
}

TEST(ReadToken, FormatIsStrict) {
  const std::string good = "mrd_" + std::string(64, 'a');
  EXPECT_TRUE(IsReadTokenFormat(good));
  EXPECT_FALSE(IsReadTokenFormat("mrd_" + std::string(63, 'a')));
  EXPECT_FALSE(IsReadTokenFormat("mrd_" + std::string(65, 'a')));
  EXPECT_FALSE(IsReadTokenFormat("xyz_" + std::string(64, 'a')));
  EXPECT_FALSE(IsReadTokenFormat("mrd_" + std::string(63, 'a') + "A"));
  EXPECT_FALSE(IsReadTokenFormat("mrd_" + std::string(63, 'a') + "g"));
}

TEST(ReadToken, HashIsSha256OfTheText) {
  const std::string t = "mrd_" + std::string(64, '0');
  EXPECT_EQ(HashReadToken(t), Sha256Hex(t));
  EXPECT_NE(HashReadToken(t), HashReadToken("mrd_" + std::string(64, '1')));
}

TEST(ReadToken, Names) {
  EXPECT_TRUE(ValidateReadTokenName("ci-runner_1.lab").ok());
  EXPECT_FALSE(ValidateReadTokenName("").ok());
  EXPECT_FALSE(ValidateReadTokenName("a/b").ok());
  EXPECT_FALSE(ValidateReadTokenName("a b").ok());
  EXPECT_FALSE(ValidateReadTokenName(std::string(65, 'a')).ok());
  EXPECT_TRUE(ValidateReadTokenName(std::string(64, 'a')).ok());
}

}  // namespace
}  // namespace mirrord
