#include "deploy/tar_layer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "deploy/layer_digest.h"
#include "deploy/oci_store.h"
#include "deploy/tar_header.h"
#include "storage/catalog.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/deploy/deploy_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using test::PutObject;
using test::SeededBytes;

TarLayerEntry Dir(std::string path) {
  TarLayerEntry e;
  e.entry.type = TarEntryType::kDirectory;
  e.entry.path = std::move(path);
  e.entry.mode = 0755;
  return e;
}

TarLayerEntry StoredFile(std::string path, const std::string& oid, uint64_t size,
                         uint32_t mode = 0644) {
  TarLayerEntry e;
  e.entry.path = std::move(path);
  e.entry.size = size;
  e.entry.mode = mode;
  e.oid = oid;
  return e;
}

TarLayerEntry InlineFile(std::string path, std::string data, uint32_t mode = 0644) {
  TarLayerEntry e;
  e.entry.path = std::move(path);
  e.entry.size = data.size();
  e.entry.mode = mode;
  e.inline_data = std::move(data);
  e.has_inline = true;
  return e;
}

class TarLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-tar-");
    ASSERT_TRUE(dir.ok());
    dir_.emplace(std::move(*dir));
    auto store = BlobStore::Open(dir_->path() / "lfs");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  std::string ReadAll(const TarLayer& layer) {
    std::string out;
    Status s = ReadTarLayer(layer, *store_, 0, layer.size(), [&](std::string_view d) {
      out.append(d);
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Writes the layer to a file and returns its path.
  fs::path WriteLayer(const TarLayer& layer, const std::string& name) {
    fs::path p = dir_->path() / name;
    EXPECT_TRUE(WriteFileAtomically(p, ReadAll(layer)).ok());
    return p;
  }

  std::optional<test::TempDir> dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(TarLayerTest, HeaderIsCanonicalUstar) {
  auto h = TarHeader({TarEntryType::kFile, "models/a.bin", 0644, 1000, ""});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->size(), 512u);
  EXPECT_EQ(h->substr(0, 12), "models/a.bin");
  EXPECT_EQ(h->substr(100, 8), std::string("0000644\0", 8));
  EXPECT_EQ(h->substr(108, 8), std::string("0000000\0", 8));        // uid
  EXPECT_EQ(h->substr(116, 8), std::string("0000000\0", 8));        // gid
  EXPECT_EQ(h->substr(124, 12), std::string("00000001750\0", 12));  // 1000
  EXPECT_EQ(h->substr(136, 12), std::string("00000000000\0", 12));  // mtime 0
  EXPECT_EQ(h->substr(257, 8), std::string("ustar\0"
                                           "00",
                                           8));
  EXPECT_EQ(h->substr(265, 64), std::string(64, '\0'));  // no uname/gname
  // The checksum is the sum of the bytes with the field counted as spaces.
  std::string copy = *h;
  std::fill(copy.begin() + 148, copy.begin() + 156, ' ');
  unsigned sum = 0;
  for (unsigned char c : copy) sum += c;
  EXPECT_EQ(std::stoul(h->substr(148, 6), nullptr, 8), sum);
  EXPECT_EQ((*h)[154], '\0');
  EXPECT_EQ((*h)[155], ' ');
}

TEST_F(TarLayerTest, SameEntryGivesSameBytes) {
  TarEntry e{TarEntryType::kFile, "x/y.safetensors", 0644, 12345, ""};
  EXPECT_EQ(*TarHeader(e), *TarHeader(e));
  TarEntry other = e;
  other.size = 12346;
  EXPECT_NE(*TarHeader(e), *TarHeader(other));
}

TEST_F(TarLayerTest, PaxOnlyWhereUstarCannotHoldTheEntry) {
  std::string mid(150, 'd');
  // 150 + '/' + 90: fits as prefix + name, no PAX.
  auto split = TarHeader({TarEntryType::kFile, mid + "/" + std::string(90, 'f'), 0644, 1, ""});
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->size(), 512u);
  // A component of 120 bytes cannot be a ustar name: PAX path.
  auto long_name = TarHeader({TarEntryType::kFile, "a/" + std::string(120, 'n'), 0644, 1, ""});
  ASSERT_TRUE(long_name.ok());
  EXPECT_GT(long_name->size(), 512u);
  EXPECT_EQ((*long_name)[156], 'x');
  EXPECT_NE(long_name->find("path=a/" + std::string(120, 'n') + "\n"), std::string::npos);
  // Over 8 GiB - 1: PAX size.
  auto big = TarHeader({TarEntryType::kFile, "big.bin", 0644, kTarMaxUstarSize + 1, ""});
  ASSERT_TRUE(big.ok());
  EXPECT_NE(big->find("size=" + std::to_string(kTarMaxUstarSize + 1) + "\n"), std::string::npos);
  auto at_limit = TarHeader({TarEntryType::kFile, "big.bin", 0644, kTarMaxUstarSize, ""});
  ASSERT_TRUE(at_limit.ok());
  EXPECT_EQ(at_limit->size(), 512u);
}

TEST_F(TarLayerTest, BadEntriesAreRefused) {
  std::vector<TarEntry> bad = {
      {TarEntryType::kFile, "", 0644, 0, ""},
      {TarEntryType::kFile, "/etc/passwd", 0644, 0, ""},
      {TarEntryType::kFile, "a/../../etc/passwd", 0644, 0, ""},
      {TarEntryType::kFile, "a//b", 0644, 0, ""},
      {TarEntryType::kFile, std::string("a\0b", 3), 0644, 0, ""},
      {TarEntryType::kFile, "dir/", 0644, 0, ""},
      {TarEntryType::kDirectory, "dir", 0755, 0, ""},
      {TarEntryType::kDirectory, "dir/", 0755, 5, ""},
      {TarEntryType::kFile, "a", 010000, 0, ""},
      {TarEntryType::kSymlink, "l", 0777, 0, ""},
      {TarEntryType::kSymlink, "l", 0777, 0, std::string(101, 't')},
      {TarEntryType::kFile, "f", 0644, 0, "target"},
  };
  for (const TarEntry& e : bad) {
    auto h = TarHeader(e);
    EXPECT_FALSE(h.ok()) << "accepted " << e.path;
    if (!h.ok()) {
      EXPECT_EQ(h.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST_F(TarLayerTest, GnuTarListsAndExtractsByteIdenticalFiles) {
  std::string weights = SeededBytes(300'001, 1);
  std::string empty;
  std::string oid = PutObject(*store_, weights);
  std::string empty_oid = PutObject(*store_, empty);
  std::string long_dir = std::string(130, 'L');  // forces PAX path
  auto layer = TarLayer::Create({Dir("models/"), Dir("models/org/"),
                                 StoredFile("models/org/model.safetensors", oid, weights.size()),
                                 StoredFile("models/org/empty.bin", empty_oid, 0),
                                 Dir("models/" + long_dir + "/"),
                                 StoredFile("models/" + long_dir + "/w.bin", oid, weights.size()),
                                 InlineFile("models/org/config.json", "{\"a\":1}\n"),
                                 StoredFile("models/org/run.sh", oid, weights.size(), 0755)});
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->size() % 512, 0u);
  fs::path tarball = WriteLayer(*layer, "layer.tar");

  auto list = test::RunProcessOk({"tar", "--numeric-owner", "-tvf", tarball.string()});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_NE(list->find("-rw-r--r-- 0/0          300001 1970-01-01 00:00 "
                       "models/org/model.safetensors"),
            std::string::npos)
      << *list;
  EXPECT_NE(list->find("-rwxr-xr-x 0/0          300001 1970-01-01 00:00 models/org/run.sh"),
            std::string::npos)
      << *list;
  EXPECT_NE(list->find("drwxr-xr-x 0/0               0 1970-01-01 00:00 models/org/"),
            std::string::npos)
      << *list;
  EXPECT_NE(list->find("models/" + long_dir + "/w.bin"), std::string::npos) << *list;

  fs::path out = dir_->path() / "out";
  ASSERT_TRUE(CreateDirectories(out).ok());
  auto extract = test::RunProcessOk({"tar", "-xf", tarball.string(), "-C", out.string()});
  ASSERT_TRUE(extract.ok()) << extract.status().ToString();
  EXPECT_EQ(*ReadFileToString(out / "models/org/model.safetensors"), weights);
  EXPECT_EQ(*ReadFileToString(out / "models/org/empty.bin"), "");
  EXPECT_EQ(*ReadFileToString(out / ("models/" + long_dir + "/w.bin")), weights);
  EXPECT_EQ(*ReadFileToString(out / "models/org/config.json"), "{\"a\":1}\n");
  struct stat st {};
  ASSERT_EQ(::stat((out / "models/org/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

// A file over 8 GiB costs nothing on disk as a sparse file: the layer's header bytes, then
// a hole where the content and padding go, then the end-of-archive blocks.
TEST_F(TarLayerTest, GnuTarReadsAPaxSizeBeyondEightGiB) {
  const uint64_t size = kTarMaxUstarSize + 1000;
  auto layer = TarLayer::Create({StoredFile("huge.bin", std::string(64, 'a'), size)});
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  const TarSegment& header = layer->segments().front();
  ASSERT_TRUE(header.oid.empty());
  EXPECT_EQ(layer->size(), header.length + size + TarPaddingSize(size) + kTarEndOfArchiveSize);
  fs::path p = dir_->path() / "huge.tar";
  UniqueFd fd(::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(WriteAll(fd.get(), header.bytes).ok());
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(layer->size())), 0);
  fd.reset();
  auto list = test::RunProcessOk({"tar", "--numeric-owner", "-tvf", p.string()});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_NE(list->find(std::to_string(size) + " 1970-01-01 00:00 huge.bin"), std::string::npos)
      << *list;
  // The pieces of a range across the content are arithmetic, never a read.
  auto pieces = layer->Pieces(header.length - 10, header.length + size + 10);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].length, 10u);
  EXPECT_EQ(pieces[1].length, size);
  EXPECT_EQ(pieces[2].length, 10u);
}

TEST_F(TarLayerTest, AnyRangeReadsTheSameBytesAsTheWholeLayer) {
  std::string a = SeededBytes(70'000, 2);
  std::string b = SeededBytes(1'500, 3);
  auto layer = TarLayer::Create({Dir("m/"), StoredFile("m/a", PutObject(*store_, a), a.size()),
                                 StoredFile("m/b", PutObject(*store_, b), b.size())});
  ASSERT_TRUE(layer.ok());
  std::string whole = ReadAll(*layer);
  ASSERT_EQ(whole.size(), layer->size());
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    uint64_t x = rng() % (whole.size() + 1), y = rng() % (whole.size() + 1);
    uint64_t begin = std::min(x, y), end = std::max(x, y);
    std::string got;
    ASSERT_TRUE(ReadTarLayer(*layer, *store_, begin, end, [&](std::string_view d) {
                  got.append(d);
                  return Status::Ok();
                }).ok());
    ASSERT_EQ(got, whole.substr(begin, end - begin)) << begin << ".." << end;
  }
  EXPECT_EQ(ReadTarLayer(*layer, *store_, 0, whole.size() + 1,
                         [](std::string_view) { return Status::Ok(); })
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TarLayerTest, SpecRegeneratesTheSameLayer) {
  std::string a = SeededBytes(5'000, 4);
  std::string oid = PutObject(*store_, a);
  auto layer =
      TarLayer::Create({Dir("m/"), StoredFile("m/" + std::string(200, 'z'), oid, a.size())});
  ASSERT_TRUE(layer.ok());
  ASSERT_TRUE(layer->generated());
  EXPECT_EQ(layer->spec_key(), Sha256Hex(layer->spec()));
  auto again = TarLayer::FromSpec(layer->spec());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->spec(), layer->spec());
  EXPECT_EQ(ReadAll(*again), ReadAll(*layer));
  auto with_inline = TarLayer::Create({InlineFile("x", "y")});
  ASSERT_TRUE(with_inline.ok());
  EXPECT_FALSE(with_inline->generated());
  EXPECT_TRUE(with_inline->spec().empty());
  for (std::string_view junk : {"", "[]", "{\"version\":2,\"entries\":[]}",
                                "{\"version\":1,\"entries\":[{\"type\":\"file\",\"path\":\"a\","
                                "\"mode\":420,\"oid\":\"xyz\",\"size\":1}]}"}) {
    EXPECT_EQ(TarLayer::FromSpec(junk).status().code(), StatusCode::kInvalidArgument) << junk;
  }
}

TEST_F(TarLayerTest, MissingOrTruncatedObjectIsAnError) {
  std::string a = SeededBytes(4'000, 5);
  std::string oid = Sha256Hex(a);
  auto layer = TarLayer::Create({StoredFile("a", oid, a.size())});
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ(HashTarLayer(*layer, *store_).status().code(), StatusCode::kNotFound);
  PutObject(*store_, a);
  fs::path object = store_->ObjectPath(oid);
  fs::permissions(object, fs::perms::owner_write, fs::perm_options::add);
  ASSERT_EQ(::truncate(object.c_str(), 100), 0);
  EXPECT_EQ(HashTarLayer(*layer, *store_).status().code(), StatusCode::kDataLoss);
}

TEST_F(TarLayerTest, DigestIsHashedOnceThenCachedPerSpec) {
  auto catalog = Catalog::Open(dir_->path() / "catalog.sqlite");
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  std::string a = SeededBytes(20'000, 6), b = SeededBytes(20'000, 7);
  std::string oid_a = PutObject(*store_, a), oid_b = PutObject(*store_, b);
  auto shard_a = TarLayer::Create({StoredFile("m/a.bin", oid_a, a.size())});
  auto shard_b = TarLayer::Create({StoredFile("m/b.bin", oid_b, b.size())});
  ASSERT_TRUE(shard_a.ok() && shard_b.ok());

  auto first = CachedTarLayerDigest(*shard_a, *store_, **catalog, 10);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->cached);
  EXPECT_EQ(first->digest, "sha256:" + Sha256Hex(ReadAll(*shard_a)));
  EXPECT_EQ(first->size, shard_a->size());
  auto second = CachedTarLayerDigest(*shard_a, *store_, **catalog, 11);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cached);
  EXPECT_EQ(second->digest, first->digest);
  // Another shard (another oid under its own header) is hashed; the first stays cached.
  auto other = CachedTarLayerDigest(*shard_b, *store_, **catalog, 12);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->cached);
  EXPECT_NE(other->digest, first->digest);
  // The same object under another path is another header: hashed again.
  auto moved = TarLayer::Create({StoredFile("m/renamed.bin", oid_a, a.size())});
  ASSERT_TRUE(moved.ok());
  auto moved_digest = CachedTarLayerDigest(*moved, *store_, **catalog, 13);
  ASSERT_TRUE(moved_digest.ok());
  EXPECT_FALSE(moved_digest->cached);
  // The registry finds the spec again by digest.
  auto by_digest = (*catalog)->FindTarLayerByDigest(first->digest);
  ASSERT_TRUE(by_digest.ok() && by_digest->has_value());
  EXPECT_EQ((*by_digest)->spec, shard_a->spec());
}

// Entries whose content is a file on disk (the recipe's extra files): the layer is the one
// the same bytes inline give, read in bounded chunks from the descriptor opened once, and a
// pinned SHA-256 is checked on exactly those bytes.
class FileBackedTarEntryTest : public TarLayerTest {
 protected:
  void SetUp() override {
    TarLayerTest::SetUp();
    auto oci = OciStore::Open(dir_->path() / "oci");
    ASSERT_TRUE(oci.ok()) << oci.status().ToString();
    oci_ = std::move(*oci);
  }

  fs::path WriteSource(const std::string& name, const std::string& content) {
    fs::path p = dir_->path() / name;
    EXPECT_TRUE(WriteFileAtomically(p, content, 0755).ok());
    return p;
  }

  // The layer's bytes or the read's error; `largest` gets the largest piece fed.
  Result<std::string> Read(const TarLayer& layer, size_t* largest = nullptr) {
    std::string out;
    Status s = ReadTarLayer(layer, *store_, 0, layer.size(), [&](std::string_view d) {
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

  std::unique_ptr<OciStore> oci_;
};

TEST_F(FileBackedTarEntryTest, LayerEqualsTheSameBytesInlineAndIsReadInBoundedChunks) {
  // Not a multiple of the 1 MiB read chunk nor of the 512-byte block: padding follows.
  const std::string binary = SeededBytes((5 << 20) + 77, 31);
  const std::string weight = SeededBytes(4'000, 32);
  const std::string oid = PutObject(*store_, weight);
  fs::path source = WriteSource("serve", binary);

  auto file = FileBackedTarEntry("usr/bin/serve", 0755, source, Sha256Hex(binary));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->entry.size, binary.size());
  TarLayerEntry stored = StoredFile("usr/bin/w.bin", oid, weight.size());
  auto from_file = TarLayer::Create({Dir("usr/"), Dir("usr/bin/"), *file, stored});
  auto from_bytes = TarLayer::Create(
      {Dir("usr/"), Dir("usr/bin/"), InlineFile("usr/bin/serve", binary, 0755), stored});
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status().ToString();
  EXPECT_FALSE(from_file->generated());  // stored whole, never served from a spec
  EXPECT_TRUE(from_file->spec().empty());
  ASSERT_EQ(from_file->size(), from_bytes->size());

  size_t largest = 0;
  auto bytes_file = Read(*from_file, &largest);
  auto bytes_inline = Read(*from_bytes);
  ASSERT_TRUE(bytes_file.ok()) << bytes_file.status().ToString();
  ASSERT_TRUE(bytes_inline.ok()) << bytes_inline.status().ToString();
  EXPECT_EQ(Sha256Hex(*bytes_file), Sha256Hex(*bytes_inline));
  EXPECT_TRUE(*bytes_file == *bytes_inline);
  EXPECT_LE(largest, size_t{1} << 20);  // the file is never held whole

  // Streamed into the OciStore, it is the blob the same bytes put whole give.
  auto writer = oci_->NewWriter();
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  Status streamed = ReadTarLayer(*from_file, *store_, 0, from_file->size(),
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
  ASSERT_TRUE(ReadTarLayer(*from_file, *store_, 1000, 3'000'000, [&](std::string_view d) {
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
  auto bytes = Read(*layer);
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
  auto read = Read(*changed);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << read.status().ToString();

  // Truncated after the open: shorter than the entry says.
  source = WriteSource("short", content);
  auto shortened = FileBackedTarEntry("serve", 0755, source, "");
  ASSERT_TRUE(shortened.ok());
  fs::resize_file(source, content.size() / 2);
  auto short_layer = TarLayer::Create({*shortened});
  ASSERT_TRUE(short_layer.ok());
  EXPECT_EQ(Read(*short_layer).status().code(), StatusCode::kDataLoss);
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
    Status s = ReadTarLayer(*layer, *store_, 0, layer->size(),
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
