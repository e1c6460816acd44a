// Every branch of the preflight's checks with given driver facts and real files on disk.
#include "deploy/preflight/preflight_checks.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/sha256.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord::preflight {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

NvidiaFacts OneH100(uint64_t free_bytes = 70 * kGiB) {
  NvidiaFacts f;
  f.driver_version = "550.54.15";
  f.cuda_version = 12040;
  f.gpus = {{0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 80 * kGiB, free_bytes}};
  return f;
}

std::string Joined(const PreflightOutcome& o) {
  std::string s;
  for (const auto& l : o.lines) s += l + "\n";
  return s;
}

class PreflightChecksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("preflight-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<test::TempDir>(std::move(*dir));
  }
  // Writes a weight file of `size` seeded bytes and lists it (with samples) in `m`.
  void AddWeight(PreflightManifest& m, const std::string& name, size_t size) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + name.size()) & 0xff);
    std::string path = (dir_->path() / name).string();
    std::ofstream(path, std::ios::binary) << data;
    m.files.push_back({path, size, Sha256Hex(data)});
    for (auto [off, len] : SampleRanges(size, 4096)) {
      m.samples.push_back({m.files.size() - 1, off, len, Sha256Hex(data.substr(off, len))});
    }
  }
  void FlipByte(const std::string& path, uint64_t offset) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }
  std::unique_ptr<test::TempDir> dir_;
};

TEST_F(PreflightChecksTest, AllGoodPasses) {
  PreflightManifest m;
  m.require_cuda = "cuda>=12.1";
  m.gpu_count = 1;
  m.min_gpu_memory = 20 * kGiB;
  AddWeight(m, "a.safetensors", 100000);
  AddWeight(m, "b.safetensors", 50000);
  PreflightEnv env;
  for (const char* mode : {"size", "sample", "full"}) {
    env.verify = mode;
    PreflightOutcome o = RunChecks(m, env, OneH100());
    EXPECT_EQ(o.exit_code, kExitOk) << Joined(o);
    EXPECT_EQ(o.lines.size(), 4u) << Joined(o);
  }
  env.verify = "full";
  PreflightOutcome o = RunChecks(m, env, OneH100());
  EXPECT_NE(Joined(o).find("150000 bytes hashed"), std::string::npos) << Joined(o);
}

TEST_F(PreflightChecksTest, NoDriver) {
  PreflightManifest m;
  m.gpu_count = 1;
  PreflightOutcome o = RunChecks(m, {}, NotFound("libnvidia-ml.so.1 not loadable: no such file"));
  EXPECT_EQ(o.exit_code, kExitNoDriver);
  EXPECT_NE(Joined(o).find("no NVIDIA driver"), std::string::npos) << Joined(o);
  EXPECT_NE(Joined(o).find("--gpus all"), std::string::npos) << Joined(o);
}

TEST_F(PreflightChecksTest, NoGpuWantedSkipsTheDriver) {
  PreflightManifest m;
  AddWeight(m, "w", 10);
  PreflightOutcome o = RunChecks(m, {}, NotFound("no driver"));
  EXPECT_EQ(o.exit_code, kExitOk) << Joined(o);
}

TEST_F(PreflightChecksTest, OldDriverFailsTheCudaRequirement) {
  PreflightManifest m;
  m.require_cuda = "cuda>=12.1";
  m.gpu_count = 1;
  NvidiaFacts old = OneH100();
  old.driver_version = "520.61.05";
  old.cuda_version = 11080;
  PreflightOutcome o = RunChecks(m, {}, old);
  EXPECT_EQ(o.exit_code, kExitCudaTooOld) << Joined(o);
  EXPECT_NE(Joined(o).find("needs cuda>=12.1, but driver 520.61.05 supports CUDA 11.8"),
            std::string::npos)
      << Joined(o);
}

TEST_F(PreflightChecksTest, DisableRequireIsHonoured) {
  PreflightManifest m;
  m.require_cuda = "cuda>=99.0";
  m.gpu_count = 1;
  PreflightEnv env;
  env.nvidia_disable_require = "true";
  PreflightOutcome o = RunChecks(m, env, OneH100());
  EXPECT_EQ(o.exit_code, kExitOk) << Joined(o);
  EXPECT_NE(Joined(o).find("NVIDIA_DISABLE_REQUIRE"), std::string::npos);
  env.nvidia_disable_require = "false";
  EXPECT_EQ(RunChecks(m, env, OneH100()).exit_code, kExitCudaTooOld);
}

TEST_F(PreflightChecksTest, ImageRequirementUsedWhenManifestHasNone) {
  PreflightManifest m;
  PreflightEnv env;
  env.nvidia_require_cuda = "cuda>=12.8";
  EXPECT_EQ(RunChecks(m, env, OneH100()).exit_code, kExitCudaTooOld);
}

TEST_F(PreflightChecksTest, NoVisibleDevice) {
  PreflightManifest m;
  m.gpu_count = 1;
  NvidiaFacts none = OneH100();
  none.gpus.clear();
  PreflightOutcome o = RunChecks(m, {}, none);
  EXPECT_EQ(o.exit_code, kExitNoGpu) << Joined(o);
  EXPECT_NE(Joined(o).find("sees no GPU"), std::string::npos) << Joined(o);
}

