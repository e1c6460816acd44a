#include "git/upload_pack_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mirrord {
namespace {

const std::string kA(40, 'a');
const std::string kB = "0123456789abcdef0123456789abcdef01234567";
const std::string kWants =
    "0032want 1111111111111111111111111111111111111111\n"
    "0000";

TEST(WithExtraHavesTest, InsertsHavesBeforeTheFinalDone) {
  std::string body = kWants + "0032have 2222222222222222222222222222222222222222\n0009done\n";
  EXPECT_EQ(WithExtraHaves(body, {kA, kB}),
            kWants +
                "0032have 2222222222222222222222222222222222222222\n"
                "0032have " +
                kA + "\n0032have " + kB + "\n0009done\n");
}

TEST(WithExtraHavesTest, DoneWithoutHavesGetsThemToo) {
  EXPECT_EQ(WithExtraHaves(kWants + "0009done\n", {kB}),
            kWants + "0032have " + kB + "\n0009done\n");
}

TEST(WithExtraHavesTest, IntermediateRoundsAreUnchanged) {
  std::string round = kWants + "0032have 2222222222222222222222222222222222222222\n0000";
  EXPECT_EQ(WithExtraHaves(round, {kA}), round);
}

TEST(WithExtraHavesTest, MalformedBodiesAreUnchanged) {
  for (std::string body : {std::string("0009done"), std::string("zzzzdone\n0009done\n"),
                           std::string("00ffwant\n0009done\n"), std::string("0003x0009done\n"),
                           std::string("done\n"), std::string()}) {
    EXPECT_EQ(WithExtraHaves(body, {kA}), body) << body;
  }
}

TEST(WithExtraHavesTest, SkipsEntriesThatAreNotObjectIds) {
  EXPECT_EQ(WithExtraHaves(kWants + "0009done\n", {"", "xyz", std::string(40, 'G'),
                                                   std::string(40, 'A'), kA + "\n0009done"}),
            kWants + "0009done\n");
}

TEST(WithExtraHavesTest, AddsAtMostTheLimit) {
  std::vector<std::string> many(kMaxExtraHaves + 5, kA);
  std::string out = WithExtraHaves("0009done\n", many);
  EXPECT_EQ(out.size(), kMaxExtraHaves * 50 + 9);
}

}  // namespace
}  // namespace mirrord
