// Tar layer entries whose content is a file on disk (the recipe's extra files): the layer is
// the one the same bytes inline give, read in bounded chunks from the descriptor opened once,
// and a pinned SHA-256 is checked on exactly those bytes.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "deploy/oci_store.h"
#include "deploy/tar_layer.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using test::PutObject;
using test::SeededBytes;

class FileBackedTarEntryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-tarfile-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = BlobStore::Open(dir_->path() / "lfs");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    lfs_ = std::move(*store);
    auto oci = OciStore::Open(dir_->path() / "oci");
    ASSERT_TRUE(oci.ok()) << oci.status().ToString();
    oci_ = std::move(*oci);
  }

  fs::path WriteSource(const std::string& name, const std::string& content) {
    fs::path p = dir_->path() / name;
    EXPECT_TRUE(WriteFileAtomically(p, content, 0755).ok());
    return p;
  }

  // The layer's bytes; `largest` gets the largest piece the sink was given.
  Result<std::string> ReadAll(const TarLayer& layer, size_t* largest = nullptr) {
    std::string out;
    Status s = ReadTarLayer(layer, *lfs_, 0, layer.size(), [&](std::string_view d) {
      if (largest != nullptr) *largest = std::max(*largest, d.size());
      out.append(d);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  size_t Count(const fs::path& dir) {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {}));
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<BlobStore> lfs_;
  std::unique_ptr<OciStore> oci_;
};

TarLayerEntry Dir(std::string path) {
  TarLayerEntry e;
  e.entry.type = TarEntryType::kDirectory;
  e.entry.path = std::move(path);
  e.entry.mode = 0755;
  return e;
}

TarLayerEntry Inline(std::string path, std::string data, uint32_t mode) {
  TarLayerEntry e;
  e.entry.path = std::move(path);
  e.entry.size = data.size();
  e.entry.mode = mode;
  e.inline_data = std::move(data);
  e.has_inline = true;
  return e;
}

TEST_F(FileBackedTarEntryTest, LayerEqualsTheSameBytesInlineAndIsReadInBoundedChunks) {
  // Not a multiple of the 1 MiB read chunk nor of the 512-byte block: padding follows.
  const std::string binary = SeededBytes((5 << 20) + 77, 31);
  const std::string weight = SeededBytes(4'000, 32);
  const std::string oid = PutObject(*lfs_, weight);
  fs::path source = WriteSource("serve", binary);

  auto file = FileBackedTarEntry("usr/bin/serve", 0755, source, Sha256Hex(binary));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->entry.size, binary.size());
  TarLayerEntry stored;
  stored.entry.path = "usr/bin/w.bin";
  stored.entry.size = weight.size();
  stored.entry.mode = 0644;
  stored.oid = oid;
  auto from_file = TarLayer::Create({Dir("usr/"), Dir("usr/bin/"), *file, stored});
  auto from_bytes =
      TarLayer::Create({Dir("usr/"), Dir("usr/bin/"), Inline("usr/bin/serve", binary, 0755), stored});
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status().ToString();
  EXPECT_FALSE(from_file->generated());  // stored whole, never served from a spec
  EXPECT_TRUE(from_file->spec().empty());
  ASSERT_EQ(from_file->size(), from_bytes->size());

  size_t largest = 0;
  auto bytes_file = ReadAll(*from_file, &largest);
  auto bytes_inline = ReadAll(*from_bytes);
  ASSERT_TRUE(bytes_file.ok()) << bytes_file.status().ToString();
  ASSERT_TRUE(bytes_inline.ok()) << bytes_inline.status().ToString();
  EXPECT_EQ(Sha256Hex(*bytes_file), Sha256Hex(*bytes_inline));
  EXPECT_TRUE(*bytes_file == *bytes_inline);
  EXPECT_LE(largest, size_t{1} << 20);  // the file is never held whole

  // Streamed into the OciStore, it is the blob the same bytes put whole give.
  auto writer = oci_->NewWriter();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  Status streamed = ReadTarLayer(*from_file, *lfs_, 0, from_file->size(),
                                 [&](std::string_view d) { return writer->Append(d); });
  ASSERT_TRUE(streamed.ok()) << streamed.ToString();
  auto digest = writer->Commit();
  ASSERT_TRUE(digest.ok()) << digest.status().ToString();
  EXPECT_EQ(*digest, "sha256:" + Sha256Hex(*bytes_inline));
  auto put = oci_->Put(*bytes_inline);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, *digest);
  EXPECT_TRUE(*oci_->Read(*digest) == *bytes_inline);

  // A range read crosses the file's content like any other segment.
  std::string middle;
  ASSERT_TRUE(ReadTarLayer(*from_file, *lfs_, 1000, 3'000'000, [&](std::string_view d) {
                middle.append(d);
                return Status::Ok();
              }).ok());
  EXPECT_TRUE(middle == bytes_inline->substr(1000, 3'000'000 - 1000));
}

