// LFS downloads under the faults of issue 3 item 6, with the real mirrord, the test upstream's
// LFS endpoint and the real git-lfs client reading the result: a connection dropped
// mid-object resumes (no byte fetched twice); corrupted bytes are detected, quarantined,
// fetched again and never served; 429 with Retry-After is honoured; expired hrefs are asked
// for again; an upstream failing during the LFS phase leaves the previous state published
// with a clear status; SIGKILL mid-download continues from the durable bytes; a full disk
// fails cleanly with nothing half-written visible.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/lfs_store_files.h"
#include "tests/fixtures/lfs_upstream_repo.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/poll_until.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kRepo = "org/model";
constexpr uint64_t kMiB = 1 << 20;

// The run id in "NAME: sync queued as run N".
Result<int64_t> QueuedRunId(const ProcessResult& r) {
  constexpr std::string_view kMarker = "sync queued as run ";
  size_t at = r.stdout_text.find(kMarker);
  if (at == std::string::npos) return Internal("no run id in: " + r.stdout_text);
  int64_t id = std::stoll(r.stdout_text.substr(at + kMarker.size()));
  if (id <= 0) return Internal("bad run id in: " + r.stdout_text);
  return id;
}

// The names of the files under `dir`, recursively, sorted (none when it does not exist).
std::vector<std::string> FilesIn(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file()) out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A tmpfs mounted for the lifetime of the object (root only).
class TmpfsMount {
 public:
  // Mounts a tmpfs of `size_bytes` at `dir` (created if missing); the errno Status otherwise.
  static Result<std::unique_ptr<TmpfsMount>> Mount(const std::filesystem::path& dir,
                                                   uint64_t size_bytes) {
    RETURN_IF_ERROR(CreateDirectories(dir));
    std::string opts = "size=" + std::to_string(size_bytes) + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      return ErrnoStatus(errno, "mount tmpfs on " + dir.string());
    }
    return std::unique_ptr<TmpfsMount>(new TmpfsMount(dir));
  }
  ~TmpfsMount() { (void)::umount2(dir_.c_str(), MNT_DETACH); }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  // Changes the size limit, keeping the content.
  Status Resize(uint64_t size_bytes) {
    std::string opts = "size=" + std::to_string(size_bytes);
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) != 0) {
      return ErrnoStatus(errno, "remount tmpfs on " + dir_.string());
    }
    return Status::Ok();
  }

 private:
  explicit TmpfsMount(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

class LfsFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("lfs-faults-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(LfsUpstreamRepo repo, LfsUpstreamRepo::Create(dir_->path(), kRepo));
    upstream_ = std::move(repo.upstream);
    lfs_ = std::move(repo.lfs);
    work_ = std::move(repo.work);
    bare_ = std::move(repo.bare);
    url_ = std::move(repo.url);
  }

  void StartMirrord(MirrordOptions o = {}) {
    o.extra_toml = "[sync]\nmaintenance = false\n" + o.extra_toml;
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }
  std::filesystem::path LfsRoot() const { return mirrord_->store_dir() / "lfs"; }
  std::filesystem::path StoredObject(const std::string& oid) const {
    return LfsRoot() / "objects" / oid.substr(0, 2) / oid.substr(2, 2) / oid;
  }

  // Stores a generated object at the upstream and writes its pointer at `path` in the work
  // tree (committed by the next CommitAndPush). Returns the oid.
  std::string AddLfsFile(std::string_view path, uint64_t size, uint64_t seed) {
    Result<std::string> oid = lfs_->PutGeneratedObject(size, seed);
    EXPECT_OK(oid);
    if (!oid.ok()) return "";
    EXPECT_OK(work_->WriteFile(path, LfsPointerText(*oid, size)));
    return *oid;
  }

  // Commits and pushes to the upstream's bare repo directly; the objects are already at the
  // upstream, so git-lfs's pre-push hook (which git-lfs installs on first use) is skipped.
  void CommitAndPush(std::string_view message) {
    ASSERT_OK(work_->Commit(message).status());
    GitOptions o;
    o.env["GIT_LFS_SKIP_PUSH"] = "1";
    ASSERT_OK(work_->PushMirror(bare_.string(), o));
  }

  Result<ProcessResult> Sync() {
    return mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_});
  }

  void SyncOk(std::string* stdout_text = nullptr) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, Sync());
    ASSERT_TRUE(r.ok()) << r.Describe() << "\nmirrord:\n" << mirrord_->Logs();
    if (stdout_text != nullptr) *stdout_text = r.stdout_text;
  }

  // Queues a sync without following it (`mirrorctl sync --no-follow`); returns the run id.
  Result<int64_t> QueueSync() {
    ASSIGN_OR_RETURN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url",
                                                           url_, "--no-follow"}));
    if (!r.ok()) return Internal("mirrorctl sync --no-follow: " + r.Describe());
    return QueuedRunId(r);
  }

  // Waits for run `run_id` to finish; it must have succeeded.
  void ExpectRunSucceeds(int64_t run_id) {
    std::string state = WaitForRunEnd(*mirrord_, run_id, seconds(60));
    ASSERT_TRUE(IsFinalRunState(state)) << "run " << run_id << " is still " << state;
    ASSERT_EQ(state, "succeeded") << mirrord_->Logs();
  }

  // Runs a sync that must fail; returns mirrorctl's stderr.
  std::string SyncFails() {
    Result<ProcessResult> r = Sync();
    EXPECT_OK(r);
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 1) << r->Describe();
    EXPECT_THAT(r->stderr_text, StartsWith("mirrord: sync of org/model failed: "));
    EXPECT_THAT(r->stdout_text, Not(HasSubstr("refs added")));
    return r->stderr_text;
  }

  // Clones the mirror (the upstream's LFS endpoint plays no part: git-lfs talks to mirrord)
  // and checks that each (path, oid) is materialised with the upstream object's exact bytes.
  void ExpectServed(const std::vector<std::pair<std::string, std::string>>& files) {
    std::filesystem::path dest = Scratch("clone-" + std::to_string(++clones_));
    GitOptions no_smudge;
    no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
    ASSERT_OK(
        Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), dest.string()}, {}, no_smudge).status());
    ASSERT_OK(Git({"lfs", "pull"}, dest).status());
    for (const auto& [path, oid] : files) {
      ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(oid)));
      ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dest / path));
      EXPECT_EQ(got.size(), want.size()) << path;
      EXPECT_TRUE(got == want) << path << " differs from the upstream's object";
    }
    ASSERT_OK_AND_ASSIGN(ProcessResult fsck, RunGit({"lfs", "fsck"}, dest));
    EXPECT_TRUE(fsck.ok()) << fsck.Describe() << "\n" << fsck.stdout_text;
  }

  // The object in mirrord's store has exactly the upstream's bytes.
  void ExpectStoredIntact(const std::string& oid) {
    ASSERT_OK_AND_ASSIGN(std::string want, ReadFileToString(lfs_->ObjectPath(oid)));
    ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(StoredObject(oid)));
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "stored object " << oid << " differs from the upstream's";
  }

  // The object GETs mirrord sent for `oid`, in order.
  // Queues a sync whose first GET of `oid` is held after `after_bytes` of its body (nullopt:
  // after the header), and returns once the upstream holds it.
  void SyncWithOneGetHeld(const std::string& oid, std::optional<uint64_t> after_bytes) {
    Fault hold;
    hold.path_substring = "/lfs/objects/" + oid;
    hold.method = "GET";
    hold.stall = !after_bytes.has_value();
    hold.stall_after_bytes = after_bytes;
    hold.times = 1;
    const int id = upstream_->AddFault(hold);
    ASSERT_OK(QueueSync().status());
    ASSERT_OK(
        upstream_
            ->WaitForRequest([id](const RequestRecord& r) { return r.fault_id == id && r.stalled; },
                             seconds(30))
            .status());
  }

  std::vector<RequestRecord> ObjectRequests(const std::string& oid) const {
    std::vector<RequestRecord> out;
    for (const RequestRecord& r : upstream_->requests()) {
      if (r.method == "GET" && r.target.find("/lfs/objects/" + oid) != std::string::npos) {
        out.push_back(r);
      }
    }
    return out;
  }

  std::vector<RequestRecord> BatchRequests() const {
    std::vector<RequestRecord> out;
    for (const RequestRecord& r : upstream_->requests()) {
      if (r.target.find("/info/lfs/objects/batch") != std::string::npos) out.push_back(r);
    }
    return out;
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
  std::unique_ptr<MirrordProcess> mirrord_;
  int clones_ = 0;
};

