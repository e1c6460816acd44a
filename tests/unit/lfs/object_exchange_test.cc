// The parts of one object GET, alone: request headers, response-head checks, and the writer
// that commits every commit_interval bytes (against a real BlobStore in a temp dir).
#include "lfs/object_exchange.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/sha256.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

using ::testing::ElementsAre;
using Kind = ObjectResponseVerdict::Kind;

TEST(ObjectRequestHeadersTest, ActionHeadersThenOurRange) {
  LfsDownloadAction action;
  action.header = {{"Authorization", "Bearer x"},
                   {"range", "bytes=0-"},        // ours wins
                   {"X-Split", "a\r\nEvil: 1"},  // would split the request
                   {"Bad:Name", "v"}};
  EXPECT_THAT(ObjectRequestHeaders(action, ByteRange{100, 200}),
              ElementsAre("Authorization: Bearer x", "Range: bytes=100-199"));
  EXPECT_THAT(ObjectRequestHeaders(action, std::nullopt), ElementsAre("Authorization: Bearer x"));
}

TEST(CheckObjectResponseTest, PartialContentMustCoverTheFirstByteAskedFor) {
  ObjectResponseHead head{206, "bytes 100-199/1000", 100};
  ObjectResponseVerdict v = CheckObjectResponse(head, 1000, ByteRange{100, 200});
  EXPECT_EQ(v.kind, Kind::kBody);
  EXPECT_EQ(v.base, 100u);
  EXPECT_EQ(v.body_end, 200u);
  // Starting earlier is usable (the writer skips what was not asked for).
  EXPECT_EQ(CheckObjectResponse({206, "bytes 50-199/1000", 150}, 1000, ByteRange{100, 200}).kind,
            Kind::kBody);
  // Starting later, or ending before it, is not.
  EXPECT_EQ(CheckObjectResponse({206, "bytes 101-199/1000", 99}, 1000, ByteRange{100, 200}).kind,
            Kind::kRetry);
  EXPECT_EQ(CheckObjectResponse({206, "bytes 0-99/1000", 100}, 1000, ByteRange{100, 200}).kind,
            Kind::kRetry);
  EXPECT_EQ(CheckObjectResponse({206, "garbage", 100}, 1000, ByteRange{100, 200}).kind,
            Kind::kRetry);
  // Another object size is the upstream's object not being the pointer's.
  ObjectResponseVerdict other = CheckObjectResponse({206, "bytes 100-199/999", 100}, 1000,
                                                    ByteRange{100, 200});
  EXPECT_EQ(other.kind, Kind::kFatal);
  EXPECT_EQ(other.status.code(), StatusCode::kDataLoss);
}

TEST(CheckObjectResponseTest, WholeBodiesAndOtherCodes) {
  EXPECT_EQ(CheckObjectResponse({200, "", 1000}, 1000, ByteRange{0, 10}).kind, Kind::kBody);
  EXPECT_EQ(CheckObjectResponse({200, "", 1000}, 1000, ByteRange{10, 20}).kind,
            Kind::kRangeIgnored);
  EXPECT_EQ(CheckObjectResponse({200, "", 999}, 1000, std::nullopt).kind, Kind::kFatal);
  EXPECT_EQ(CheckObjectResponse({200, "", -1}, 1000, std::nullopt).kind, Kind::kBody);
  EXPECT_EQ(CheckObjectResponse({416, "bytes */1000", 0}, 1000, ByteRange{10, 20}).kind,
            Kind::kUnsatisfiable);
  EXPECT_EQ(CheckObjectResponse({204, "", 0}, 1000, std::nullopt).kind, Kind::kRetry);
  EXPECT_EQ(CheckObjectResponse({503, "", 10}, 1000, std::nullopt).kind, Kind::kErrorBody);
}

class PieceWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("mirrord-piece-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(dir_->path() / "lfs"));
    std::mt19937_64 rng(5);
    data_.resize(10'000);
    for (char& c : data_) c = static_cast<char>(rng());
    oid_ = Sha256Hex(data_);
  }
  std::optional<test::TempDir> dir_;
  std::unique_ptr<BlobStore> store_;
  std::string data_;
  std::string oid_;
};

TEST_F(PieceWriterTest, CommitsEveryIntervalAndWritesOnlyTheTargets) {
  ASSERT_OK_AND_ASSIGN(auto blob, store_->OpenPartial(oid_, data_.size()));
  // The body starts at 1000; only [2000, 6000) is wanted; commits every 1500 bytes.
  PieceWriter writer(blob.get(), {{2000, 6000}}, 1500);
  const uint64_t base = 1000;
  for (uint64_t off = base; off < 7000; off += 700) {
    ASSERT_OK(writer.Write(base, std::string_view(data_).substr(off, 700)));
    // Never more than one interval written but not durable.
    EXPECT_LE(writer.written() - (blob->DurableBytes()), 1500u);
    if (writer.complete()) break;
  }
  EXPECT_TRUE(writer.complete());
  EXPECT_EQ(writer.written(), 4000u);
  EXPECT_EQ(writer.written_end(), 6000u);
  ASSERT_OK(writer.Finish());
  EXPECT_EQ(blob->DurableBytes(), 4000u);
  EXPECT_THAT(blob->MissingRanges(), ElementsAre(ByteRange{0, 2000}, ByteRange{6000, 10'000}));
}

TEST_F(PieceWriterTest, FinishCommitsAPartialRun) {
  ASSERT_OK_AND_ASSIGN(auto blob, store_->OpenPartial(oid_, data_.size()));
  PieceWriter writer(blob.get(), {{0, 10'000}}, 1 << 20);
  ASSERT_OK(writer.Write(0, std::string_view(data_).substr(0, 3333)));
  EXPECT_EQ(blob->DurableBytes(), 0u);
  EXPECT_FALSE(writer.complete());
  ASSERT_OK(writer.Finish());
  EXPECT_EQ(blob->DurableBytes(), 3333u);
  EXPECT_EQ(writer.written_end(), 3333u);
}

}  // namespace
}  // namespace mirrord
