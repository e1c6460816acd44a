#include "storage/blob_store.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Content and its oid.
struct Object {
  std::string data;
  std::string oid;
};

Object MakeObject(size_t n, uint64_t seed) {
  Object o{RandomBytes(n, seed), ""};
  o.oid = Sha256Hex(o.data);
  return o;
}

std::string ReadFd(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::vector<std::string> ListDir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view Slice(const std::string& s, ByteRange r) {
  return std::string_view(s).substr(r.begin, r.size());
}

class BlobStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    auto dir = test::TempDir::Create("mirrord-blob-");
    ASSERT_OK(dir);
    dir_.emplace(std::move(dir).value());
    root_ = dir_->path() / "lfs";
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_));
  }

  // Reads the published object back through the store.
  std::string ReadObject(const std::string& oid) {
    auto fd = store_->OpenObject(oid);
    EXPECT_OK(fd);
    if (!fd.ok()) return "";
    return ReadFd(fd->get());
  }

  // Writes `ranges` of `o` and commits each.
  void WriteAndCommit(PartialBlob& p, const Object& o, std::vector<ByteRange> ranges) {
    for (ByteRange r : ranges) {
      ASSERT_OK(p.WriteAt(r.begin, Slice(o.data, r)));
      ASSERT_OK(p.CommitRange(r));
    }
  }

  // The fsynced journal of `oid` ("" when there is none).
  std::string JournalledText(const std::string& oid) {
    auto text = ReadFileToString(root_ / "incomplete" / (oid + ".ranges"));
    return text.ok() ? *text : "";
  }

  std::optional<test::TempDir> dir_;
  fs::path root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(BlobStoreTest, PublishesAndReadsBack) {
  const Object o = MakeObject(300'001, 1);
  EXPECT_FALSE(store_->Contains(o.oid));
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->oid(), o.oid);
  EXPECT_EQ(p->size(), o.data.size());
  EXPECT_THAT(p->MissingRanges(), ElementsAre(ByteRange{0, o.data.size()}));
  EXPECT_EQ(p->DurableBytes(), 0u);
  // The partial is preallocated to its full size.
  EXPECT_EQ(fs::file_size(root_ / "incomplete" / (o.oid + ".part")), o.data.size());

  for (size_t pos = 0; pos < o.data.size(); pos += 65536) {
    ASSERT_OK(p->WriteAt(pos, std::string_view(o.data).substr(pos, 65536)));
  }
  EXPECT_EQ(p->HashedBytes(), o.data.size());
  ASSERT_OK(p->Publish());
  ASSERT_OK(p->Publish());  // idempotent

  EXPECT_TRUE(store_->Contains(o.oid));
  const fs::path path = store_->ObjectPath(o.oid);
  EXPECT_EQ(path, root_ / "objects" / o.oid.substr(0, 2) / o.oid.substr(2, 2) / o.oid);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  EXPECT_EQ(ReadObject(o.oid), o.data);
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto usage, store_->ComputeUsage());
  EXPECT_EQ(usage.objects, 1u);
  EXPECT_EQ(usage.bytes, o.data.size());

  // A finished PartialBlob takes no more data.
  EXPECT_EQ(p->WriteAt(0, "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->CommitRange({0, 1}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->Quarantine().status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(BlobStoreTest, EmptyObject) {
  const Object o = MakeObject(0, 2);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, 0));
  EXPECT_THAT(p->MissingRanges(), IsEmpty());
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), "");
}

TEST_F(BlobStoreTest, StoresEachObjectOnce) {
  const Object a = MakeObject(1000, 3);
  const Object b = MakeObject(2000, 4);
  for (const Object* o : {&a, &b}) {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o->oid, o->data.size()));
    ASSERT_OK(p->WriteAt(0, o->data));
    ASSERT_OK(p->Publish());
  }
  auto again = store_->OpenPartial(a.oid, a.data.size());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  // Also through another instance on the same root (what a restarted daemon sees).
  ASSERT_OK_AND_ASSIGN(auto reopened, BlobStore::Open(root_));
  EXPECT_EQ(reopened->OpenPartial(b.oid, b.data.size()).status().code(),
            StatusCode::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(auto usage, store_->ComputeUsage());
  EXPECT_EQ(usage.objects, 2u);
  EXPECT_EQ(usage.bytes, 3000u);
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());
}

TEST_F(BlobStoreTest, InvalidOidsAndAbsentObjects) {
  const Object o = MakeObject(10, 5);
  for (std::string bad : {std::string(""), std::string("abc"), o.oid.substr(1),
                          std::string(64, 'A'), std::string(63, 'a') + "g", o.oid + "0"}) {
    EXPECT_FALSE(store_->Contains(bad)) << bad;
    EXPECT_EQ(store_->OpenObject(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->OpenPartial(bad, 10).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->OpenObject(o.oid).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store_->Contains(o.oid));
  // An invalid oid never names a path outside objects/.
  EXPECT_EQ(store_->ObjectPath("../../../etc/passwd").parent_path(), root_ / "objects");
}

TEST_F(BlobStoreTest, WrongContentIsQuarantinedAndNeverVisible) {
  const Object good = MakeObject(50'000, 6);
  const std::string bad = RandomBytes(good.data.size(), 7);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(good.oid, good.data.size()));
    ASSERT_OK(p->WriteAt(0, bad));
    ASSERT_OK(p->CommitRange({0, bad.size()}));
    Status s = p->Publish();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
    const fs::path quarantined = root_ / "quarantine" / (good.oid + ".1");
    EXPECT_THAT(s.message(), HasSubstr(good.oid));
    EXPECT_THAT(s.message(), HasSubstr(Sha256Hex(bad)));
    EXPECT_THAT(s.message(), HasSubstr(quarantined.string()));
    ASSERT_OK_AND_ASSIGN(std::string kept, ReadFileToString(quarantined));
    EXPECT_EQ(kept, bad);
    EXPECT_EQ(p->Publish().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(store_->Contains(good.oid));
  EXPECT_EQ(store_->OpenObject(good.oid).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(ListDir(root_ / "objects"), IsEmpty());
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());

  // The next attempt starts from zero, then succeeds.
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(good.oid, good.data.size()));
  EXPECT_EQ(p->DurableBytes(), 0u);
  EXPECT_THAT(p->MissingRanges(), ElementsAre(ByteRange{0, good.data.size()}));
  ASSERT_OK(p->WriteAt(0, good.data));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(good.oid), good.data);
}

TEST_F(BlobStoreTest, ExplicitQuarantineNumbersFilesAndRestartsFromZero) {
  const Object o = MakeObject(4096, 8);
  for (int n = 1; n <= 2; ++n) {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 0u);
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 1000}}));
    ASSERT_OK_AND_ASSIGN(fs::path where, p->Quarantine());
    EXPECT_EQ(where, root_ / "quarantine" / (o.oid + "." + std::to_string(n)));
    EXPECT_TRUE(fs::exists(where));
    EXPECT_EQ(p->WriteAt(1000, "x").code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(p->Publish().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());
}

