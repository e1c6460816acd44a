#include "common/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "common/file_util.h"

namespace mirrord {
namespace {

// FIPS 180-2 / NIST example vectors.
constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kTwoBlocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char kTwoBlocksHash[] =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionAHash[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmpty);
  EXPECT_EQ(Sha256Hex("abc"), kAbc);
  EXPECT_EQ(Sha256Hex(kTwoBlocks), kTwoBlocksHash);
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')), kMillionAHash);
}

TEST(Sha256Test, IncrementalEqualsOneShotAtEverySplit) {
  std::string msg(kTwoBlocks);
  for (size_t i = 0; i <= msg.size(); ++i) {
    Sha256 h;
    h.Update(std::string_view(msg).substr(0, i));
    h.Update(std::string_view(msg).substr(i));
    EXPECT_EQ(h.FinishHex(), kTwoBlocksHash) << "split at " << i;
  }
}

TEST(Sha256Test, RandomChunksOfLargeMessage) {
  std::mt19937_64 rng(42);
  std::string msg(3 << 20, '\0');
  for (char& c : msg) c = static_cast<char>(rng());
  const std::string expected = Sha256Hex(msg);
  Sha256 h;
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t n = std::min<size_t>(msg.size() - pos, rng() % 100'000);
    h.Update(std::string_view(msg).substr(pos, n));
    pos += n;
  }
  EXPECT_EQ(h.FinishHex(), expected);
}

TEST(Sha256Test, FinishStartsANewMessage) {
  Sha256 h;
  h.Update("abc");
  EXPECT_EQ(h.FinishHex(), kAbc);
  EXPECT_EQ(h.FinishHex(), kEmpty);
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), kAbc);
}

TEST(Sha256Test, MovedHashKeepsItsState) {
  Sha256 a;
  a.Update("ab");
  Sha256 b = std::move(a);
  b.Update("c");
  EXPECT_EQ(b.FinishHex(), kAbc);
}

class Sha256FileTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "/mirrord-sha256-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(Sha256FileTest, HashesWholeFile) {
  // Larger than the read buffer, so several reads feed the hash.
  std::string content(1'000'000, 'a');
  ASSERT_TRUE(WriteFileAtomically(dir_ / "f", content).ok());
  auto h = Sha256OfFile(dir_ / "f");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(*h, kMillionAHash);

  ASSERT_TRUE(WriteFileAtomically(dir_ / "empty", "").ok());
  auto e = Sha256OfFile(dir_ / "empty");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(*e, kEmpty);
}

TEST_F(Sha256FileTest, MissingFileIsNotFoundNamingThePath) {
  auto h = Sha256OfFile(dir_ / "absent");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_NE(h.status().message().find((dir_ / "absent").string()), std::string::npos);
}

}  // namespace
}  // namespace mirrord
