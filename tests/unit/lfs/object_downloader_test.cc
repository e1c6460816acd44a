// ObjectDownloader against the test upstream's LFS endpoint (real HTTP on loopback, real
// faults) into a real BlobStore in a temporary directory.
#include "lfs/object_downloader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Gt;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kRepo[] = "o/r";
constexpr char kRef[] = "refs/heads/main";
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kPiece = 256 * kKiB;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Faults set field by field: designated initializers would have to name every member.
test::Fault StatusFault(std::string path, int status, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.status = status;
  f.times = times;
  return f;
}
test::Fault StallFault(std::string path, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.stall = true;
  f.times = times;
  return f;
}
test::Fault DropFault(std::string path, uint64_t after_bytes, int times = -1) {
  test::Fault f;
  f.path_substring = std::move(path);
  f.drop_after_bytes = after_bytes;
  f.times = times;
  return f;
}
test::Fault WithHeader(test::Fault f, std::string name, std::string value) {
  f.extra_headers[std::move(name)] = std::move(value);
  return f;
}
test::LfsObjectFault BatchError(int code) {
  test::LfsObjectFault f;
  f.batch_error = code;
  return f;
}
test::LfsObjectFault CorruptAt(uint64_t offset, int times) {
  test::LfsObjectFault f;
  f.corrupt_offset = offset;
  f.corrupt_times = times;
  return f;
}
test::LfsObjectFault DropAfter(uint64_t bytes, int times) {
  test::LfsObjectFault f;
  f.drop_after_bytes = bytes;
  f.drop_times = times;
  return f;
}
test::LfsObjectFault IgnoreRange() {
  test::LfsObjectFault f;
  f.ignore_range = true;
  return f;
}

class RecordingSleeper {
 public:
  std::function<void(milliseconds)> Fn() {
    return [this](milliseconds d) {
      std::lock_guard lock(mu_);
      waits_.push_back(d);
    };
  }
  std::vector<milliseconds> waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<milliseconds> waits_;
};

TEST(PlanLfsPiecesTest, SplitsIntoAtMostNPiecesNoSmallerThanTheMinimum) {
  // 4 MiB over 8 connections with 256 KiB minimum: 8 pieces of 512 KiB.
  std::vector<ByteRange> pieces = PlanLfsPieces({{0, 4 * kMiB}}, 8, kPiece, 16 * kMiB);
  ASSERT_THAT(pieces, SizeIs(8));
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_EQ(pieces[i], (ByteRange{i * 512 * kKiB, (i + 1) * 512 * kKiB}));
  }
  // Small objects: one piece.
  EXPECT_THAT(PlanLfsPieces({{0, 300 * kKiB}}, 8, kPiece, 16 * kMiB),
              ElementsAre(ByteRange{0, 300 * kKiB}));
  // 1 MiB with 256 KiB minimum: 4 pieces, not 8.
  EXPECT_THAT(PlanLfsPieces({{0, kMiB}}, 8, kPiece, 16 * kMiB), SizeIs(4));
  // Several missing ranges: each cut in equal parts, together covering exactly the gaps.
  std::vector<ByteRange> gaps = {{100, 100 + 3 * kMiB}, {5 * kMiB, 5 * kMiB + 10}};
  pieces = PlanLfsPieces(gaps, 4, kPiece, 16 * kMiB);
  uint64_t covered = 0;
  for (const ByteRange& p : pieces) {
    covered += p.size();
    EXPECT_TRUE((p.begin >= gaps[0].begin && p.end <= gaps[0].end) ||
                (p.begin >= gaps[1].begin && p.end <= gaps[1].end));
  }
  EXPECT_EQ(covered, 3 * kMiB + 10);
  EXPECT_THAT(pieces, Contains(ByteRange{5 * kMiB, 5 * kMiB + 10}));
  EXPECT_TRUE(PlanLfsPieces({}, 8, kPiece, 16 * kMiB).empty());
}