TEST_F(LfsFaults, DroppedConnectionResumesWhereItStopped) {
  StartMirrord();
  constexpr uint64_t kSize = 6 * kMiB;
  constexpr uint64_t kDropAt = 2 * kMiB + 12345;
  std::string oid = AddLfsFile("weights.bin", kSize, 21);
  CommitAndPush("weights");
  LfsObjectFault drop;
  drop.drop_after_bytes = kDropAt;
  drop.drop_times = 1;
  lfs_->SetObjectFault(oid, drop);

  SyncOk();
  std::vector<RequestRecord> gets = ObjectRequests(oid);
  ASSERT_GE(gets.size(), 2u);
  EXPECT_TRUE(gets[0].dropped);
  EXPECT_EQ(gets[0].response_body_bytes, kDropAt);
  // The retry asked for the rest only...
  EXPECT_THAT(gets[1].range, StartsWith("bytes=" + std::to_string(kDropAt) + "-")) << gets[1].range;
  // ...so the bytes before the cut were fetched once (a restart would send kDropAt again).
  const uint64_t served = lfs_->BytesServed(oid);
  EXPECT_GE(served, kSize);
  EXPECT_LT(served - kSize, kDropAt / 8) << "bytes fetched twice: " << served - kSize;
  ExpectStoredIntact(oid);
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, CorruptedBytesAreQuarantinedAndFetchedAgain) {
  StartMirrord();
  constexpr uint64_t kSize = 4 * kMiB;
  constexpr uint64_t kFlipAt = kMiB + 7;
  std::string oid = AddLfsFile("weights.bin", kSize, 31);
  CommitAndPush("weights");
  LfsObjectFault corrupt;
  corrupt.corrupt_offset = kFlipAt;
  corrupt.corrupt_times = 1;
  lfs_->SetObjectFault(oid, corrupt);

  SyncOk();
  // Detected and fetched a second time, from zero.
  EXPECT_EQ(lfs_->ObjectGets(oid), 2);
  EXPECT_EQ(lfs_->BytesServed(oid), 2 * kSize);
  // The bad copy is kept for the operator: the upstream's bytes with one byte flipped.
  std::vector<std::string> quarantined = FilesIn(LfsRoot() / "quarantine");
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_THAT(quarantined[0], StartsWith(oid + "."));
  ASSERT_OK_AND_ASSIGN(std::string bad,
                       ReadFileToString(LfsRoot() / "quarantine" / quarantined[0]));
  ASSERT_OK_AND_ASSIGN(std::string good, ReadFileToString(lfs_->ObjectPath(oid)));
  ASSERT_EQ(bad.size(), good.size());
  EXPECT_NE(bad[kFlipAt], good[kFlipAt]);
  bad[kFlipAt] = good[kFlipAt];
  EXPECT_TRUE(bad == good) << "the quarantined copy differs elsewhere too";
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("SHA-256 mismatch"));
  ExpectStoredIntact(oid);
  EXPECT_TRUE(FilesIn(LfsRoot() / "incomplete").empty());
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, PersistentCorruptionFailsAndNothingWrongIsServed) {
  StartMirrord();
  std::string good_oid = AddLfsFile("small.bin", 256 * 1024, 41);
  CommitAndPush("small weights");
  SyncOk();
  ASSERT_OK_AND_ASSIGN(std::string old_ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));

  constexpr uint64_t kSize = 3 * kMiB;
  std::string bad_oid = AddLfsFile("big.bin", kSize, 42);
  CommitAndPush("big weights");
  LfsObjectFault corrupt;
  corrupt.corrupt_offset = kSize - 1;
  corrupt.corrupt_times = 1000;
  lfs_->SetObjectFault(bad_oid, corrupt);

  std::string err = SyncFails();
  EXPECT_THAT(err, HasSubstr("LFS")) << err;
  EXPECT_THAT(err, HasSubstr("SHA-256 mismatch")) << err;
  EXPECT_THAT(err, HasSubstr(bad_oid)) << err;
  // Bounded: the first fetch and [lfs] verify_retries (2) more, each copy quarantined and
  // the newest one kept ([lfs] quarantine_per_object = 1).
  EXPECT_EQ(lfs_->ObjectGets(bad_oid), 3);
  EXPECT_EQ(FilesIn(LfsRoot() / "quarantine").size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(StoredObject(bad_oid)));
  EXPECT_EQ(FilesIn(LfsRoot() / "objects"), std::vector<std::string>{good_oid});

  // Nothing of it is reachable: the refs that need it are not published, and mirrord's LFS
  // server neither offers nor serves it.
  ASSERT_OK_AND_ASSIGN(std::string ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(ls, old_ls);
  ASSERT_OK_AND_ASSIGN(HttpReply get,
                       HttpFetch(mirrord_->UrlFor(kRepo) + "/info/lfs/objects/" + bad_oid));
  EXPECT_EQ(get.status, 404) << get.body;
  ExpectServed({{"small.bin", good_oid}});

  // Once the upstream sends good bytes, the object arrives and is served.
  lfs_->ClearObjectFaults();
  SyncOk();
  ExpectStoredIntact(bad_oid);
  ExpectServed({{"small.bin", good_oid}, {"big.bin", bad_oid}});
}

