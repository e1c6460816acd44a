#include "common/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace mirrord {
namespace {

namespace fs = std::filesystem;

class DiskUsageBytesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mirrord-du-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const fs::path& p, size_t bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << std::string(bytes, 'x');
  }
  static uint64_t Allocated(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  fs::path dir_;
};

TEST_F(DiskUsageBytesTest, AMissingDirectoryUsesNothing) {
  Result<uint64_t> bytes = DiskUsageBytes(dir_ / "absent");
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, 0u);
}

TEST_F(DiskUsageBytesTest, SumsTheAllocatedBlocksOfNestedFiles) {
  Write(dir_ / "a", 100'000);
  Write(dir_ / "sub/deeper/b", 300'000);
  Result<uint64_t> bytes = DiskUsageBytes(dir_);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(*bytes, Allocated(dir_ / "a") + Allocated(dir_ / "sub/deeper/b"));
  EXPECT_GE(*bytes, 400'000u);
}

TEST_F(DiskUsageBytesTest, CountsAHardLinkedFileOnceAndIgnoresSymlinks) {
  Write(dir_ / "a", 200'000);
  fs::create_hard_link(dir_ / "a", dir_ / "a-link");
  Write(dir_ / "elsewhere/big", 1'000'000);
  fs::create_directories(dir_ / "tree");
  fs::create_symlink(dir_ / "elsewhere", dir_ / "tree/to-elsewhere");
  Result<uint64_t> tree = DiskUsageBytes(dir_ / "tree");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(*tree, 0u);
  Result<uint64_t> all = DiskUsageBytes(dir_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, Allocated(dir_ / "a") + Allocated(dir_ / "elsewhere/big"));
}

}  // namespace
}  // namespace mirrord