TEST(PlanLfsPiecesTest, ALargeObjectIsCutIntoBoundedPiecesInAscendingOrder) {
  const uint64_t size = 2048 * kMiB;
  const uint64_t max_piece = 16 * kMiB;
  std::vector<ByteRange> pieces = PlanLfsPieces({{0, size}}, 8, 8 * kMiB, max_piece);
  ASSERT_THAT(pieces, SizeIs(128));
  uint64_t next = 0;
  for (const ByteRange& p : pieces) {
    EXPECT_EQ(p.begin, next);  // ascending, no gap, no overlap
    EXPECT_GT(p.size(), 0u);
    EXPECT_LE(p.size(), max_piece);
    next = p.end;
  }
  EXPECT_EQ(next, size);

  // An odd size: equal pieces within the bound, no sliver at the end.
  pieces = PlanLfsPieces({{0, 300 * kMiB + 1}}, 8, 8 * kMiB, max_piece);
  ASSERT_THAT(pieces, SizeIs(19));
  EXPECT_EQ(pieces.front().begin, 0u);
  EXPECT_EQ(pieces.back().end, 300 * kMiB + 1);
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_LE(pieces[i].size(), max_piece);
    EXPECT_GE(pieces[i].size(), 15 * kMiB);
    if (i > 0) {
      EXPECT_EQ(pieces[i].begin, pieces[i - 1].end);
    }
  }

  // A resume: each gap is cut within the bound, in order, covering exactly the gaps.
  std::vector<ByteRange> gaps = {{5, 40 * kMiB}, {64 * kMiB, 65 * kMiB}, {70 * kMiB, 200 * kMiB}};
  pieces = PlanLfsPieces(gaps, 8, 8 * kMiB, max_piece);
  uint64_t covered = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_LE(pieces[i].size(), max_piece);
    if (i > 0) {
      EXPECT_GE(pieces[i].begin, pieces[i - 1].end);
    }
    bool inside = false;
    for (const ByteRange& g : gaps) inside |= pieces[i].begin >= g.begin && pieces[i].end <= g.end;
    EXPECT_TRUE(inside) << pieces[i].begin << "-" << pieces[i].end;
    covered += pieces[i].size();
  }
  EXPECT_EQ(covered, 40 * kMiB - 5 + kMiB + 130 * kMiB);

  // Small objects stay one piece; medium ones still use every connection.
  EXPECT_THAT(PlanLfsPieces({{0, 5 * kMiB}}, 8, 8 * kMiB, max_piece),
              ElementsAre(ByteRange{0, 5 * kMiB}));
  EXPECT_THAT(PlanLfsPieces({{0, 64 * kMiB}}, 8, 8 * kMiB, max_piece), SizeIs(8));
}

class ObjectDownloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("no_proxy", "*", 1);
    ::setenv("NO_PROXY", "*", 1);
    ASSERT_OK_AND_ASSIGN(test::TempDir tmp, test::TempDir::Create("mirrord-lfs-download-"));
    tmp_ = std::make_unique<test::TempDir>(std::move(tmp));
    ASSERT_OK_AND_ASSIGN(upstream_, test::TestUpstream::Start(tmp_->path() / "upstream"));
    ASSERT_OK(upstream_->CreateBareRepo(kRepo));
    ASSERT_OK_AND_ASSIGN(lfs_, test::TestLfsEndpoint::Attach(*upstream_, tmp_->path() / "lfs"));
    lfs_->SetHrefLifetime(seconds(3600));
    ASSERT_OK_AND_ASSIGN(store_, BlobStore::Open(tmp_->path() / "store"));
    LfsBatchClientOptions batch_options;
    batch_options.timing.sleep = sleeper_.Fn();
    batch_options.timing.seed = 1;
    batch_ = std::make_unique<LfsBatchClient>(
        LfsBatchClient::EndpointForCloneUrl(upstream_->UrlFor(kRepo)), batch_options);
  }

  ObjectDownloaderOptions Options() {
    ObjectDownloaderOptions o;
    o.max_connections = 8;
    o.min_piece_size = kPiece;
    o.commit_interval = 128 * kKiB;
    o.stall_timeout = seconds(20);
    o.connect_timeout = seconds(5);
    o.timing.sleep = sleeper_.Fn();
    o.timing.seed = 7;
    o.cancel = &cancel_;
    return o;
  }

  std::string ObjectPath(const std::string& oid) const { return "/lfs/objects/" + oid; }

  // The stored object is byte for byte the upstream's.
  void ExpectStored(const LfsPointer& object) {
    ASSERT_TRUE(store_->Contains(object.oid));
    std::string stored = ReadAll(store_->ObjectPath(object.oid));
    std::string original = ReadAll(lfs_->ObjectPath(object.oid));
    EXPECT_EQ(stored.size(), object.size);
    EXPECT_TRUE(stored == original) << "stored object differs from the upstream's";
  }

  std::vector<fs::path> QuarantineFiles() const {
    std::vector<fs::path> out;
    fs::path dir = store_->root() / "quarantine";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) out.push_back(entry.path());
    return out;
  }

  Result<LfsPointer> PutGenerated(uint64_t size, uint64_t seed) {
    ASSIGN_OR_RETURN(std::string oid, lfs_->PutGeneratedObject(size, seed));
    return LfsPointer{oid, size};
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<test::TestUpstream> upstream_;
  std::unique_ptr<test::TestLfsEndpoint> lfs_;
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<LfsBatchClient> batch_;
  RecordingSleeper sleeper_;
  std::atomic<bool> cancel_{false};
};