TEST_F(BlobStoreTest, SizeMismatches) {
  const Object o = MakeObject(10'000, 9);
  // Declared one byte larger than the content: the hash cannot match.
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size() + 1));
    ASSERT_OK(p->WriteAt(0, o.data));
    // Publish with a byte missing says how much is missing.
    Status missing = p->Publish();
    EXPECT_EQ(missing.code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(missing.message(), HasSubstr("1 of 10001 bytes not written"));
    ASSERT_OK(p->CommitRange({0, 5000}));
    ASSERT_OK(p->WriteAt(o.data.size(), "z"));
    EXPECT_EQ(p->Publish().code(), StatusCode::kDataLoss);
  }
  EXPECT_FALSE(store_->Contains(o.oid));
  // A journal written for another size is not trusted.
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size() + 7));
    ASSERT_OK(p->WriteAt(0, o.data));
    ASSERT_OK(p->CommitRange({0, o.data.size()}));
    EXPECT_EQ(p->DurableBytes(), o.data.size());
  }
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 0u);
  EXPECT_THAT(p->MissingRanges(), ElementsAre(ByteRange{0, o.data.size()}));
  // Writes past the end are refused whole.
  EXPECT_EQ(p->WriteAt(o.data.size() - 1, "ab").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->WriteAt(o.data.size() + 1, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->WriteAt(UINT64_MAX, "a").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p->CommitRange({0, o.data.size() + 1}).code(), StatusCode::kInvalidArgument);
  ASSERT_OK(p->WriteAt(0, o.data));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// Ranges 2, 1, 0 in that order: nothing can be hashed until range 0 arrives, and then the
// bytes of ranges 1 and 2 are read back from the file by that same write.
TEST_F(BlobStoreTest, HashesFromTheFileWhenAGapCloses) {
  const Object o = MakeObject(3 * 100'000 + 17, 10);
  const ByteRange r0{0, 100'000}, r1{100'000, 200'000}, r2{200'000, o.data.size()};
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(r2.begin, Slice(o.data, r2)));
  EXPECT_EQ(p->HashedBytes(), 0u);
  ASSERT_OK(p->WriteAt(r1.begin, Slice(o.data, r1)));
  EXPECT_EQ(p->HashedBytes(), 0u);
  ASSERT_OK(p->WriteAt(r0.begin, Slice(o.data, r0)));
  EXPECT_EQ(p->HashedBytes(), o.data.size());
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// The frontier follows the contiguous prefix: a write at the frontier is hashed at once and
// pulls in the already-written bytes right after it, but not beyond the next gap.
TEST_F(BlobStoreTest, HashFrontierStopsAtGaps) {
  const Object o = MakeObject(1000, 11);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(0, Slice(o.data, {0, 100})));
  EXPECT_EQ(p->HashedBytes(), 100u);
  ASSERT_OK(p->WriteAt(300, Slice(o.data, {300, 400})));
  ASSERT_OK(p->WriteAt(500, Slice(o.data, {500, 1000})));
  EXPECT_EQ(p->HashedBytes(), 100u);
  ASSERT_OK(p->WriteAt(100, Slice(o.data, {100, 300})));
  EXPECT_EQ(p->HashedBytes(), 400u);
  ASSERT_OK(p->WriteAt(400, Slice(o.data, {400, 500})));
  EXPECT_EQ(p->HashedBytes(), 1000u);
  ASSERT_OK(p->Publish());
}

// The file always holds what was hashed: a second write of the same bytes is ignored, even
// with different content.
TEST_F(BlobStoreTest, RewritingWrittenBytesKeepsTheFirstContent) {
  const Object o = MakeObject(2000, 12);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(500, Slice(o.data, {500, 1000})));
  ASSERT_OK(p->WriteAt(0, Slice(o.data, {0, 700})));  // overlaps [500, 700)
  ASSERT_OK(p->WriteAt(600, RandomBytes(1400, 13)));  // hashed and unhashed bytes, then new
  EXPECT_EQ(p->HashedBytes(), 2000u);
  Status s = p->Publish();
  // [1000, 2000) came from the random write, so the hash does not match...
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  ASSERT_OK_AND_ASSIGN(std::string kept, ReadFileToString(root_ / "quarantine" / (o.oid + ".1")));
  // ...but everything written before it was kept.
  EXPECT_EQ(kept.substr(0, 1000), o.data.substr(0, 1000));
  p.reset();

  ASSERT_OK_AND_ASSIGN(auto q, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(q->WriteAt(0, o.data));
  ASSERT_OK(q->WriteAt(0, RandomBytes(2000, 14)));
  ASSERT_OK(q->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// Several threads write disjoint ranges in a seeded random order, in small chunks, and
// commit some of them, as the downloader's connections do.
TEST_F(BlobStoreTest, ConcurrentWritersOfDisjointRanges) {
  for (uint64_t seed : {21, 22, 23, 24}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const Object o = MakeObject(4'000'000 + rng() % 100'000, seed);
    std::vector<ByteRange> ranges;
    for (uint64_t pos = 0; pos < o.data.size();) {
      const uint64_t end = std::min<uint64_t>(o.data.size(), pos + 1 + rng() % 200'000);
      ranges.push_back({pos, end});
      pos = end;
    }
    std::shuffle(ranges.begin(), ranges.end(), rng);
    std::vector<uint64_t> chunk_sizes;
    for (size_t i = 0; i < ranges.size(); ++i) chunk_sizes.push_back(1 + rng() % 40'000);

    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    std::atomic<size_t> next{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < ranges.size();) {
          const ByteRange r = ranges[i];
          for (uint64_t pos = r.begin; pos < r.end; pos += chunk_sizes[i]) {
            const uint64_t n = std::min(chunk_sizes[i], r.end - pos);
            if (!p->WriteAt(pos, std::string_view(o.data).substr(pos, n)).ok()) ++failures;
          }
          if (i % 3 == 0 && !p->CommitRange(r).ok()) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    // Everything was hashed while it arrived: Publish has nothing left to read.
    EXPECT_EQ(p->HashedBytes(), o.data.size());
    ASSERT_OK(p->Publish());
    EXPECT_EQ(ReadObject(o.oid), o.data);
  }
}

// After a reboot (another boot id) only the fsynced journal is trusted: bytes written but
// never committed are fetched again.
TEST_F(BlobStoreTest, AfterARebootResumesFromCommittedRangesOnly) {
  const Object o = MakeObject(100'000, 30);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 10'000}, {50'000, 60'000}}));
    // Written and only partly committed; written and never committed.
    ASSERT_OK(p->WriteAt(20'000, Slice(o.data, {20'000, 40'000})));
    ASSERT_OK(p->CommitRange({25'000, 30'000}));
    ASSERT_OK(p->WriteAt(90'000, Slice(o.data, {90'000, 100'000})));
    // Committing what was not written is refused.
    EXPECT_EQ(p->CommitRange({60'000, 60'001}).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(p->DurableBytes(), 25'000u);
    EXPECT_THAT(p->MissingRanges(),
                ElementsAre(ByteRange{10'000, 25'000}, ByteRange{30'000, 50'000},
                            ByteRange{60'000, 100'000}));
  }
  BlobStoreOptions rebooted;
  rebooted.boot_id = "another boot";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, rebooted));
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 25'000u);
  EXPECT_EQ(p->ResumedFromWrittenLog(), 0u);
  const std::vector<ByteRange> missing = p->MissingRanges();
  EXPECT_THAT(missing, ElementsAre(ByteRange{10'000, 25'000}, ByteRange{30'000, 50'000},
                                   ByteRange{60'000, 100'000}));
  // The durable prefix is hashed from disk by the first write, wherever it lands.
  EXPECT_EQ(p->HashedBytes(), 0u);
  ASSERT_OK(p->WriteAt(70'000, Slice(o.data, {70'000, 80'000})));
  EXPECT_EQ(p->HashedBytes(), 10'000u);
  for (ByteRange r : missing) ASSERT_OK(p->WriteAt(r.begin, Slice(o.data, r)));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// A resume trusts the journal (or, on this boot, the .written log) about which bytes are in
// the file, never about their content: they are hashed again, so damage to them is caught at
// Publish, which quarantines the data (the next attempt starts from zero).
TEST_F(BlobStoreTest, ResumeRehashesTrustedBytes) {
  for (const bool committed : {true, false}) {
    SCOPED_TRACE(committed ? "durable bytes" : "bytes only written");
    const Object o = MakeObject(20'000, committed ? 31 : 51);
    {
      ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
      ASSERT_OK(p->WriteAt(0, Slice(o.data, {0, 15'000})));
      if (committed) {
        ASSERT_OK(p->CommitRange({0, 15'000}));
      }
    }
    {
      UniqueFd fd(::open((root_ / "incomplete" / (o.oid + ".part")).c_str(), O_WRONLY));
      ASSERT_TRUE(fd.valid());
      const char flipped = static_cast<char>(o.data[1234] ^ 1);
      ASSERT_EQ(::pwrite(fd.get(), &flipped, 1, 1234), 1);
    }
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 15'000u);
    EXPECT_EQ(p->ResumedFromWrittenLog(), committed ? 0u : 15'000u);
    ASSERT_OK(p->WriteAt(15'000, Slice(o.data, {15'000, 20'000})));
    EXPECT_EQ(p->Publish().code(), StatusCode::kDataLoss);
    EXPECT_FALSE(store_->Contains(o.oid));
    p.reset();
    ASSERT_OK_AND_ASSIGN(p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 0u);
  }
}

// A download process is SIGKILLed after committing some ranges and writing others: the next
// process on this boot fetches exactly the ranges never written (the written ones were in the
// page cache, and the .written log said so); after a reboot (a copy of the store opened
// under another boot id) exactly the uncommitted ones too.
TEST_F(BlobStoreTest, ResumesAfterSigkill) {
  const Object o = MakeObject(1'000'000, 32);
  const std::vector<ByteRange> committed = {{0, 200'000}, {500'000, 600'000}};
  const ByteRange uncommitted{200'000, 500'000};
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: no gtest assertions, an exit code per failed step.
    ::close(ready[0]);
    auto store = BlobStore::Open(root_);
    if (!store.ok()) ::_exit(10);
    auto p = (*store)->OpenPartial(o.oid, o.data.size());
    if (!p.ok()) ::_exit(11);
    for (ByteRange r : committed) {
      if (!(*p)->WriteAt(r.begin, Slice(o.data, r)).ok()) ::_exit(12);
      if (!(*p)->CommitRange(r).ok()) ::_exit(13);
    }
    if (!(*p)->WriteAt(uncommitted.begin, Slice(o.data, uncommitted)).ok()) ::_exit(14);
    if (::write(ready[1], "r", 1) != 1) ::_exit(15);
    for (;;) ::pause();  // mid-download until killed
  }
  ::close(ready[1]);
  char c = 0;
  const ssize_t n = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  if (n == 1) {
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_EQ(n, 1) << "child failed with exit code " << WEXITSTATUS(wstatus);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  ASSERT_EQ(WTERMSIG(wstatus), SIGKILL);

  const fs::path copy = dir_->path() / "rebooted";
  fs::copy(root_, copy, fs::copy_options::recursive);
  {
    BlobStoreOptions rebooted;
    rebooted.boot_id = "another boot";
    ASSERT_OK_AND_ASSIGN(auto store, BlobStore::Open(copy, rebooted));
    ASSERT_OK_AND_ASSIGN(auto p, store->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 300'000u);
    EXPECT_THAT(p->MissingRanges(), ElementsAre(uncommitted, ByteRange{600'000, 1'000'000}));
  }

  ASSERT_OK_AND_ASSIGN(auto store, BlobStore::Open(root_));
  ASSERT_OK_AND_ASSIGN(auto p, store->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 600'000u);
  EXPECT_EQ(p->ResumedFromWrittenLog(), 300'000u);
  const std::vector<ByteRange> missing = p->MissingRanges();
  EXPECT_THAT(missing, ElementsAre(ByteRange{600'000, 1'000'000}));
  for (ByteRange r : missing) ASSERT_OK(p->WriteAt(r.begin, Slice(o.data, r)));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());
}

// Same boot: bytes written but not committed are trusted by the next open, which makes them
// durable (they are in the fsynced journal afterwards, so even a reboot now keeps them).
TEST_F(BlobStoreTest, SameBootResumesFromWrittenBytes) {
  BlobStoreOptions boot_a;
  boot_a.boot_id = "boot-a";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, boot_a));
  const Object o = MakeObject(100'000, 50);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 10'000}}));
    ASSERT_OK(p->WriteAt(10'000, Slice(o.data, {10'000, 30'000})));
    ASSERT_OK(p->WriteAt(70'000, Slice(o.data, {70'000, 80'000})));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 40'000u);
    EXPECT_EQ(p->ResumedFromWrittenLog(), 30'000u);
    EXPECT_THAT(p->MissingRanges(),
                ElementsAre(ByteRange{30'000, 70'000}, ByteRange{80'000, 100'000}));
  }
  BlobStoreOptions boot_b;
  boot_b.boot_id = "boot-b";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, boot_b));
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 40'000u);
  EXPECT_EQ(p->ResumedFromWrittenLog(), 0u);
  for (ByteRange r : p->MissingRanges()) ASSERT_OK(p->WriteAt(r.begin, Slice(o.data, r)));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// A torn or garbled .written log is trusted only up to its last intact record; a log with a
// damaged header (or written for another size) not at all. The fsynced journal counts.
TEST_F(BlobStoreTest, TornWrittenLogIsIgnored) {
  BlobStoreOptions boot_a;
  boot_a.boot_id = "boot-a";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, boot_a));
  const Object o = MakeObject(50'000, 52);
  const fs::path log = root_ / "incomplete" / (o.oid + ".written");
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 5'000}}));
    ASSERT_OK(p->WriteAt(5'000, Slice(o.data, {5'000, 10'000})));
    ASSERT_OK(p->WriteAt(20'000, Slice(o.data, {20'000, 30'000})));
  }
  ASSERT_OK_AND_ASSIGN(const std::string good, ReadFileToString(log));
  const fs::path journal = root_ / "incomplete" / (o.oid + ".ranges");
  ASSERT_OK_AND_ASSIGN(const std::string good_journal, ReadFileToString(journal));
  const size_t header_end = good.find("\n", good.find("sha256 ")) + 1;
  const size_t first_record_end = good.find('\n', header_end) + 1;
  ASSERT_LT(first_record_end, good.size());
  ASSERT_EQ(good.substr(header_end, first_record_end - header_end).substr(0, 11), "5000 10000 ");
  std::string bad_check = good;
  bad_check[first_record_end - 2] = bad_check[first_record_end - 2] == '0' ? '1' : '0';
  std::string bad_header = good;
  bad_header.replace(bad_header.find("boot-a"), 6, "boot-x");
  std::string other_size = good;
  other_size.replace(other_size.find("size 50000"), 10, "size 40000");
  struct Case {
    std::string text;
    uint64_t durable;  // what the open trusts
  };
  const std::vector<Case> cases = {
      {good.substr(0, good.size() - 1), 10'000},      // the second record torn: the first counts
      {good.substr(0, first_record_end - 3), 5'000},  // the first record torn
      {bad_check, 5'000},                             // the first record's check wrong
      {good.substr(0, header_end - 1), 5'000},        // the header torn
      {bad_header, 5'000},
      {other_size, 5'000},
      {RandomBytes(300, 53), 5'000},
      {"", 5'000},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("written log " + std::to_string(i));
    ASSERT_OK(WriteFileAtomically(log, cases[i].text));
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), cases[i].durable);
    // A trusted record was merged into the fsynced journal: undo that for the next case.
    p.reset();
    ASSERT_OK(WriteFileAtomically(journal, good_journal));
  }
  // The intact log is trusted whole.
  ASSERT_OK(WriteFileAtomically(log, good));
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 20'000u);
  for (ByteRange r : p->MissingRanges()) ASSERT_OK(p->WriteAt(r.begin, Slice(o.data, r)));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// Each commit round trims the log to what is written but not durable, so it stays small.
TEST_F(BlobStoreTest, CommitTrimsTheWrittenLog) {
  BlobStoreOptions boot_a;
  boot_a.boot_id = "boot-a";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, boot_a));
  const Object o = MakeObject(1'000'000, 54);
  const fs::path log = root_ / "incomplete" / (o.oid + ".written");
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK_AND_ASSIGN(const std::string empty, ReadFileToString(log));
  for (uint64_t at = 0; at < 500'000; at += 1'000) {
    ASSERT_OK(p->WriteAt(at, Slice(o.data, {at, at + 1'000})));
  }
  EXPECT_GT(fs::file_size(log), empty.size() + 400 * 20);
  ASSERT_OK(p->CommitRange({0, 400'000}));
  ASSERT_OK_AND_ASSIGN(const std::string trimmed, ReadFileToString(log));
  EXPECT_EQ(trimmed.substr(0, empty.size()), empty);
  EXPECT_THAT(trimmed.substr(empty.size()), testing::StartsWith("400000 500000 "));
  EXPECT_EQ(std::count(trimmed.begin(), trimmed.end(), '\n'),
            std::count(empty.begin(), empty.end(), '\n') + 1);
}

TEST_F(BlobStoreTest, DamagedJournalMeansNothingIsDurable) {
  const Object o = MakeObject(30'000, 33);
  const fs::path journal = root_ / "incomplete" / (o.oid + ".ranges");
  std::string good_journal;
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 10'000}, {20'000, 25'000}}));
  }
  ASSERT_OK_AND_ASSIGN(good_journal, ReadFileToString(journal));
  std::string changed_range = good_journal;
  changed_range.replace(changed_range.find("10000"), 5, "19999");  // checksum now wrong
  const std::vector<std::string> damaged = {
      "",
      good_journal.substr(0, good_journal.size() / 2),  // torn
      good_journal.substr(0, good_journal.size() - 1),  // last newline missing
      changed_range,
      RandomBytes(200, 34),
      "mirrord-lfs-ranges 1\nsize 30000\n0 30000\n",  // no checksum
  };
  for (size_t i = 0; i < damaged.size(); ++i) {
    SCOPED_TRACE("damaged journal " + std::to_string(i));
    ASSERT_OK(WriteFileAtomically(journal, damaged[i]));
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    EXPECT_EQ(p->DurableBytes(), 0u);
    EXPECT_THAT(p->MissingRanges(), ElementsAre(ByteRange{0, o.data.size()}));
    EXPECT_FALSE(fs::exists(journal));
  }
  // An intact journal is trusted again.
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 10'000}}));
  p.reset();
  ASSERT_OK_AND_ASSIGN(p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 10'000u);
  ASSERT_OK(p->WriteAt(0, o.data));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

TEST_F(BlobStoreTest, OneDownloadPerOid) {
  const Object o = MakeObject(1000, 35);
  ASSERT_OK_AND_ASSIGN(auto first, store_->OpenPartial(o.oid, o.data.size()));
  auto second = store_->OpenPartial(o.oid, o.data.size());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  // Another store instance on the same root (as another process would be) is refused too.
  ASSERT_OK_AND_ASSIGN(auto other, BlobStore::Open(root_));
  auto third = other->OpenPartial(o.oid, o.data.size());
  EXPECT_EQ(third.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(third.status().message(), HasSubstr("locked"));
  // Other oids are independent.
  const Object b = MakeObject(10, 36);
  ASSERT_OK_AND_ASSIGN(auto unrelated, store_->OpenPartial(b.oid, b.data.size()));

  ASSERT_OK(first->WriteAt(0, Slice(o.data, {0, 400})));
  ASSERT_OK(first->CommitRange({0, 400}));
  first.reset();
  ASSERT_OK_AND_ASSIGN(auto after, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(after->DurableBytes(), 400u);
}

TEST_F(BlobStoreTest, RacingOpenPartialLetsExactlyOneWin) {
  const Object o = MakeObject(1000, 37);
  std::atomic<int> won{0}, refused{0}, other{0};
  std::vector<std::unique_ptr<PartialBlob>> winners(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto p = store_->OpenPartial(o.oid, o.data.size());
      if (p.ok()) {
        ++won;
        winners[t] = std::move(p).value();
      } else if (p.status().code() == StatusCode::kFailedPrecondition) {
        ++refused;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(refused.load(), 3);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(BlobStoreTest, PartialOutlivesStore) {
  const Object o = MakeObject(5000, 38);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  store_.reset();
  ASSERT_OK(p->WriteAt(0, o.data));
  ASSERT_OK(p->Publish());
  p.reset();
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_));
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

TEST_F(BlobStoreTest, OpenRemovesLeftoversButKeepsPartials) {
  const Object o = MakeObject(8000, 39);
  const Object published = MakeObject(100, 40);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 3000}}));
    ASSERT_OK_AND_ASSIGN(auto q, store_->OpenPartial(published.oid, published.data.size()));
    ASSERT_OK(q->WriteAt(0, published.data));
    ASSERT_OK(q->Publish());
  }
  const fs::path incomplete = root_ / "incomplete";
  // A journal write cut short by a crash, and the journal of an object published just
  // before a crash.
  ASSERT_OK(WriteFileAtomically(incomplete / (o.oid + ".ranges.tmp.12345"), "partial"));
  ASSERT_OK(WriteFileAtomically(incomplete / (published.oid + ".ranges"), "stale"));
  ASSERT_OK(WriteFileAtomically(incomplete / (published.oid + ".written"), "stale"));
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_));
  EXPECT_THAT(ListDir(incomplete),
              ElementsAre(o.oid + ".part", o.oid + ".ranges", o.oid + ".written"));
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(p->DurableBytes(), 3000u);
}

TEST_F(BlobStoreTest, CommitAndPublishPreconditions) {
  const Object o = MakeObject(1000, 41);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(0, Slice(o.data, {0, 500})));
  EXPECT_EQ(p->CommitRange({400, 600}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->CommitRange({600, 500}).code(), StatusCode::kInvalidArgument);
  ASSERT_OK(p->CommitRange({100, 100}));  // empty
  ASSERT_OK(p->CommitRange({0, 500}));
  ASSERT_OK(p->CommitRange({0, 500}));  // again: nothing to do
  Status s = p->Publish();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("[500, 1000)"));
  ASSERT_OK(p->WriteAt(500, Slice(o.data, {500, 1000})));
  ASSERT_OK(p->Publish());
  // Publishing removed the journal; a late commit does not bring it back.
  EXPECT_EQ(p->CommitRange({0, 500}).code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(ListDir(root_ / "incomplete"), IsEmpty());
}

// A disk too small for the object fails at OpenPartial (preallocation), before any byte is
// fetched, and leaves nothing behind.
TEST_F(BlobStoreTest, FullDiskFailsEarly) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  const fs::path mnt = dir_->path() / "small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  struct Unmount {
    fs::path dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mnt};

  ASSERT_OK_AND_ASSIGN(auto small, BlobStore::Open(mnt / "lfs"));
  const std::string oid = MakeObject(1, 42).oid;
  const uint64_t size = 8 << 20;
  auto p = small->OpenPartial(oid, size);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted) << p.status().ToString();
  EXPECT_THAT(p.status().message(), HasSubstr(std::to_string(size)));
  EXPECT_THAT(p.status().message(),
              HasSubstr((mnt / "lfs" / "incomplete" / (oid + ".part")).string()));
  EXPECT_THAT(ListDir(mnt / "lfs" / "objects"), IsEmpty());
  EXPECT_THAT(ListDir(mnt / "lfs" / "incomplete"), IsEmpty());
  EXPECT_FALSE(small->Contains(oid));

  // An object that fits still works on the same disk.
  const Object fits = MakeObject(1 << 20, 43);
  ASSERT_OK_AND_ASSIGN(auto q, small->OpenPartial(fits.oid, fits.data.size()));
  ASSERT_OK(q->WriteAt(0, fits.data));
  ASSERT_OK(q->Publish());
  EXPECT_TRUE(small->Contains(fits.oid));
}

// Waits (yielding) until `store` has `n` waiters for `oid`: the waiter is then blocked in
// OpenPartialWhenFree, so what the test does next is what wakes it.
bool WaitForWaiters(const BlobStore& store, const std::string& oid, int n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (store.WaitersFor(oid) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_F(BlobStoreTest, WaiterIsWokenWhenTheOtherDownloadPublishes) {
  const Object o = MakeObject(20'000, 60);
  ASSERT_OK_AND_ASSIGN(auto first, store_->OpenPartial(o.oid, o.data.size()));
  std::atomic<int> waits{0};
  Result<std::unique_ptr<PartialBlob>> second = Internal("not run");
  std::thread waiter([&] {
    BusyWait wait;
    wait.on_wait = [&](std::string_view) { ++waits; };
    second = store_->OpenPartialWhenFree(o.oid, o.data.size(), wait);
  });
  ASSERT_TRUE(WaitForWaiters(*store_, o.oid, 1));
  ASSERT_OK(first->WriteAt(0, o.data));
  ASSERT_OK(first->Publish());
  first.reset();
  waiter.join();
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
  EXPECT_EQ(waits.load(), 1);
  EXPECT_EQ(store_->WaitersFor(o.oid), 0);
}

TEST_F(BlobStoreTest, WaiterTakesOverFromADownloadThatGaveUp) {
  const Object o = MakeObject(20'000, 61);
  ASSERT_OK_AND_ASSIGN(auto first, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*first, o, {{0, 7000}}));
  Result<std::unique_ptr<PartialBlob>> second = Internal("not run");
  std::thread waiter([&] { second = store_->OpenPartialWhenFree(o.oid, o.data.size(), {}); });
  ASSERT_TRUE(WaitForWaiters(*store_, o.oid, 1));
  first.reset();  // failed: its durable bytes stay
  waiter.join();
  ASSERT_OK(second);
  EXPECT_EQ((*second)->DurableBytes(), 7000u);
  EXPECT_THAT((*second)->MissingRanges(), ElementsAre(ByteRange{7000, o.data.size()}));
}

TEST_F(BlobStoreTest, WaiterIsWokenWhenAnotherProcessReleasesTheLock) {
  const Object o = MakeObject(20'000, 62);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 3000}}));
  }
  // Another process's download: its own open file description of the .part, flock()ed (an
  // flock conflicts between descriptions, also within one process).
  const fs::path part = root_ / "incomplete" / (o.oid + ".part");
  UniqueFd foreign(::open(part.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(foreign.valid());
  ASSERT_EQ(::flock(foreign.get(), LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(store_->OpenPartial(o.oid, o.data.size()).status().code(),
            StatusCode::kFailedPrecondition);

  // Two waiters in this process: one helper blocks on the lock for both.
  std::vector<Result<std::unique_ptr<PartialBlob>>> got;
  got.emplace_back(Internal("not run"));
  got.emplace_back(Internal("not run"));
  std::mutex got_mu;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&, i] {
      auto r = store_->OpenPartialWhenFree(o.oid, o.data.size(), {});
      std::lock_guard lock(got_mu);
      got[i] = std::move(r);
    });
  }
  ASSERT_TRUE(WaitForWaiters(*store_, o.oid, 2));
  foreign.reset();  // the other process ends (or dies): the lock goes with its descriptor
  // Exactly one waiter gets the partial; the other waits for it in turn and gets it when
  // the first gives it back.
  std::unique_ptr<PartialBlob> winner;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (winner == nullptr && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(got_mu);
      for (auto& g : got) {
        if (g.ok() && *g != nullptr) winner = std::move(*g);
      }
    }
    std::this_thread::yield();
  }
  ASSERT_NE(winner, nullptr);
  EXPECT_EQ(winner->DurableBytes(), 3000u);
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*winner, o, {{3000, o.data.size()}}));
  ASSERT_OK(winner->Publish());
  winner.reset();
  for (auto& t : waiters) t.join();
  int present = 0;
  for (auto& g : got) {
    if (!g.ok() && g.status().code() == StatusCode::kAlreadyExists) ++present;
  }
  EXPECT_EQ(present, 1);
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

// A process that stopped (SIGSTOP, a frozen node) keeps its flock on the .part for ever: once
// the .part has not changed for stale_part_after, a waiter downloads into a private partial
// instead, and the object is published from it; the stopped holder's files are untouched.
TEST_F(BlobStoreTest, AStoppedHolderOfThePartIsNotWaitedForEver) {
  store_.reset();
  BlobStoreOptions options;
  options.stale_part_after = std::chrono::seconds(60);
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, options));
  const Object o = MakeObject(20'000, 63);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*p, o, {{0, 3000}}));
  }
  const fs::path part = root_ / "incomplete" / (o.oid + ".part");
  UniqueFd stopped(::open(part.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(stopped.valid());
  ASSERT_EQ(::flock(stopped.get(), LOCK_EX | LOCK_NB), 0);
  // Fresh: a live download elsewhere is waited for (here up to a deadline).
  BusyWait brief;
  brief.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  EXPECT_EQ(store_->OpenPartialWhenFree(o.oid, o.data.size(), brief).status().code(),
            StatusCode::kDeadlineExceeded);
  // Unchanged for two minutes: the holder stopped.
  struct timespec old[2];
  ASSERT_EQ(::clock_gettime(CLOCK_REALTIME, &old[0]), 0);
  old[0].tv_sec -= 120;
  old[1] = old[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, part.c_str(), old, 0), 0);
  ASSERT_OK_AND_ASSIGN(auto mine, store_->OpenPartialWhenFree(o.oid, o.data.size(), {}));
  EXPECT_EQ(mine->DurableBytes(), 0u);  // the stopped one's bytes are not trusted or shared
  // One download per oid in this process still holds for the private partial.
  EXPECT_EQ(store_->OpenPartial(o.oid, o.data.size()).status().code(),
            StatusCode::kFailedPrecondition);
  ASSERT_NO_FATAL_FAILURE(WriteAndCommit(*mine, o, {{0, o.data.size()}}));
  ASSERT_OK(mine->Publish());
  mine.reset();
  EXPECT_EQ(ReadObject(o.oid), o.data);
  EXPECT_TRUE(fs::exists(part));  // the stopped holder's file is its own
  std::vector<std::string> privates;
  for (const auto& e : fs::directory_iterator(root_ / "incomplete")) {
    // "<oid>.<16 hex>.part" or ".ranges"; the shared "<oid>.part" and "<oid>.ranges" stay.
    if (e.path().filename().string().size() >= o.oid.size() + 1 + 16 + 5) {
      privates.push_back(e.path());
    }
  }
  EXPECT_TRUE(privates.empty()) << privates.front();

  // A private partial abandoned by a crash is removed by the next Open, not while in use.
  const fs::path abandoned = root_ / "incomplete" / (o.oid + ".0123456789abcdef.part");
  const fs::path in_use = root_ / "incomplete" / (o.oid + ".fedcba9876543210.part");
  { std::ofstream(abandoned) << "x"; }
  { std::ofstream(in_use) << "x"; }
  UniqueFd holder(::open(in_use.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(::flock(holder.get(), LOCK_EX | LOCK_NB), 0);
  store_.reset();
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, options));
  EXPECT_FALSE(fs::exists(abandoned));
  EXPECT_TRUE(fs::exists(in_use));
}

TEST_F(BlobStoreTest, WaitingHonoursCancelAndDeadline) {
  const Object o = MakeObject(1000, 63);
  ASSERT_OK_AND_ASSIGN(auto first, store_->OpenPartial(o.oid, o.data.size()));
  std::atomic<bool> cancel{false};
  Result<std::unique_ptr<PartialBlob>> second = Internal("not run");
  std::thread waiter([&] {
    BusyWait wait;
    wait.cancel = &cancel;
    second = store_->OpenPartialWhenFree(o.oid, o.data.size(), wait);
  });
  ASSERT_TRUE(WaitForWaiters(*store_, o.oid, 1));
  cancel = true;
  waiter.join();
  EXPECT_EQ(second.status().code(), StatusCode::kCancelled) << second.status().ToString();

  BusyWait expired;
  expired.deadline = std::chrono::steady_clock::now();
  EXPECT_EQ(store_->OpenPartialWhenFree(o.oid, o.data.size(), expired).status().code(),
            StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store_->WaitersFor(o.oid), 0);
}

// Eight connections write and commit their own stretches at once, waiting for each commit
// (CommitRange) or not (CommitRangeWhenConvenient, then one CommitRange of the whole stretch
// at the end, as a piece does): every range ends up durable and journalled.
class BlobStoreConcurrentCommits : public BlobStoreTest,
                                   public testing::WithParamInterface<bool> {};

TEST_P(BlobStoreConcurrentCommits, AllAreDurable) {
  const bool wait_each = GetParam();
  constexpr size_t kThreads = 8;
  constexpr size_t kChunk = 4096;
  constexpr size_t kChunksPerThread = 32;
  const Object o = MakeObject(kThreads * kChunk * kChunksPerThread, 64);
  {
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Thread t owns one contiguous stretch, committed chunk by chunk.
        const uint64_t first = t * kChunksPerThread * kChunk;
        for (size_t c = 0; c < kChunksPerThread; ++c) {
          const uint64_t b = first + c * kChunk;
          const ByteRange r{b, b + kChunk};
          if (!p->WriteAt(r.begin, Slice(o.data, r)).ok()) ++failures;
          const Status committed = wait_each ? p->CommitRange(r) : p->CommitRangeWhenConvenient(r);
          if (!committed.ok()) ++failures;
        }
        if (!p->CommitRange({first, first + kChunksPerThread * kChunk}).ok()) ++failures;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(p->DurableBytes(), o.data.size());
  }
  // The fsynced journal holds every range (opened as after a reboot, so that the .written
  // log does not count): a new attempt has nothing left to fetch.
  BlobStoreOptions rebooted;
  rebooted.boot_id = "another boot";
  ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(root_, rebooted));
  ASSERT_OK_AND_ASSIGN(auto again, store_->OpenPartial(o.oid, o.data.size()));
  EXPECT_EQ(again->DurableBytes(), o.data.size());
  EXPECT_THAT(again->MissingRanges(), IsEmpty());
  ASSERT_OK(again->Publish());
  EXPECT_EQ(ReadObject(o.oid), o.data);
}

INSTANTIATE_TEST_SUITE_P(WaitOrNot, BlobStoreConcurrentCommits, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& wait_each) {
                           return wait_each.param ? "WaitEach" : "WhenConvenient";
                         });

// The ranges of a .written log's intact records (the format of blob_store.h's log: four
// header lines, then "BEGIN END CHECK").
std::vector<ByteRange> WrittenLogRanges(const fs::path& log) {
  std::vector<ByteRange> out;
  auto text = ReadFileToString(log);
  if (!text.ok()) return out;
  std::istringstream in(*text);
  std::string line;
  for (int n = 0; std::getline(in, line); ++n) {
    if (n < 4 || in.eof()) continue;
    ByteRange r;
    std::string check;
    std::istringstream fields(line);
    if (fields >> r.begin >> r.end >> check) out.push_back(r);
  }
  return out;
}

// Four connections write their stretches in chunks and commit every 16 chunks without
// waiting, as the downloader does mid-piece, and stop (no final commit: the process dies
// here). Between them the fsynced journal and the .written log name every written byte
// exactly once, so a resume on this boot refetches nothing and nothing unwritten.
TEST_F(BlobStoreTest, WrittenLogAndJournalNameEveryWrittenByteOnce) {
  constexpr size_t kThreads = 4;
  constexpr size_t kChunk = 4096;
  constexpr size_t kStretch = 64 * kChunk;
  constexpr size_t kWrittenPerThread = 44 * kChunk + 1000;
  const Object o = MakeObject(kThreads * kStretch, 66);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint64_t first = t * kStretch;
      uint64_t committed = first;
      for (uint64_t at = first; at < first + kWrittenPerThread; at += kChunk) {
        const ByteRange r{at, std::min<uint64_t>(at + kChunk, first + kWrittenPerThread)};
        if (!p->WriteAt(r.begin, Slice(o.data, r)).ok()) ++failures;
        if (r.end - committed >= 16 * kChunk) {
          if (!p->CommitRangeWhenConvenient({committed, r.end}).ok()) ++failures;
          committed = r.end;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  std::vector<uint8_t> named(o.data.size(), 0);
  std::istringstream journal(JournalledText(o.oid));
  std::string line;
  for (int n = 0; std::getline(journal, line); ++n) {
    ByteRange r;
    std::istringstream fields(line);
    if (n < 2 || line.starts_with("sha256 ") || !(fields >> r.begin >> r.end)) continue;
    for (uint64_t i = r.begin; i < r.end; ++i) ++named[i];
  }
  for (ByteRange r : WrittenLogRanges(root_ / "incomplete" / (o.oid + ".written"))) {
    for (uint64_t i = r.begin; i < r.end; ++i) ++named[i];
  }
  for (size_t t = 0; t < kThreads; ++t) {
    const uint64_t first = t * kStretch;
    for (uint64_t i = first; i < first + kStretch; ++i) {
      const int want = i < first + kWrittenPerThread ? 1 : 0;
      ASSERT_EQ(named[i], want) << "byte " << i << " of stretch " << t;
    }
  }
}

// With no round running, CommitRangeWhenConvenient leads one itself: the range is durable
// when it returns. Its preconditions are CommitRange's.
TEST_F(BlobStoreTest, CommitWhenConvenientAloneIsDurableAtOnce) {
  const Object o = MakeObject(30'000, 65);
  ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(o.oid, o.data.size()));
  ASSERT_OK(p->WriteAt(0, Slice(o.data, {0, 20'000})));
  EXPECT_EQ(p->CommitRangeWhenConvenient({0, 25'000}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->CommitRangeWhenConvenient({0, 40'000}).code(), StatusCode::kInvalidArgument);
  ASSERT_OK(p->CommitRangeWhenConvenient({0, 20'000}));
  EXPECT_EQ(p->DurableBytes(), 20'000u);
  EXPECT_THAT(JournalledText(o.oid), HasSubstr("\n0 20000\n"));
  ASSERT_OK(p->WriteAt(20'000, Slice(o.data, {20'000, 30'000})));
  ASSERT_OK(p->Publish());
  EXPECT_EQ(p->CommitRangeWhenConvenient({0, 20'000}).code(), StatusCode::kFailedPrecondition);
}

// Quarantines a copy of `o` with wrong bytes; returns the path the store reported.
fs::path QuarantineBadCopy(BlobStore& store, const Object& o, uint64_t seed) {
  auto p = store.OpenPartial(o.oid, o.data.size());
  EXPECT_OK(p);
  if (!p.ok()) return {};
  EXPECT_OK((*p)->WriteAt(0, RandomBytes(o.data.size(), seed)));
  auto where = (*p)->Quarantine();
  EXPECT_OK(where);
  return where.ok() ? *where : fs::path();
}

uint64_t BytesIn(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) total += e.file_size();
  return total;
}

TEST_F(BlobStoreTest, QuarantineKeepsOneCopyPerObjectByDefault) {
  const Object o = MakeObject(5000, 65);
  for (uint64_t i = 0; i < 5; ++i) QuarantineBadCopy(*store_, o, 100 + i);
  const fs::path last = QuarantineBadCopy(*store_, o, 200);
  // Only the newest copy stays.
  EXPECT_THAT(ListDir(root_ / "quarantine"), ElementsAre(last.filename().string()));
  ASSERT_OK_AND_ASSIGN(std::string kept, ReadFileToString(last));
  EXPECT_EQ(kept, RandomBytes(o.data.size(), 200));
  const BlobStore::QuarantineUsage q = store_->quarantine_usage();
  EXPECT_EQ(q.files, 1u);
  EXPECT_EQ(q.bytes, o.data.size());
  EXPECT_EQ(q.dropped, 5u);
}

TEST_F(BlobStoreTest, QuarantineStaysWithinItsByteBudgetOldestFirst) {
  BlobStoreOptions options;
  options.quarantine_budget = 10'000;
  options.quarantine_per_object = 3;
  ASSERT_OK_AND_ASSIGN(auto store, BlobStore::Open(dir_->path() / "budget", options));
  const fs::path q = dir_->path() / "budget" / "quarantine";
  std::vector<fs::path> kept;
  for (uint64_t i = 0; i < 8; ++i) {
    const Object o = MakeObject(3000, 300 + i);
    kept.push_back(QuarantineBadCopy(*store, o, 400 + i));
    EXPECT_LE(BytesIn(q), options.quarantine_budget);
    EXPECT_EQ(store->quarantine_usage().bytes, BytesIn(q));
  }
  // Three copies of 3000 bytes fit in 10,000: the three newest.
  std::vector<std::string> want;
  for (size_t i = kept.size() - 3; i < kept.size(); ++i)
    want.push_back(kept[i].filename().string());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ListDir(q), want);
  EXPECT_EQ(store->quarantine_usage().dropped, 5u);

  // A copy larger than the whole budget is not kept at all.
  const Object huge = MakeObject(20'000, 350);
  QuarantineBadCopy(*store, huge, 351);
  EXPECT_LE(BytesIn(q), options.quarantine_budget);
  for (const std::string& name : ListDir(q)) EXPECT_FALSE(name.starts_with(huge.oid));

  // Reopening with a smaller budget trims what is there.
  store.reset();
  options.quarantine_budget = 3000;
  ASSERT_OK_AND_ASSIGN(store, BlobStore::Open(dir_->path() / "budget", options));
  EXPECT_EQ(ListDir(q).size(), 1u);
  EXPECT_EQ(store->quarantine_usage().bytes, 3000u);
}

// A measurement, not a test (run with --gtest_also_run_disabled_tests): what committing
// every 1 MiB instead of every 16 MiB per connection costs, 8 connections writing 512 KiB
// chunks (curl's buffer in the downloader) of a 256 MiB object into the store's disk.
TEST_F(BlobStoreTest, DISABLED_MeasureCommitIntervalCost) {
  constexpr uint64_t kSize = uint64_t{256} << 20;
  constexpr int kConnections = 8;
  constexpr uint64_t kChunk = 512 << 10;
  const std::string chunk = RandomBytes(kChunk, 77);
  for (uint64_t interval :
       {uint64_t{16} << 20, uint64_t{1} << 20, uint64_t{16} << 20, uint64_t{1} << 20}) {
    // Any oid: the object is never published, only written and committed.
    const std::string oid =
        Sha256Hex("interval " + std::to_string(interval) + std::to_string(std::rand()));
    ASSERT_OK_AND_ASSIGN(auto p, store_->OpenPartial(oid, kSize));
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    const uint64_t share = kSize / kConnections;
    for (int c = 0; c < kConnections; ++c) {
      threads.emplace_back([&, c] {
        uint64_t run_begin = c * share;
        for (uint64_t off = c * share; off < (c + 1) * share; off += kChunk) {
          ASSERT_OK(p->WriteAt(off, chunk));
          if (off + kChunk - run_begin >= interval) {
            ASSERT_OK(p->CommitRange({run_begin, off + kChunk}));
            run_begin = off + kChunk;
          }
        }
        if (run_begin < (c + 1) * share) {
          ASSERT_OK(p->CommitRange({run_begin, (c + 1) * share}));
        }
      });
    }
    for (auto& t : threads) t.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ measure ] commit every " << (interval >> 20)
              << " MiB per connection: " << (kSize >> 20) / s << " MiB/s (" << s << " s for "
              << (kSize >> 20) << " MiB)" << std::endl;
    (void)p->Quarantine();
  }
}

}  // namespace
}  // namespace mirrord
