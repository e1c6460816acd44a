// The real mirrord-preflight binary against the fake NVIDIA libraries (fake_nvml.c,
// fake_cuda.c), found through LD_LIBRARY_PATH exactly as the container runtime's injected
// libraries are found through the loader's path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/sha256.h"
#include "deploy/preflight/preflight_checks.h"
#include "deploy/preflight/preflight_manifest.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord::preflight {
namespace {

class PreflightBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("preflight-bin-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<test::TempDir>(std::move(*dir));
    std::string weights(200000, 'w');
    weight_path_ = (dir_->path() / "model.safetensors").string();
    std::ofstream(weight_path_, std::ios::binary) << weights;
    PreflightManifest m;
    m.require_cuda = "cuda>=12.1";
    m.gpu_count = 1;
    m.min_gpu_memory = 20ull << 30;
    m.files.push_back({weight_path_, weights.size(), Sha256Hex(weights)});
    for (auto [off, len] : SampleRanges(weights.size(), 4096)) {
      m.samples.push_back({0, off, len, Sha256Hex(weights.substr(off, len))});
    }
    manifest_path_ = (dir_->path() / "preflight.manifest").string();
    std::ofstream(manifest_path_) << FormatManifest(m);
    base_env_ = {{"LD_LIBRARY_PATH", MIRRORD_FAKE_NVIDIA_DIR},
                 {"FAKE_NVML_GPUS", "NVIDIA H100 80GB HBM3:81559:80000"},
                 {"FAKE_NVML_DRIVER", "550.54.15"},
                 {"FAKE_CUDA_VERSION", "12040"}};
  }