TEST_F(ObjectDownloaderTest, DownloadsOverSeveralConnectionsFetchingEachByteOnce) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(4 * kMiB + 123, 1));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  std::mutex mu;
  std::vector<uint64_t> progress;
  LfsDownloadReport report = downloader.Download(
      object, std::nullopt, kRef, [&](const LfsPointer& p, uint64_t done, uint64_t total) {
        std::lock_guard lock(mu);
        EXPECT_EQ(p, object);
        EXPECT_EQ(total, object.size);
        progress.push_back(done);
      });
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_FALSE(report.already_present);
  EXPECT_EQ(lfs_->BytesServed(object.oid), object.size);
  EXPECT_EQ(report.received_bytes, object.size);
  EXPECT_EQ(lfs_->ObjectGets(object.oid), 8);
  EXPECT_EQ(report.requests, 8);
  EXPECT_EQ(lfs_->BatchRequests(), 1);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front(), 0u);
  EXPECT_EQ(progress.back(), object.size);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  for (const test::RequestRecord& r : upstream_->requests()) {
    if (r.target.find(ObjectPath(object.oid)) != std::string::npos) {
      EXPECT_THAT(r.range, HasSubstr("bytes="));
      EXPECT_EQ(r.status, 206);
    }
  }

  // Present now: nothing is fetched again.
  LfsDownloadReport again = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(again.status);
  EXPECT_TRUE(again.already_present);
  EXPECT_EQ(lfs_->ObjectGets(object.oid), 8);
}

