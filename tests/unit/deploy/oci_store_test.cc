// OciStore's one write path: a Writer streams a blob into incomplete/ and publishes it whole
// on Commit; nothing of an uncommitted or failed write is ever visible as a blob.
#include "deploy/oci_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using test::SeededBytes;

class OciStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-oci-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = OciStore::Open(dir_->path() / "oci");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  size_t Count(const fs::path& dir) {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {}));
  }
  size_t Blobs() { return Count(store_->root() / "blobs" / "sha256"); }
  size_t Partials() { return Count(store_->root() / "incomplete"); }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<OciStore> store_;
};

TEST_F(OciStoreTest, WriterStreamsABlobAndPublishesItOnCommit) {
  const std::string bytes = SeededBytes((2 << 20) + 3, 7);
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  for (size_t at = 0; at < bytes.size(); at += 300'000) {
    ASSERT_TRUE(writer->Append(std::string_view(bytes).substr(at, 300'000)).ok());
    EXPECT_EQ(Blobs(), 0u);  // nothing visible before the commit
  }
  EXPECT_EQ(writer->size(), bytes.size());
  auto digest = writer->Commit();
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, "sha256:" + Sha256Hex(bytes));
  EXPECT_TRUE(store_->Contains(*digest));
  EXPECT_TRUE(*store_->Read(*digest) == bytes);
  EXPECT_EQ(Partials(), 0u);
  EXPECT_EQ(writer->Commit().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer->Append("x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(fs::status(store_->BlobPath(*digest)).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);

  // Put goes the same way; the same bytes again keep the one blob.
  auto again = store_->Put(bytes);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *digest);
  auto empty = store_->Put("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "sha256:" + Sha256Hex(""));
  EXPECT_EQ(Blobs(), 2u);
  EXPECT_EQ(Partials(), 0u);
}

TEST_F(OciStoreTest, WriterAbandonedMidwayLeavesNoBlob) {
  const std::string bytes = SeededBytes(3 << 20, 8);
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Append(std::string_view(bytes).substr(0, 1 << 20)).ok());
    EXPECT_EQ(Partials(), 1u);
    // Moved: one owner of the partial file, still removed once.
    OciStore::Writer moved = std::move(*writer);
    ASSERT_TRUE(moved.Append(std::string_view(bytes).substr(1 << 20, 1 << 20)).ok());
  }
  EXPECT_EQ(Blobs(), 0u);
  EXPECT_EQ(Partials(), 0u);
  EXPECT_FALSE(store_->Contains("sha256:" + Sha256Hex(bytes)));
  EXPECT_FALSE(store_->Contains("sha256:" + Sha256Hex(bytes.substr(0, 2 << 20))));
}

TEST_F(OciStoreTest, PartialOfACrashedWriterIsRemovedOnOpenNotPublished) {
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Append(SeededBytes(1000, 9)).ok());
    // A crash leaves the writer's file as it is: a copy of it stands for that.
    for (const auto& e : fs::directory_iterator(store_->root() / "incomplete")) {
      fs::copy_file(e.path(), e.path().string() + "0");
    }
  }
  ASSERT_EQ(Partials(), 1u);
  // Downloads of base layers are kept for resumption.
  const std::string download = "sha256:" + Sha256Hex("download");
  ASSERT_TRUE(WriteFileAtomically(store_->PartialPath(download), "down").ok());
  auto reopened = OciStore::Open(store_->root());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(Partials(), 1u);
  EXPECT_TRUE(fs::exists(store_->PartialPath(download)));
  EXPECT_EQ(Blobs(), 0u);
}

}  // namespace
}  // namespace mirrord