  test::ProcessResult Run(std::map<std::string, std::string> env,
                          std::vector<std::string> command = {},
                          std::vector<std::string> preflight = {MIRRORD_PREFLIGHT_BIN}) {
    test::ProcessOptions options;
    options.unset_env = {"NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "NVIDIA_REQUIRE_CUDA",
                         "NVIDIA_DISABLE_REQUIRE", "PREFLIGHT_VERIFY", "PREFLIGHT_MANIFEST"};
    options.env = base_env_;
    for (auto& [k, v] : env) options.env[k] = v;
    std::vector<std::string> argv = preflight;
    argv.insert(argv.end(), {"--manifest", manifest_path_});
    if (!command.empty()) {
      argv.push_back("--");
      argv.insert(argv.end(), command.begin(), command.end());
    }
    auto r = test::RunProcess(argv, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : test::ProcessResult{};
  }

  std::unique_ptr<test::TempDir> dir_;
  std::string weight_path_;
  std::string manifest_path_;
  std::map<std::string, std::string> base_env_;
};

TEST_F(PreflightBinaryTest, PassesThenExecsTheCommandInItsOwnPlace) {
  // The command's parent is this test process: preflight replaced itself (execve), it did
  // not fork. Arguments arrive unchanged.
  auto r = Run({}, {"/bin/sh", "-c", "echo ppid=$PPID args=$1,$2", "sh", "a b", "--c"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.stdout_text, "ppid=" + std::to_string(::getpid()) + " args=a b,--c\n");
  EXPECT_NE(r.stderr_text.find("ok: driver 550.54.15 supports CUDA 12.4, which meets cuda>=12.1"),
            std::string::npos)
      << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("ok: 1 of the host's 1 GPUs visible"), std::string::npos);
  EXPECT_NE(r.stderr_text.find("ok: GPU memory 78.1 GiB free, needs 20.0 GiB"), std::string::npos)
      << r.stderr_text;
}

TEST_F(PreflightBinaryTest, RunsThroughTheBundlesOwnLoaderAndCLibrary) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the bundle holds the release binary's runtime, not the sanitizers'";
#endif
  // How GPU images start it: the bundle's loader and C library (an image's own may be older
  // or absent), the NVIDIA libraries found where the runtime put them.
  const std::string bundle = MIRRORD_PREFLIGHT_BUNDLE;
  auto r = Run({}, {"/bin/sh", "-c", "echo ppid=$PPID"},
               {bundle + "/lib/ld-linux-x86-64.so.2", "--library-path", bundle + "/lib",
                bundle + "/bin/mirrord-preflight"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.stdout_text, "ppid=" + std::to_string(::getpid()) + "\n");
  EXPECT_NE(r.stderr_text.find("ok: driver 550.54.15 supports CUDA 12.4"), std::string::npos)
      << r.stderr_text;
}

TEST_F(PreflightBinaryTest, CheckOnlyWithoutCommand) {
  auto r = Run({});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
}

TEST_F(PreflightBinaryTest, NoDriverLibrary) {
  auto empty = test::TempDir::Create("no-nvidia-");
  ASSERT_TRUE(empty.ok());
  auto r = Run({{"LD_LIBRARY_PATH", empty->path().string()}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitNoDriver) << r.Describe();
  EXPECT_NE(r.stderr_text.find("no NVIDIA driver in this container (libnvidia-ml.so.1 not loadable"),
            std::string::npos)
      << r.stderr_text;
}

TEST_F(PreflightBinaryTest, DriverNotLoaded) {
  auto r = Run({{"FAKE_NVML_INIT_ERROR", "9"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitNoDriver) << r.Describe();
  EXPECT_NE(r.stderr_text.find("Driver Not Loaded"), std::string::npos) << r.stderr_text;
}

TEST_F(PreflightBinaryTest, OldDriver) {
  auto r = Run({{"FAKE_NVML_DRIVER", "520.61.05"}, {"FAKE_CUDA_VERSION", "11080"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitCudaTooOld) << r.Describe();
  EXPECT_NE(r.stderr_text.find("driver 520.61.05 supports CUDA 11.8"), std::string::npos);
}

TEST_F(PreflightBinaryTest, CudaFromNvmlWhenLibcudaSaysNothing) {
  auto r = Run({{"FAKE_CUDA_VERSION", ""}, {"FAKE_NVML_CUDA", "11020"}}, {"/bin/true"});
  // FAKE_CUDA_VERSION="" makes the fake libcuda answer 0: NVML's 11.2 is used instead.
  EXPECT_EQ(r.exit_code, kExitCudaTooOld) << r.Describe();
  EXPECT_NE(r.stderr_text.find("supports CUDA 11.2"), std::string::npos) << r.stderr_text;
}

TEST_F(PreflightBinaryTest, TooLittleMemoryAndHiddenDevices) {
  auto r = Run({{"FAKE_NVML_GPUS", "NVIDIA A10:24000:9000"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitGpuMemory) << r.Describe();
  r = Run({{"NVIDIA_VISIBLE_DEVICES", "none"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitNoGpu) << r.Describe();
  r = Run({{"CUDA_VISIBLE_DEVICES", ""}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitNoGpu) << r.Describe();
  r = Run({{"FAKE_NVML_GPUS", ""}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitNoGpu) << r.Describe();
}

TEST_F(PreflightBinaryTest, DisableRequire) {
  auto r = Run({{"FAKE_CUDA_VERSION", "11080"}, {"NVIDIA_DISABLE_REQUIRE", "1"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
}

TEST_F(PreflightBinaryTest, CorruptAndMissingShard) {
  {
    std::fstream f(weight_path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100000);  // inside the middle sample
    f.put('X');
  }
  auto r = Run({}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitWeightCorrupt) << r.Describe();
  r = Run({{"PREFLIGHT_VERIFY", "size"}}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  std::filesystem::remove(weight_path_);
  r = Run({}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitWeightMissing) << r.Describe();
}

TEST_F(PreflightBinaryTest, UnusableManifestAndCommand) {
  auto r = Run({}, {"/nonexistent/server"});
  EXPECT_EQ(r.exit_code, kExitExecFailed) << r.Describe();
  std::ofstream(manifest_path_) << "garbage\n";
  r = Run({}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitBadManifest) << r.Describe();
  std::filesystem::remove(manifest_path_);
  r = Run({}, {"/bin/true"});
  EXPECT_EQ(r.exit_code, kExitBadManifest) << r.Describe();
}

}  // namespace
}  // namespace mirrord::preflight