// Waits until `n` distinct requests are held by a stall fault.
Status WaitForStalled(test::TestUpstream& upstream, size_t n) {
  std::set<uint64_t> stalled;
  return upstream
      .WaitForRequest(
          [&](const test::RequestRecord& r) {
            if (r.stalled) stalled.insert(r.seq);
            return stalled.size() >= n;
          },
          milliseconds(30'000))
      .status();
}

// The SHA-256 follows the download: every connection is held once it has completed a piece
// beyond the first two, so when all 8 are held, pieces 0-9 are complete and nothing else is
// written; the hashed prefix must then be exactly those 10 pieces, with most of the object
// still to come. (With 8 equal pieces of 1 MiB, the 7 beyond the first 512 KiB are held and
// the eighth connection finds nothing more to do: 8 are never held.)
TEST_F(ObjectDownloaderTest, TheHashFollowsTheCompletedPrefixDuringTheDownload) {
  const uint64_t size = 32 * kPiece;
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(size, 41));
  ObjectDownloaderOptions options = Options();
  options.max_piece_size = kPiece;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int held = 0;
  std::vector<ByteRange> completed;
  const PartialBlob* seen_blob = nullptr;
  options.on_piece_done = [&](const PartialBlob& blob, ByteRange piece) {
    std::unique_lock lock(mu);
    completed.push_back(piece);
    seen_blob = &blob;
    if (piece.begin < 2 * kPiece) return;
    ++held;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report;
  std::thread worker([&] { report = downloader.Download(object, std::nullopt, kRef); });
  uint64_t hashed = 0;
  bool all_held = false;
  std::vector<ByteRange> done_while_held;
  {
    std::unique_lock lock(mu);
    // The timeout only turns a failure into a report instead of a hang.
    all_held = cv.wait_for(lock, seconds(30), [&] { return held == 8; });
    if (all_held) hashed = seen_blob->HashedBytes();
    done_while_held = completed;
    release = true;
  }
  cv.notify_all();
  worker.join();
  ASSERT_TRUE(all_held) << "connections held: " << held;
  std::sort(done_while_held.begin(), done_while_held.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  ASSERT_THAT(done_while_held, SizeIs(10));
  for (size_t i = 0; i < done_while_held.size(); ++i) {
    EXPECT_EQ(done_while_held[i], (ByteRange{i * kPiece, (i + 1) * kPiece}));
  }
  EXPECT_EQ(hashed, 10 * kPiece);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(report.requests, 32);
  EXPECT_EQ(lfs_->BytesServed(object.oid), size);
}

// Many bounded pieces over kept-alive connections: each byte fetched once, the journal
// holding only the few ranges of pieces in flight, and a resume planning bounded pieces of
// the gaps.
TEST_F(ObjectDownloaderTest, ManySmallPiecesDownloadAndResume) {
  const uint64_t size = 64 * kPiece + 77;
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(size, 42));
  ObjectDownloaderOptions options = Options();
  options.max_piece_size = kPiece;
  options.progress_interval = milliseconds(0);
  size_t max_journal = 0;
  const fs::path journal = store_->root() / "incomplete" / (object.oid + ".ranges");
  options.on_piece_done = [&](const PartialBlob&, ByteRange) {
    std::error_code ec;
    uintmax_t n = fs::file_size(journal, ec);
    if (!ec) max_journal = std::max<size_t>(max_journal, n);
  };
  {
    ObjectDownloader first(store_.get(), batch_.get(), options);
    LfsDownloadReport report =
        first.Download(object, std::nullopt, kRef, [&](const LfsPointer&, uint64_t done, uint64_t) {
          if (done >= size / 2) cancel_ = true;
        });
    EXPECT_EQ(report.status.code(), StatusCode::kCancelled) << report.status.ToString();
  }
  cancel_ = false;
  options.user_agent = "mirrord-second-run";
  ObjectDownloader second(store_.get(), batch_.get(), options);
  LfsDownloadReport report = second.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_GE(report.resumed_bytes, size / 2);
  uint64_t served_second = 0;
  for (const test::RequestRecord& r : upstream_->requests()) {
    if (r.user_agent != "mirrord-second-run") continue;
    served_second += r.response_body_bytes;
    EXPECT_EQ(r.status, 206);
  }
  EXPECT_EQ(served_second, size - report.resumed_bytes);
  // The journal lists a few ranges per connection (pieces in flight and the gaps they
  // leave), not one per piece: its header and checksum take ~110 bytes, a range ~16.
  EXPECT_GT(max_journal, 0u);
  EXPECT_LT(max_journal, 64u * (options.max_connections + 2));
}

TEST_F(ObjectDownloaderTest, HoldsMaxConnectionsOpenAtOnce) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(4 * kMiB, 30));
  upstream_->AddFault(StallFault(ObjectPath(object.oid)));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report;
  std::thread worker([&] { report = downloader.Download(object, std::nullopt, kRef); });
  Status stalled = WaitForStalled(*upstream_, 8);
  const std::string host = HostConnectionLimiter::HostKey(upstream_->BaseUrl());
  int in_use = downloader.limiter().InUse(host);
  upstream_->ClearFaults();  // the stalled answers continue
  worker.join();
  ASSERT_OK(stalled);
  EXPECT_EQ(in_use, 8);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(lfs_->BytesServed(object.oid), object.size);
  EXPECT_EQ(downloader.limiter().InUse(host), 0);
}

TEST_F(ObjectDownloaderTest, HrefsOnTheUpstreamsOriginGetItsToken) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 31));
  // "Basic " + base64("x-access-token:tok-123")
  upstream_->SetRequireAuth("Basic eC1hY2Nlc3MtdG9rZW46dG9rLTEyMw==");
  LfsBatchClientOptions batch_options;
  batch_options.token = "tok-123";
  LfsBatchClient batch(LfsBatchClient::EndpointForCloneUrl(upstream_->UrlFor(kRepo)),
                       batch_options);
  ObjectDownloader downloader(store_.get(), &batch, Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(lfs_->ObjectGets(object.oid), 4);
}

TEST_F(ObjectDownloaderTest, SmallObjectsUseOneConnection) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(100 * kKiB, 2));
  ASSERT_OK_AND_ASSIGN(std::string empty_oid, lfs_->PutObject(""));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  ASSERT_OK(downloader.Download(object, std::nullopt, kRef).status);
  ExpectStored(object);
  EXPECT_EQ(lfs_->ObjectGets(object.oid), 1);

  LfsPointer empty{empty_oid, 0};
  ASSERT_OK(downloader.Download(empty, std::nullopt, kRef).status);
  EXPECT_TRUE(store_->Contains(empty_oid));
  EXPECT_EQ(lfs_->ObjectGets(empty_oid), 0);
}