TEST_F(PreflightChecksTest, HiddenDevices) {
  PreflightManifest m;
  m.gpu_count = 1;
  for (auto [nvidia, cuda] : std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>{
           {"none", std::nullopt}, {"void", std::nullopt}, {std::nullopt, ""},
           {std::nullopt, "5"}}) {
    PreflightEnv env;
    env.nvidia_visible_devices = nvidia;
    env.cuda_visible_devices = cuda;
    PreflightOutcome o = RunChecks(m, env, OneH100());
    EXPECT_EQ(o.exit_code, kExitNoGpu) << Joined(o);
    EXPECT_NE(Joined(o).find("0 of the host's 1 GPUs visible"), std::string::npos) << Joined(o);
  }
  PreflightEnv unknown;
  unknown.nvidia_visible_devices = "3";
  PreflightOutcome o = RunChecks(m, unknown, OneH100());
  EXPECT_EQ(o.exit_code, kExitNoGpu);
  EXPECT_NE(Joined(o).find("names GPU \"3\""), std::string::npos) << Joined(o);
}

TEST_F(PreflightChecksTest, TwoGpusNeededOneVisible) {
  PreflightManifest m;
  m.gpu_count = 2;
  NvidiaFacts two = OneH100();
  two.gpus.push_back({1, "GPU-bbbb", "NVIDIA H100 80GB HBM3", 80 * kGiB, 70 * kGiB});
  EXPECT_EQ(RunChecks(m, {}, two).exit_code, kExitOk);
  PreflightEnv env;
  env.nvidia_visible_devices = "GPU-bbbb";
  EXPECT_EQ(RunChecks(m, env, two).exit_code, kExitNoGpu);
}

TEST_F(PreflightChecksTest, TooLittleMemory) {
  PreflightManifest m;
  m.gpu_count = 1;
  m.min_gpu_memory = 40 * kGiB;
  PreflightOutcome o = RunChecks(m, {}, OneH100(/*free=*/12 * kGiB));
  EXPECT_EQ(o.exit_code, kExitGpuMemory) << Joined(o);
  EXPECT_NE(Joined(o).find("needs 40.0 GiB of free GPU memory, GPU 0 NVIDIA H100 80GB HBM3 12.0 GiB free"),
            std::string::npos)
      << Joined(o);
}

TEST_F(PreflightChecksTest, MissingAndTruncatedShards) {
  PreflightManifest m;
  AddWeight(m, "a", 1000);
  AddWeight(m, "b", 1000);
  std::filesystem::remove(m.files[0].path);
  std::filesystem::resize_file(m.files[1].path, 999);
  PreflightOutcome o = RunChecks(m, {}, NotFound(""));
  EXPECT_EQ(o.exit_code, kExitWeightMissing) << Joined(o);
  EXPECT_NE(Joined(o).find(m.files[0].path + ": missing"), std::string::npos) << Joined(o);
  EXPECT_NE(Joined(o).find("expected 1000 bytes, found 999"), std::string::npos) << Joined(o);
}

TEST_F(PreflightChecksTest, CorruptShardBySampleAndFull) {
  PreflightManifest m;
  AddWeight(m, "a", 64 * 1024);
  // A byte inside the first sampled range: sample and full both see it; size does not.
  FlipByte(m.files[0].path, 100);
  PreflightEnv env;
  env.verify = "size";
  EXPECT_EQ(RunChecks(m, env, NotFound("")).exit_code, kExitOk);
  env.verify = "sample";
  PreflightOutcome o = RunChecks(m, env, NotFound(""));
  EXPECT_EQ(o.exit_code, kExitWeightCorrupt) << Joined(o);
  EXPECT_NE(Joined(o).find("SHA-256 of bytes 0-4095 expected"), std::string::npos) << Joined(o);
  env.verify = "full";
  o = RunChecks(m, env, NotFound(""));
  EXPECT_EQ(o.exit_code, kExitWeightCorrupt) << Joined(o);
  EXPECT_NE(Joined(o).find("SHA-256 expected " + m.files[0].sha256), std::string::npos);
}

TEST_F(PreflightChecksTest, ByteOutsideTheSamplesNeedsFull) {
  PreflightManifest m;
  AddWeight(m, "a", 64 * 1024);
  FlipByte(m.files[0].path, 10000);  // between the start and middle samples
  PreflightEnv env;
  env.verify = "sample";
  EXPECT_EQ(RunChecks(m, env, NotFound("")).exit_code, kExitOk);
  env.verify = "full";
  EXPECT_EQ(RunChecks(m, env, NotFound("")).exit_code, kExitWeightCorrupt);
}

TEST_F(PreflightChecksTest, BadVerifyMode) {
  PreflightManifest m;
  AddWeight(m, "a", 10);
  PreflightEnv env;
  env.verify = "fast";
  PreflightOutcome o = RunChecks(m, env, NotFound(""));
  EXPECT_EQ(o.exit_code, kExitBadManifest);
  EXPECT_NE(Joined(o).find("size, sample or full"), std::string::npos);
}

TEST_F(PreflightChecksTest, EveryFailureReportedExitCodeOfTheFirst) {
  PreflightManifest m;
  m.require_cuda = "cuda>=99.0";
  m.gpu_count = 1;
  m.min_gpu_memory = 100 * kGiB;
  AddWeight(m, "a", 10);
  std::filesystem::remove(m.files[0].path);
  PreflightOutcome o = RunChecks(m, {}, OneH100());
  EXPECT_EQ(o.exit_code, kExitCudaTooOld) << Joined(o);
  EXPECT_EQ(o.lines.size(), 4u) << Joined(o);  // cuda, devices ok, memory, weights
}

}  // namespace
}  // namespace mirrord::preflight