TEST_F(FileBackedTarEntryTest, PinIsCheckedOnTheBytesReadFromTheOpenedFile) {
  const std::string content = SeededBytes((2 << 20) + 5, 41);
  fs::path source = WriteSource("serve", content);
  auto entry = FileBackedTarEntry("serve", 0755, source, Sha256Hex(content));
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();

  // Replacing the path after the open changes nothing: the layer reads the opened file.
  WriteSource("serve", SeededBytes(content.size(), 42));
  auto layer = TarLayer::Create({*entry});
  ASSERT_TRUE(layer.ok());
  auto bytes = ReadAll(*layer);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_NE(bytes->find(content), std::string::npos);

  // The opened file changed in place (same size, other bytes): the bytes read are not the
  // pinned ones, and the read fails after feeding them.
  source = WriteSource("other", content);
  auto pinned = FileBackedTarEntry("serve", 0755, source, Sha256Hex(content));
  ASSERT_TRUE(pinned.ok());
  {
    FILE* f = std::fopen(source.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 1 << 20, SEEK_SET);
    std::fputc(content[1 << 20] ^ 1, f);
    std::fclose(f);
  }
  auto changed = TarLayer::Create({*pinned});
  ASSERT_TRUE(changed.ok());
  auto read = ReadAll(*changed);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status().ToString();

  // Truncated after the open: shorter than the entry says.
  source = WriteSource("short", content);
  auto shortened = FileBackedTarEntry("serve", 0755, source, "");
  ASSERT_TRUE(shortened.ok());
  fs::resize_file(source, content.size() / 2);
  auto short_layer = TarLayer::Create({*shortened});
  ASSERT_TRUE(short_layer.ok());
  EXPECT_EQ(ReadAll(*short_layer).status().code(), StatusCode::kDataLoss);
}

TEST_F(FileBackedTarEntryTest, MismatchStreamedIntoTheStoreLeavesNoBlob) {
  const std::string content = SeededBytes((3 << 20) + 9, 51);
  fs::path source = WriteSource("serve", content);
  auto entry = FileBackedTarEntry("serve", 0755, source, Sha256Hex("not the content"));
  ASSERT_TRUE(entry.ok());
  auto layer = TarLayer::Create({*entry});
  ASSERT_TRUE(layer.ok());
  {
    auto writer = oci_->NewWriter();
    ASSERT_TRUE(writer.ok());
    Status s = ReadTarLayer(*layer, *lfs_, 0, layer->size(),
                            [&](std::string_view d) { return writer->Append(d); });
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
    EXPECT_GT(writer->size(), content.size());  // everything but the end was written...
    EXPECT_EQ(Count(oci_->root() / "incomplete"), 1u);
  }  // ... and dropped with the uncommitted writer
  EXPECT_EQ(Count(oci_->root() / "blobs" / "sha256"), 0u);
  EXPECT_EQ(Count(oci_->root() / "incomplete"), 0u);
}

TEST_F(FileBackedTarEntryTest, RefusesWhatCannotBeALayerFile) {
  EXPECT_EQ(FileBackedTarEntry("x", 0644, dir_->path() / "missing", "").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(FileBackedTarEntry("x", 0644, dir_->path(), "").status().code(),
            StatusCode::kInvalidArgument);  // a directory
  fs::path fifo = dir_->path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(FileBackedTarEntry("x", 0644, fifo, "").status().code(),
            StatusCode::kInvalidArgument);  // refused, without blocking on the open
  fs::path source = WriteSource("a", "abc");
  EXPECT_EQ(FileBackedTarEntry("x", 0644, source, "ABC").status().code(),
            StatusCode::kInvalidArgument);  // not a pin
  // An empty file has no bytes to check as they are read: checked at once.
  fs::path empty = WriteSource("empty", "");
  EXPECT_EQ(FileBackedTarEntry("x", 0644, empty, Sha256Hex("abc")).status().code(),
            StatusCode::kDataLoss);
  auto ok_empty = FileBackedTarEntry("x", 0644, empty, Sha256Hex(""));
  ASSERT_TRUE(ok_empty.ok());
  EXPECT_TRUE(TarLayer::Create({*ok_empty}).ok());

  // The entry's size must be its file's; content from two sources is refused.
  auto entry = FileBackedTarEntry("x", 0644, source, "");
  ASSERT_TRUE(entry.ok());
  TarLayerEntry wrong_size = *entry;
  wrong_size.entry.size = 4;
  EXPECT_EQ(TarLayer::Create({wrong_size}).status().code(), StatusCode::kInvalidArgument);
  TarLayerEntry both = *entry;
  both.inline_data = "abc";
  both.has_inline = true;
  EXPECT_EQ(TarLayer::Create({both}).status().code(), StatusCode::kInvalidArgument);
  TarLayerEntry dir = Dir("d/");
  dir.file = entry->file;
  EXPECT_EQ(TarLayer::Create({dir}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mirrord