TEST_F(ObjectDownloaderTest, ADroppedConnectionResumesInsteadOfRestarting) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(3 * kMiB, 3));
  lfs_->SetObjectFault(object.oid, DropAfter(100 * kKiB, 3));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_GE(lfs_->ObjectGets(object.oid), 8 + 3);  // the dropped pieces were asked again
  // Bytes fetched twice: less than one piece (a resume continues from the last byte written).
  EXPECT_LT(lfs_->BytesServed(object.oid) - object.size, kPiece);
  EXPECT_TRUE(report.quarantined.empty());
}

TEST_F(ObjectDownloaderTest, AResetConnectionAlsoResumes) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(2 * kMiB, 16));
  test::Fault reset = DropFault(ObjectPath(object.oid), 150 * kKiB, 2);
  reset.reset_on_drop = true;
  int fault = upstream_->AddFault(reset);
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(upstream_->FaultHits(fault), 2);
  // A reset may lose what the kernel had buffered, never more than what the pieces asked.
  EXPECT_LT(lfs_->BytesServed(object.oid) - object.size, 2 * kPiece);
}

TEST_F(ObjectDownloaderTest, CorruptBytesAreQuarantinedAndTheObjectFetchedAgain) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(2 * kMiB, 4));
  lfs_->SetObjectFault(object.oid, CorruptAt(kMiB + 17, 1));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  ASSERT_THAT(report.quarantined, SizeIs(1));
  EXPECT_THAT(report.quarantined[0], HasSubstr("quarantine"));
  EXPECT_THAT(QuarantineFiles(), SizeIs(1));
  EXPECT_EQ(lfs_->BytesServed(object.oid), 2 * object.size);
}

TEST_F(ObjectDownloaderTest, PersistentCorruptionFailsWithDataLossAfterBoundedRefetches) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 5));
  lfs_->SetObjectFault(object.oid, CorruptAt(5, 100));
  ObjectDownloaderOptions options = Options();
  options.max_refetches = 2;
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  EXPECT_EQ(report.status.code(), StatusCode::kDataLoss) << report.status.ToString();
  EXPECT_THAT(report.quarantined, SizeIs(3));
  // The store keeps one copy per object (BlobStoreOptions::quarantine_per_object): the newest.
  EXPECT_THAT(QuarantineFiles(), SizeIs(1));
  EXPECT_EQ(store_->quarantine_usage().dropped, 2u);
  EXPECT_FALSE(store_->Contains(object.oid));
  EXPECT_EQ(lfs_->BytesServed(object.oid), 3 * object.size);
}

TEST_F(ObjectDownloaderTest, AnUpstreamThatIgnoresRangeStillGivesTheRightObject) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(2 * kMiB + 5, 6));
  lfs_->SetObjectFault(object.oid, IgnoreRange());
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_TRUE(report.quarantined.empty());
  // The whole-body fallback downloads everything once more at most (what the first pass
  // wrote is kept, the rest of the discarded bytes are the server's doing).
  EXPECT_LE(lfs_->BytesServed(object.oid), 9 * object.size);
}

TEST_F(ObjectDownloaderTest, An416RestartsFromZeroAfterQuarantine) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 7));
  int fault = upstream_->AddFault(StatusFault(ObjectPath(object.oid), 416, 1));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(upstream_->FaultHits(fault), 1);
  ASSERT_THAT(report.quarantined, SizeIs(1));
  EXPECT_THAT(report.quarantined[0], HasSubstr("416"));
}

TEST_F(ObjectDownloaderTest, AnExpiredHrefIsAskedForAgain) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 8));
  lfs_->SetHrefLifetime(seconds(0));
  ASSERT_OK_AND_ASSIGN(auto sources, batch_->RequestDownload({object}, kRef));
  ASSERT_OK(sources[0].status);
  ASSERT_TRUE(sources[0].action->expires.has_value());
  lfs_->SetHrefLifetime(seconds(3600));

  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, sources[0].action, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_GE(lfs_->BatchRequests(), 2);
  EXPECT_EQ(report.action_refreshes, 1);
  EXPECT_EQ(lfs_->BytesServed(object.oid), object.size);
}

