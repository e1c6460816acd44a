#include "deploy/preflight/preflight_manifest.h"

#include <gtest/gtest.h>

namespace mirrord::preflight {
namespace {

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');

TEST(PreflightManifest, RoundTripsByteForByte) {
  PreflightManifest m;
  m.require_cuda = "cuda>=12.1 brand=tesla,driver>=535";
  m.min_gpu_memory = 123456789;
  m.gpu_count = 2;
  m.files = {{"/models/glm/model-00001.safetensors", 4096, kHashA},
             {"/models/glm/dir with space/b.bin", 10, kHashB}};
  m.samples = {{0, 0, 1024, kHashB}, {1, 0, 10, kHashA}};
  std::string text = FormatManifest(m);
  auto parsed = ParseManifest(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(FormatManifest(*parsed), text);
  EXPECT_EQ(parsed->files[1].path, "/models/glm/dir with space/b.bin");
  EXPECT_EQ(parsed->gpu_count, 2);
  EXPECT_EQ(parsed->require_cuda, m.require_cuda);
}

TEST(PreflightManifest, RejectsMalformedLinesNamingThem) {
  const std::string head = "mirrord-preflight-manifest 1\n";
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"", "empty"},
      {"mirrord-preflight-manifest 2\n", "newer"},
      {head + "file 10 " + kHashA + " relative/path\n", "line 2: file path must be absolute"},
      {head + "file ten " + kHashA + " /a\n", "bad file size"},
      {head + "file 10 " + std::string(64, 'A') + " /a\n", "bad file sha256"},
      {head + "sample 0 0 1 " + kHashA + "\n", "not listed"},
      {head + "file 10 " + kHashA + " /a\nsample 0 5 6 " + kHashA + "\n", "outside"},
      {head + "file 10 " + kHashA + " /a\nsample 0 0 0 " + kHashA + "\n", "outside"},
      {head + "gpu_count -1\n", "bad gpu_count"},
      {head + "frobnicate 1\n", "unknown record"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseManifest(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_NE(parsed.status().message().find(c.want), std::string::npos)
        << parsed.status().message();
  }
}

TEST(PreflightManifest, SampleRangesCoverStartMiddleEnd) {
  EXPECT_TRUE(SampleRanges(0).empty());
  auto small = SampleRanges(100, 64);
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0], (std::pair<uint64_t, uint64_t>{0, 100}));
  auto big = SampleRanges(1000, 64);
  ASSERT_EQ(big.size(), 3u);
  EXPECT_EQ(big[0].first, 0u);
  EXPECT_EQ(big[1].first, 500u - 32u);
  EXPECT_EQ(big[2].first + big[2].second, 1000u);
}

TEST(PreflightManifest, DefaultMemoryNeedIsWeightsPlusAFifth) {
  EXPECT_EQ(DefaultMinGpuMemory(10ull << 30), 12ull << 30);
}

}  // namespace
}  // namespace mirrord::preflight
