#include "deploy/preflight/cuda_requirement.h"

#include <gtest/gtest.h>

namespace mirrord::preflight {
namespace {

Version V(std::string_view text) { return *ParseVersion(text); }

TEST(PreflightVersion, ComparesPartByPartNumerically) {
  EXPECT_GT(V("12.10").Compare(V("12.9")), 0);
  EXPECT_EQ(V("12").Compare(V("12.0")), 0);
  EXPECT_LT(V("535.54.03").Compare(V("535.129.03")), 0);
  EXPECT_EQ(V("535.129.03").ToString(), "535.129.3");
  EXPECT_EQ(CudaVersionFromInt(12040).ToString(), "12.4");
  EXPECT_EQ(CudaVersionFromInt(11080).ToString(), "11.8");
}

TEST(PreflightVersion, RejectsGarbage) {
  for (const char* bad : {"", ".", "12.", ".1", "12.x", "-1", "1.2.3.4.5", "99999999999"}) {
    EXPECT_FALSE(ParseVersion(bad).ok()) << bad;
  }
}

TEST(PreflightCudaRequirement, SingleCondition) {
  auto req = ParseCudaRequirement("cuda>=12.1");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_TRUE(req->SatisfiedBy(V("12.1"), V("530.30")));
  EXPECT_TRUE(req->SatisfiedBy(V("13.0"), V("580.65.06")));
  EXPECT_FALSE(req->SatisfiedBy(V("12.0"), V("525.60")));
  EXPECT_FALSE(req->SatisfiedBy(V("11.8"), V("520.61")));
}

TEST(PreflightCudaRequirement, ShorthandFromTheRecipe) {
  auto req = ParseCudaRequirement(">=12.1");
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->SatisfiedBy(V("12.2"), V("535.0")));
  EXPECT_FALSE(req->SatisfiedBy(V("12.0"), V("535.0")));
}

TEST(PreflightCudaRequirement, SpaceIsOrCommaIsAnd) {
  // As CUDA base images write it: a new enough CUDA, or one of the driver branches.
  auto req = ParseCudaRequirement(
      "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=535,driver<536");
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  ASSERT_EQ(req->alternatives.size(), 3u);
  EXPECT_EQ(req->alternatives[1].size(), 3u);
  EXPECT_TRUE(req->SatisfiedBy(V("12.4"), V("550.54")));
  EXPECT_TRUE(req->SatisfiedBy(V("12.2"), V("535.129.03")));  // forward-compatible branch
  EXPECT_TRUE(req->SatisfiedBy(V("11.4"), V("470.1")));
  EXPECT_FALSE(req->SatisfiedBy(V("12.2"), V("537.0")));
  EXPECT_FALSE(req->SatisfiedBy(V("11.0"), V("450.0")));
}

TEST(PreflightCudaRequirement, EveryOperator) {
  struct Case {
    const char* req;
    const char* cuda;
    bool holds;
  } cases[] = {{"cuda>12.1", "12.1", false}, {"cuda>12.1", "12.2", true},
               {"cuda<12.1", "12.0", true},  {"cuda<=12.1", "12.1", true},
               {"cuda=12.1", "12.1", true},  {"cuda==12.1", "12.2", false},
               {"cuda!=12.1", "12.2", true}, {"cuda!=12.1", "12.1", false}};
  for (const Case& c : cases) {
    auto req = ParseCudaRequirement(c.req);
    ASSERT_TRUE(req.ok()) << c.req;
    EXPECT_EQ(req->SatisfiedBy(V(c.cuda), V("550")), c.holds) << c.req << " vs " << c.cuda;
  }
}

TEST(PreflightCudaRequirement, EmptyAlwaysHolds) {
  auto req = ParseCudaRequirement("");
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->SatisfiedBy(V("1.0"), V("1")));
}

TEST(PreflightCudaRequirement, RejectsMalformedConditions) {
  for (const char* bad : {"cuda", "cuda>=", "cuda>=x", "gpu>=1", ">=", "cuda=>12", "brand="}) {
    EXPECT_FALSE(ParseCudaRequirement(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace mirrord::preflight