TEST_F(ObjectDownloaderTest, AGetRefusedWithAnExpiredTokenGetsAFreshHref) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 9));
  lfs_->SetHrefLifetime(seconds(0));
  ASSERT_OK_AND_ASSIGN(auto sources, batch_->RequestDownload({object}, kRef));
  ASSERT_OK(sources[0].status);
  lfs_->SetHrefLifetime(seconds(3600));
  // Without its expiry the downloader cannot know: the upstream's 403 tells it.
  LfsDownloadAction stale = *sources[0].action;
  stale.expires.reset();

  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  LfsDownloadReport report = downloader.Download(object, stale, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(lfs_->BatchRequests(), 2);
  EXPECT_EQ(report.action_refreshes, 1);
}

TEST_F(ObjectDownloaderTest, HrefsThatKeepFailingEndInPermissionDenied) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 10));
  upstream_->AddFault(StatusFault(ObjectPath(object.oid), 403));
  ObjectDownloaderOptions options = Options();
  options.max_action_refreshes = 2;
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  EXPECT_EQ(report.status.code(), StatusCode::kPermissionDenied) << report.status.ToString();
  EXPECT_EQ(lfs_->BatchRequests(), 3);  // the first action and two fresh ones
  EXPECT_FALSE(store_->Contains(object.oid));
}

TEST_F(ObjectDownloaderTest, RetryAfterOnAnObjectGetIsHonoured) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(100 * kKiB, 11));
  upstream_->AddFault(WithHeader(StatusFault(ObjectPath(object.oid), 503, 1), "Retry-After", "2"));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  ASSERT_OK(downloader.Download(object, std::nullopt, kRef).status);
  ExpectStored(object);
  EXPECT_THAT(sleeper_.waits(), ElementsAre(milliseconds(2000)));
}

TEST_F(ObjectDownloaderTest, AStalledConnectionIsAbandonedAndRetried) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(100 * kKiB, 12));
  int fault = upstream_->AddFault(StallFault(ObjectPath(object.oid), 1));
  ObjectDownloaderOptions options = Options();
  options.stall_timeout = milliseconds(300);
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_EQ(upstream_->FaultHits(fault), 1);
  EXPECT_EQ(report.requests, 2);
}

TEST_F(ObjectDownloaderTest, PersistentServerErrorsGiveUpWithTheirStatus) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(100 * kKiB, 13));
  upstream_->AddFault(StatusFault(ObjectPath(object.oid), 500));
  ObjectDownloaderOptions options = Options();
  options.max_piece_attempts = 3;
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report = downloader.Download(object, std::nullopt, kRef);
  EXPECT_EQ(report.status.code(), StatusCode::kUnavailable) << report.status.ToString();
  EXPECT_THAT(report.status.message(), HasSubstr("500"));
  EXPECT_EQ(report.requests, 3);
}