TEST_F(LfsFaults, RateLimitedBatchHonoursRetryAfter) {
  StartMirrord();
  std::string oid = AddLfsFile("weights.bin", kMiB, 51);
  CommitAndPush("weights");
  Fault limited;
  limited.path_substring = "/info/lfs/objects/batch";
  limited.method = "POST";
  limited.status = 429;
  limited.extra_headers["Retry-After"] = "3";
  limited.times = 1;
  int id = upstream_->AddFault(limited);

  ASSERT_OK_AND_ASSIGN(int64_t run_id, QueueSync());
  ASSERT_OK_AND_ASSIGN(
      RequestRecord refused,
      upstream_->WaitForRequest(
          [id](const RequestRecord& r) { return r.fault_id == id && r.status; }, seconds(30)));
  const auto refused_at = std::chrono::steady_clock::now();
  EXPECT_EQ(refused.status, 429);
  ASSERT_OK_AND_ASSIGN(RequestRecord retry, upstream_->WaitForRequest(
                                                [&refused](const RequestRecord& r) {
                                                  return r.seq > refused.seq &&
                                                         r.target.find("/info/lfs/objects/batch") !=
                                                             std::string::npos;
                                                },
                                                seconds(30)));
  const auto gap = std::chrono::steady_clock::now() - refused_at;
  // The retry waited as asked: the default backoff would have retried within a second.
  EXPECT_GE(gap, seconds(2));
  ExpectRunSucceeds(run_id);
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  std::vector<RequestRecord> batches = BatchRequests();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].seq, retry.seq);
  EXPECT_EQ(batches[1].status, 200);
  EXPECT_EQ(lfs_->BatchRequests(), 1);  // the 429 was answered before the endpoint
  EXPECT_EQ(lfs_->ObjectGets(oid), 1);
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, UnavailableObjectStorageIsRetried) {
  StartMirrord();
  std::string oid = AddLfsFile("weights.bin", 2 * kMiB, 52);
  CommitAndPush("weights");
  Fault busy;
  busy.path_substring = "/lfs/objects/" + oid;
  busy.method = "GET";
  busy.status = 503;
  busy.extra_headers["Retry-After"] = "1";
  busy.times = 2;
  int id = upstream_->AddFault(busy);

  SyncOk();
  EXPECT_EQ(upstream_->FaultHits(id), 2);
  std::vector<RequestRecord> gets = ObjectRequests(oid);
  ASSERT_EQ(gets.size(), 3u);
  EXPECT_EQ(gets[0].status, 503);
  EXPECT_EQ(gets[1].status, 503);
  EXPECT_EQ(gets[2].status, 206);
  EXPECT_EQ(lfs_->BytesServed(oid), 2 * kMiB);
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, ExpiredHrefsAreRequestedAgain) {
  StartMirrord();
  std::string oid = AddLfsFile("weights.bin", 2 * kMiB, 61);
  CommitAndPush("weights");
  // Every href handed out is already expired, and the first GET with one is held (after its
  // 403 status line) until the test says so, so that the endpoint can be fixed in between.
  lfs_->SetHrefLifetime(seconds(0));
  Fault hold;
  hold.path_substring = "/lfs/objects/" + oid;
  hold.method = "GET";
  hold.stall = true;
  hold.times = 1;
  int id = upstream_->AddFault(hold);

  ASSERT_OK_AND_ASSIGN(int64_t run_id, QueueSync());
  ASSERT_OK_AND_ASSIGN(
      RequestRecord held,
      upstream_->WaitForRequest(
          [id](const RequestRecord& r) { return r.fault_id == id && r.stalled; }, seconds(30)));
  EXPECT_EQ(held.status, 403);  // the expired token was refused
  const int batches_before = lfs_->BatchRequests();
  lfs_->SetHrefLifetime(seconds(3600));
  upstream_->RemoveFault(id);

  ExpectRunSucceeds(run_id);
  // A fresh href was asked for after the refusal, and it worked.
  EXPECT_GT(lfs_->BatchRequests(), batches_before);
  std::vector<std::string> batched = lfs_->BatchedOids();
  EXPECT_GE(std::count(batched.begin(), batched.end(), oid), 2);
  std::vector<RequestRecord> gets = ObjectRequests(oid);
  ASSERT_FALSE(gets.empty());
  EXPECT_EQ(gets.front().status, 403);
  EXPECT_EQ(gets.back().status, 206);
  EXPECT_EQ(lfs_->BytesServed(oid), 2 * kMiB);
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, UpstreamFailingDuringLfsPhaseKeepsThePreviousState) {
  StartMirrord();
  std::string first_oid = AddLfsFile("first.bin", 512 * 1024, 71);
  CommitAndPush("first weights");
  SyncOk();
  ASSERT_OK_AND_ASSIGN(std::string old_ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  ASSERT_OK_AND_ASSIGN(RepoStatus before, StatusJson(*mirrord_, kRepo));

  // The git side moves on and works; the object storage answers 503 to everything.
  std::string second_oid = AddLfsFile("second.bin", 2 * kMiB, 72);
  CommitAndPush("second weights");
  Fault down;
  down.path_substring = "/lfs/objects/";
  down.method = "GET";
  down.status = 503;
  down.extra_headers["Retry-After"] = "0";
  int id = upstream_->AddFault(down);

  std::string err = SyncFails();
  EXPECT_THAT(err, HasSubstr("1 of 1 LFS objects could not be fetched")) << err;
  EXPECT_THAT(err, HasSubstr("previous state stays published")) << err;
  EXPECT_THAT(err, HasSubstr(second_oid)) << err;
  EXPECT_THAT(err, HasSubstr("503")) << err;
  EXPECT_GE(upstream_->FaultHits(id), 2);  // retried, then gave up

  // Clients keep seeing the previous consistent state: refs and LFS files.
  ASSERT_OK_AND_ASSIGN(std::string ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(ls, old_ls);
  ExpectServed({{"first.bin", first_oid}});
  EXPECT_FALSE(std::filesystem::exists(StoredObject(second_oid)));

  // Status says the last sync failed, why, and that an LFS object is pending.
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.state, "failed");
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->state, "failed");
  EXPECT_THAT(status.last_run->error, HasSubstr("1 of 1 LFS objects could not be fetched"));
  EXPECT_EQ(status.last_success_at, before.last_success_at);
  EXPECT_EQ(status.lfs_objects, 1u);  // the published state's
  EXPECT_EQ(status.lfs_present_objects, 1u);
  ASSERT_OK_AND_ASSIGN(ProcessResult human, mirrord_->Mirrorctl({"status", std::string(kRepo)}));
  ASSERT_TRUE(human.ok()) << human.Describe();
  EXPECT_THAT(human.stdout_text, HasSubstr("failed"));
  EXPECT_THAT(human.stdout_text, HasSubstr("LFS objects could not be fetched"));

  // The upstream recovers: the next sync publishes the new state.
  upstream_->ClearFaults();
  std::string out;
  SyncOk(&out);
  EXPECT_THAT(out, HasSubstr("org/model: 0 refs added, 1 updated, 0 deleted")) << out;
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(ls, want);
  ExpectServed({{"first.bin", first_oid}, {"second.bin", second_oid}});
  ASSERT_OK_AND_ASSIGN(status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(status.lfs_objects, 2u);
  EXPECT_EQ(status.lfs_present_objects, 2u);
}

TEST_F(LfsFaults, KilledMidDownloadContinuesFromDurableBytes) {
  MirrordOptions o;
  o.extra_toml = "\n[lfs]\nconnections = 5\n";
  StartMirrord(o);
  // 40 MiB: five ranges of 8 MiB (the downloader's smallest piece) fetched at once over five
  // connections; each range is made durable when it ends.
  constexpr uint64_t kSize = 40 * kMiB;
  constexpr uint64_t kPiece = 8 * kMiB;
  std::string oid = AddLfsFile("model.bin", kSize, 81);
  CommitAndPush("big weights");
  // One range's response is held; the other four complete.
  ASSERT_NO_FATAL_FAILURE(SyncWithOneGetHeld(oid, std::nullopt));
  const std::filesystem::path lfs_root = LfsRoot();
  ASSERT_TRUE(
      PollUntil([&] { return JournalledBytes(lfs_root, oid) >= kSize - kPiece; }, seconds(60)))
      << "durable: " << JournalledBytes(lfs_root, oid) << "\n"
      << mirrord_->Logs();
  const uint64_t durable = JournalledBytes(lfs_root, oid);
  EXPECT_EQ(durable, kSize - kPiece);

  ASSERT_OK(mirrord_->Kill());
  upstream_->ClearFaults();
  ASSERT_OK(mirrord_->Restart());
  EXPECT_FALSE(std::filesystem::exists(StoredObject(oid)));

  SyncOk();
  EXPECT_THAT(mirrord_->Logs(), HasSubstr("resuming with " + std::to_string(durable) + " of " +
                                          std::to_string(kSize) + " bytes durable"));
  // The durable 32 MiB were not fetched again: about one object's worth crossed the wire,
  // not two (the held response may have pushed a few KiB into the dead connection).
  const uint64_t served = lfs_->BytesServed(oid);
  EXPECT_GE(served, kSize);
  EXPECT_LT(served, kSize + kMiB) << "served " << served << " bytes for a " << kSize
                                  << "-byte object";
  ExpectStoredIntact(oid);
  EXPECT_TRUE(FilesIn(LfsRoot() / "incomplete").empty());
  ExpectServed({{"model.bin", oid}});
}

// kill -9 while a response is held mid-piece, before the piece's first 1 MiB commit: no
// byte is fsynced yet, but the bytes written before the kill are in the page cache and the
// .written log says which, so the next life on this boot resumes from the written offset
// (before the log it started from zero and fetched them again).
TEST_F(LfsFaults, KilledMidPieceResumesFromTheWrittenOffset) {
  StartMirrord();
  constexpr uint64_t kSize = 6 * kMiB;  // one piece, one connection
  constexpr uint64_t kStallAt = 700 * 1024 + 12345;
  std::string oid = AddLfsFile("weights.bin", kSize, 91);
  CommitAndPush("weights");
  ASSERT_NO_FATAL_FAILURE(SyncWithOneGetHeld(oid, kStallAt));
  const std::filesystem::path lfs_root = LfsRoot();
  ASSERT_TRUE(PollUntil([&] { return RecordedBytes(lfs_root, oid) >= kStallAt; }, seconds(60)))
      << "recorded: " << RecordedBytes(lfs_root, oid) << "\n"
      << mirrord_->Logs();
  EXPECT_EQ(RecordedBytes(lfs_root, oid), kStallAt);
  EXPECT_EQ(JournalledBytes(lfs_root, oid), 0u);  // nothing fsynced yet

  ASSERT_OK(mirrord_->Kill());
  upstream_->ClearFaults();
  ASSERT_OK(mirrord_->Restart());
  SyncOk();
  EXPECT_THAT(mirrord_->Logs(),
              HasSubstr("resuming with " + std::to_string(kStallAt) + " of " +
                        std::to_string(kSize) + " bytes durable (" + std::to_string(kStallAt) +
                        " of them written before a crash on this boot)"));
  const std::vector<RequestRecord> gets = ObjectRequests(oid);
  ASSERT_GE(gets.size(), 2u);
  EXPECT_GE(gets[0].response_body_bytes, kStallAt);  // counted in whole 64 KiB writes
  // The next life asked for the rest only: the written bytes were not fetched again.
  EXPECT_EQ(gets.back().range,
            "bytes=" + std::to_string(kStallAt) + "-" + std::to_string(kSize - 1));
  for (size_t i = 1; i < gets.size(); ++i) {
    EXPECT_THAT(gets[i].range, StartsWith("bytes=" + std::to_string(kStallAt) + "-"));
  }
  ExpectStoredIntact(oid);
  EXPECT_TRUE(FilesIn(LfsRoot() / "incomplete").empty());
  ExpectServed({{"weights.bin", oid}});
}

TEST_F(LfsFaults, FullDiskFailsCleanly) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs as the LFS store needs root";
  // The LFS store (<storage root>/lfs) on a 4 MiB tmpfs; the catalog and git repos elsewhere.
  std::filesystem::path work_dir = Scratch("mirrord");
  Result<std::unique_ptr<TmpfsMount>> mounted =
      TmpfsMount::Mount(work_dir / "store" / "lfs", 4 * kMiB);
  if (!mounted.ok() && mounted.status().code() == StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << mounted.status().ToString();
  }
  ASSERT_OK(mounted);
  std::unique_ptr<TmpfsMount> tmpfs = std::move(mounted).value();
  MirrordOptions o;
  o.work_dir = work_dir;
  StartMirrord(o);
  SyncOk();  // no LFS objects yet
  ASSERT_OK_AND_ASSIGN(std::string old_ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));

  std::string oid = AddLfsFile("weights.bin", 6 * kMiB, 91);
  CommitAndPush("weights that do not fit");
  std::string err = SyncFails();
  EXPECT_THAT(err, HasSubstr("No space left on device")) << err;
  EXPECT_THAT(err, HasSubstr("LFS")) << err;
  // Nothing half-written is visible, and nothing is left taking space.
  EXPECT_TRUE(FilesIn(LfsRoot() / "objects").empty());
  EXPECT_TRUE(FilesIn(LfsRoot() / "incomplete").empty());
  ASSERT_OK_AND_ASSIGN(std::string ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(ls, old_ls);
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.state, "failed");
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_THAT(status.last_run->error, HasSubstr("No space left on device"));

  // With room again, the next sync completes.
  ASSERT_OK(tmpfs->Resize(16 * kMiB));
  SyncOk();
  ExpectStoredIntact(oid);
  ExpectServed({{"weights.bin", oid}});
  // mirrord must let go of the mount before it is removed.
  ASSERT_OK(mirrord_->Terminate().status());
  mirrord_.reset();
}

}  // namespace
}  // namespace mirrord::test
