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

// Feeds `body` whole and byte by byte; both must agree.
bool Shaped(const std::string& body) {
  UploadPackRequestShape whole;
  whole.Feed(body);
  UploadPackRequestShape bytewise;
  for (char c : body) bytewise.Feed(std::string_view(&c, 1));
  EXPECT_EQ(whole.CompleteAndValid(), bytewise.CompleteAndValid()) << body;
  return whole.CompleteAndValid();
}

TEST(UploadPackRequestShapeTest, AcceptsRequestsOfBothProtocols) {
  const std::string want = "0032want " + kA + "\n";
  EXPECT_TRUE(Shaped(want + "00000009done\n"));
  EXPECT_TRUE(Shaped("0014command=ls-refs\n00010009peel\n0000"));
  EXPECT_TRUE(Shaped("0012command=fetch\n0000"));
  EXPECT_TRUE(Shaped("0000"));
  EXPECT_TRUE(Shaped(""));
  EXPECT_TRUE(Shaped("0009want "));  // short, but git decides what it means
}

TEST(UploadPackRequestShapeTest, RejectsGarbage) {
  for (const std::string& body :
       {std::string("hello"), std::string("GET / HTTP/1.1\r\n"), std::string("0003"),
        std::string("00"), std::string("0032want ") + "abc", std::string("000ahello\n0000"),
        std::string("0004") + "0032want " + kA + "\n", std::string("fff1") + std::string(65516, 'w'),
        std::string("0008wan"), std::string("0009done\n")}) {
    EXPECT_FALSE(Shaped(body)) << body.substr(0, 30);
  }
  UploadPackRequestShape s;
  EXPECT_FALSE(s.Feed("zzzz"));
  EXPECT_TRUE(s.malformed());
  EXPECT_FALSE(s.Feed("0000"));  // stays malformed
}

}  // namespace
}  // namespace mirrord