TEST_F(ObjectDownloaderTest, CancelStopsAStalledDownloadPromptly) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(kMiB, 14));
  upstream_->AddFault(StallFault(ObjectPath(object.oid)));
  ObjectDownloaderOptions options = Options();
  options.stall_timeout = seconds(600);
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  LfsDownloadReport report;
  std::thread worker([&] { report = downloader.Download(object, std::nullopt, kRef); });
  ASSERT_OK(upstream_->WaitForRequest([](const test::RequestRecord& r) { return r.stalled; },
                                      milliseconds(30'000)));
  cancel_ = true;
  worker.join();
  EXPECT_EQ(report.status.code(), StatusCode::kCancelled) << report.status.ToString();
  EXPECT_FALSE(store_->Contains(object.oid));
}

TEST_F(ObjectDownloaderTest, ARestartedDownloadContinuesFromTheDurableBytes) {
  const uint64_t size = 16 * kMiB;
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(size, 15));
  ObjectDownloaderOptions options = Options();
  options.max_connections = 4;
  options.progress_interval = milliseconds(0);  // so the cancel comes at a third, however fast
  {
    // The first downloader is cancelled once a third of the object has arrived.
    ObjectDownloader first(store_.get(), batch_.get(), options);
    LfsDownloadReport report =
        first.Download(object, std::nullopt, kRef, [&](const LfsPointer&, uint64_t done, uint64_t) {
          if (done >= size / 3) cancel_ = true;
        });
    EXPECT_EQ(report.status.code(), StatusCode::kCancelled) << report.status.ToString();
  }
  ASSERT_FALSE(store_->Contains(object.oid));
  cancel_ = false;
  // The second run's requests are told apart in the log by their User-Agent (BytesServed
  // cannot separate the runs: the server may still be pushing the first run's last chunks
  // into its closed connections).
  options.user_agent = "mirrord-second-run";
  ObjectDownloader second(store_.get(), batch_.get(), options);
  LfsDownloadReport report = second.Download(object, std::nullopt, kRef);
  ASSERT_OK(report.status);
  ExpectStored(object);
  EXPECT_GE(report.resumed_bytes, size / 3);
  // The second run fetched exactly what was not durable, nothing twice ...
  uint64_t served_second = 0;
  for (const test::RequestRecord& r : upstream_->requests()) {
    if (r.user_agent == "mirrord-second-run") {
      served_second += r.response_body_bytes;
    }
  }
  EXPECT_EQ(served_second, size - report.resumed_bytes);
  // ... so in all, less than twice the object (the first run's waste is only what was in
  // flight when it stopped).
  EXPECT_LT(lfs_->BytesServed(object.oid), 2 * size);
}

TEST_F(ObjectDownloaderTest, DownloadObjectsReportsEachObjectAndOneFailureDoesNotStopOthers) {
  std::vector<LfsPointer> objects;
  for (uint64_t i = 0; i < 6; ++i) {
    ASSERT_OK_AND_ASSIGN(LfsPointer p, PutGenerated(600 * kKiB + i, 100 + i));
    objects.push_back(p);
  }
  lfs_->SetObjectFault(objects[2].oid, BatchError(404));
  objects.push_back(objects[0]);  // a repeat is downloaded once
  // The per-host limit holds across objects: with every GET held, exactly 3 are open.
  test::Fault stall_gets = StallFault("/lfs/objects/");
  stall_gets.method = "GET";  // not the batch POST to .../info/lfs/objects/batch
  upstream_->AddFault(stall_gets);
  HostConnectionLimiter limiter(3);
  ObjectDownloaderOptions options = Options();
  options.limiter = &limiter;
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  std::vector<LfsDownloadReport> reports;
  std::thread worker([&] { reports = downloader.DownloadObjects(objects, kRef, 3); });
  Status stalled = WaitForStalled(*upstream_, 3);
  upstream_->ClearFaults();
  worker.join();
  ASSERT_OK(stalled);
  ASSERT_THAT(reports, SizeIs(objects.size()));
  for (size_t i = 0; i < objects.size(); ++i) {
    EXPECT_EQ(reports[i].object, objects[i]);
    if (i == 2) {
      EXPECT_EQ(reports[i].status.code(), StatusCode::kNotFound) << reports[i].status.ToString();
      EXPECT_FALSE(store_->Contains(objects[i].oid));
    } else {
      EXPECT_OK(reports[i].status);
      ExpectStored(objects[i]);
    }
  }
  EXPECT_EQ(lfs_->BatchRequests(), 1);
  EXPECT_EQ(lfs_->BytesServed(objects[0].oid), objects[0].size);
  const std::string host = HostConnectionLimiter::HostKey(upstream_->BaseUrl());
  EXPECT_EQ(limiter.PeakInUse(host), 3);
  EXPECT_EQ(limiter.InUse(host), 0);

  // Everything present is not even asked for.
  std::vector<LfsDownloadReport> again = downloader.DownloadObjects({objects[0], objects[1]}, kRef);
  EXPECT_TRUE(again[0].already_present);
  EXPECT_TRUE(again[1].already_present);
  EXPECT_EQ(lfs_->BatchRequests(), 1);
}

TEST_F(ObjectDownloaderTest, TwoDownloadsOfOneOidFetchItOnceAndBothSucceed) {
  ASSERT_OK_AND_ASSIGN(LfsPointer object, PutGenerated(3 * kMiB, 40));
  // The first download holds its first piece until the second one is waiting for it.
  std::atomic<bool> held{false};
  ObjectDownloaderOptions first_options = Options();
  first_options.on_piece_done = [&](const PartialBlob&, ByteRange) {
    if (held.exchange(true)) return;
    while (store_->WaitersFor(object.oid) == 0) std::this_thread::yield();
  };
  ObjectDownloader first(store_.get(), batch_.get(), first_options);
  ObjectDownloader second(store_.get(), batch_.get(), Options());
  LfsDownloadReport a;
  LfsDownloadReport b;
  std::thread t1([&] { a = first.Download(object, std::nullopt, kRef); });
  // The second starts once the first holds the oid (its first piece is done).
  while (!held.load()) std::this_thread::yield();
  std::thread t2([&] { b = second.Download(object, std::nullopt, kRef); });
  t1.join();
  t2.join();
  ASSERT_OK(a.status);
  ASSERT_OK(b.status);  // never FailedPrecondition
  EXPECT_FALSE(a.waited_for_other);
  EXPECT_TRUE(b.waited_for_other);
  EXPECT_TRUE(b.already_present);
  EXPECT_EQ(b.received_bytes, 0u);
  ExpectStored(object);
  EXPECT_EQ(lfs_->BytesServed(object.oid), object.size);
}

TEST_F(ObjectDownloaderTest, ConnectionsComeFromASharedBoundedPool) {
  std::vector<LfsPointer> objects;
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(LfsPointer p, PutGenerated(2 * kMiB + i, 120 + i));
    objects.push_back(p);
  }
  // Every GET is held so that the connections open at once can be counted: 4 objects of 8
  // connections each would be 32, but only the calling thread and the pool's 2 threads
  // exist to hold them.
  test::Fault stall_gets = StallFault("/lfs/objects/");
  stall_gets.method = "GET";
  upstream_->AddFault(stall_gets);
  DownloadPool pool(2);
  HostConnectionLimiter limiter(64);
  ObjectDownloaderOptions options = Options();
  options.pool = &pool;
  options.limiter = &limiter;
  ObjectDownloader downloader(store_.get(), batch_.get(), options);
  std::vector<LfsDownloadReport> reports;
  std::thread worker([&] { reports = downloader.DownloadObjects(objects, kRef, 4); });
  Status stalled = WaitForStalled(*upstream_, 3);
  const std::string host = HostConnectionLimiter::HostKey(upstream_->BaseUrl());
  upstream_->ClearFaults();
  worker.join();
  ASSERT_OK(stalled);
  ASSERT_THAT(reports, SizeIs(objects.size()));
  for (size_t i = 0; i < objects.size(); ++i) {
    ASSERT_OK(reports[i].status);
    ExpectStored(objects[i]);
  }
  EXPECT_EQ(limiter.PeakInUse(host), 3);
}

TEST(DownloadPoolTest, TheCallerAlwaysWorksAndLateHelpersDoNothing) {
  DownloadPool pool(1);
  EXPECT_EQ(pool.threads(), 0);  // started on demand
  // Occupy the pool's only thread (and a caller) until released.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int entered = 0;
  std::thread blocker([&] {
    pool.RunWithHelpers(1, [&] {
      std::unique_lock lock(mu);
      ++entered;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered == 2; });  // the caller and the pool thread
  }
  // With no pool thread free, the work is done by the caller alone, and the call returns
  // without waiting for the helpers it asked for.
  std::atomic<int> items{10};
  std::atomic<int> runs{0};
  pool.RunWithHelpers(3, [&] {
    ++runs;
    while (items.fetch_sub(1) > 0) {
    }
  });
  EXPECT_LE(items.load(), 0);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(pool.Queued(), 3u);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  blocker.join();
  // The late helpers run once the thread is free, find the work closed and do nothing.
  while (pool.Queued() > 0) std::this_thread::yield();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(pool.threads(), 1);  // never more than its cap
}

TEST_F(ObjectDownloaderTest, DownloadObjectsFailsEveryObjectOfARefusedBatch) {
  ASSERT_OK_AND_ASSIGN(LfsPointer a, PutGenerated(10 * kKiB, 20));
  ASSERT_OK_AND_ASSIGN(LfsPointer b, PutGenerated(10 * kKiB, 21));
  upstream_->AddFault(StatusFault("/info/lfs/objects/batch", 403));
  ObjectDownloader downloader(store_.get(), batch_.get(), Options());
  std::vector<LfsDownloadReport> reports = downloader.DownloadObjects({a, b}, kRef);
  ASSERT_THAT(reports, SizeIs(2));
  EXPECT_EQ(reports[0].status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(reports[1].status.code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace mirrord
