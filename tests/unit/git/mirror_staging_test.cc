// The staging area (git/mirror_staging.h): what a fetch brings in is invisible to
// `git upload-pack` on the mirror (protocol v0 and v2, by SHA) until PublishRefs moves it in;
// a crash between that move and the ref switch is rolled back by crash recovery; the LFS scan
// and the connectivity check read staged objects; a fetch after an unpublished one downloads
// nothing twice. Real git (file:// upload-pack) against real repositories.
#include "git/mirror_staging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/file_util.h"
#include "git/connectivity_check.h"
#include "git/lfs_pointer_scan.h"
#include "git/mirror_fetcher.h"
#include "git/mirror_repository.h"
#include "git/ref_publisher.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/unit/git/mirror_test_support.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;
using gittest::ForEachRef;
using gittest::Git;
using gittest::Trim;
using gittest::Upstream;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class MirrorStagingTest : public gittest::MirrorFixture {
 protected:
  FetchResult Fetch() {
    auto fetched = FetchMirror(mirror_, Options());
    EXPECT_TRUE(fetched.ok()) << fetched.status().ToString();
    return fetched.ok() ? *fetched : FetchResult{};
  }

  void Publish(const FetchResult& fetched) {
    auto published = PublishRefs(mirror_, fetched.refs, fetched.head);
    ASSERT_TRUE(published.ok()) << published.status().ToString();
  }

  // `git fetch file://<mirror> <sha>` into a fresh repository: what upload-pack serves.
  gittest::CmdResult FetchBySha(const std::string& sha, int version) {
    fs::path dest = tmp_->path() / ("client-" + std::to_string(++clients_));
    Git({"init", "-q", "--bare", dest.string()});
    return gittest::Run({"git", "-c", "protocol.version=" + std::to_string(version),
                "--git-dir=" + dest.string(), "fetch", "-q", "--no-tags",
                "file://" + mirror_.string(), sha});
  }

  bool MirrorHasObject(const std::string& sha) {
    return gittest::Run({"git", "--git-dir=" + mirror_.string(), "cat-file", "-e", sha}).ok();
  }

  std::vector<std::string> FilesIn(const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
      out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void ExpectServedOnlyPublished(const std::string& published, const std::string& staged) {
    for (int version : {0, 2}) {
      SCOPED_TRACE("protocol.version=" + std::to_string(version));
      gittest::CmdResult ok = FetchBySha(published, version);
      EXPECT_TRUE(ok.ok()) << ok.err;
      gittest::CmdResult refused = FetchBySha(staged, version);
      EXPECT_FALSE(refused.ok());
      // v0: the client does not even ask (no allow-*-sha1-in-want capability); v2: it asks,
      // and upload-pack does not have the object.
      EXPECT_THAT(refused.err, HasSubstr(version == 0 ? "unadvertised object" : "not our ref"))
          << refused.err;
    }
    EXPECT_FALSE(MirrorHasObject(staged));
  }

  int clients_ = 0;
};

TEST_F(MirrorStagingTest, FetchedObjectsAreServedOnlyOncePublished) {
  std::string published = upstream_->Commit("published");
  Publish(Fetch());
  std::string staged = upstream_->Commit("staged", 3);
  FetchResult fetched = Fetch();
  EXPECT_GT(fetched.received_objects, 0u);

  // Staged: in the staging repository, not in the mirror; upload-pack refuses it by SHA over
  // both protocol versions, while the published commit is served.
  EXPECT_TRUE(gittest::Run({"git", "--git-dir=" + StagingDirectory(mirror_).string(), "cat-file", "-e",
                   staged})
                  .ok());
  ExpectServedOnlyPublished(published, staged);

  // The connectivity check and the LFS scan read the staged objects.
  auto current = ReadPublishedRefs(mirror_);
  ASSERT_TRUE(current.ok());
  EXPECT_TRUE(CheckConnectivity(mirror_, fetched.refs, *current).ok());
  auto scan = ScanLfsPointers(mirror_, {{"refs/heads/main", staged}}, {}, nullptr);
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();

  // Published: moved into the mirror (nothing left staged), served by SHA.
  Publish(fetched);
  EXPECT_TRUE(MirrorHasObject(staged));
  EXPECT_THAT(FilesIn(StagingDirectory(mirror_) / "objects" / "pack"), IsEmpty());
  EXPECT_FALSE(fs::exists(StagingDirectory(mirror_) / kMigrationJournalName));
  for (int version : {0, 2}) {
    gittest::CmdResult ok = FetchBySha(staged, version);
    EXPECT_TRUE(ok.ok()) << "v" << version << ": " << ok.err;
  }
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
}

TEST_F(MirrorStagingTest, FetchAfterAnUnpublishedOneDownloadsNothingTwice) {
  upstream_->Commit("base", 3);
  Publish(Fetch());
  upstream_->Commit("new", 2);
  FetchResult first = Fetch();  // not published (say its LFS phase failed)
  EXPECT_GT(first.received_objects, 0u);
  FetchResult again = Fetch();
  EXPECT_EQ(again.received_objects, 0u);
  EXPECT_EQ(again.refs, first.refs);
  Publish(again);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
}

TEST_F(MirrorStagingTest, ObjectsTheUpstreamRewroteAwayAreNeverPublished) {
  std::string published = upstream_->Commit("published");
  Publish(Fetch());
  // Staged by a sync that failed (say in its LFS phase)...
  std::string abandoned = upstream_->Commit("abandoned", 2);
  Fetch();
  // ...then the upstream force-pushes it away and moves on, with an annotated tag.
  upstream_->G({"reset", "-q", "--hard", "HEAD~1"});
  std::string kept = upstream_->Commit("kept", 2);
  upstream_->G({"tag", "-a", "v1", "-m", "one"});
  FetchResult fetched = Fetch();
  EXPECT_THAT(FilesIn(StagingDirectory(mirror_) / "objects" / "pack"), ::testing::SizeIs(2));
  Publish(fetched);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
  EXPECT_TRUE(MirrorHasObject(kept));
  // The abandoned commit never reaches the served repository.
  EXPECT_FALSE(MirrorHasObject(abandoned));
  for (int version : {0, 2}) {
    EXPECT_FALSE(FetchBySha(abandoned, version).ok()) << "v" << version;
    EXPECT_TRUE(FetchBySha(kept, version).ok()) << "v" << version;
  }
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
}

TEST_F(MirrorStagingTest, CrashBetweenMigrationAndPublicationIsRolledBack) {
  std::string published = upstream_->Commit("published");
  Publish(Fetch());
  std::string refs_before = ForEachRef(mirror_);
  std::string staged = upstream_->Commit("staged", 2);
  FetchResult fetched = Fetch();

  // A publishing process dies (like kill -9) after moving the staged objects in, before the
  // new packed-refs is renamed into place.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SetAfterMigrationHookForTesting([] { ::_exit(86); });
    (void)PublishRefs(mirror_, fetched.refs, fetched.head);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 86) << "the hook did not run";
  // The crash left the objects in the mirror with the old refs: what recovery must undo.
  EXPECT_TRUE(fs::exists(mirror_ / "packed-refs.lock"));
  EXPECT_TRUE(fs::exists(StagingDirectory(mirror_) / kMigrationJournalName));
  EXPECT_TRUE(MirrorHasObject(staged));

  auto recovered = MirrorRepository::RecoverAfterCrash(mirror_);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_FALSE(fs::exists(mirror_ / "packed-refs.lock"));
  EXPECT_FALSE(fs::exists(StagingDirectory(mirror_) / kMigrationJournalName));
  // Consistent, and the old state exactly: old refs, staged objects unservable again.
  EXPECT_EQ(ForEachRef(mirror_), refs_before);
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
  ExpectServedOnlyPublished(published, staged);

  // And the next sync works, without downloading the staged objects again.
  FetchResult again = Fetch();
  EXPECT_EQ(again.received_objects, 0u);
  Publish(again);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
  EXPECT_TRUE(FetchBySha(staged, 2).ok());
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
}

TEST_F(MirrorStagingTest, CrashHalfwayThroughTheMoveKeepsTheStagedPack) {
  std::string published = upstream_->Commit("published");
  Publish(Fetch());
  std::string staged = upstream_->Commit("staged", 2);
  FetchResult fetched = Fetch();
  // The state of a publication killed after moving a .pack but before its .idx: the lock
  // and the journal written, the pack in the mirror without its index (a file the mirror's
  // own garbage rule would delete), the index still staged.
  fs::path staged_pack_dir = StagingDirectory(mirror_) / "objects" / "pack";
  std::vector<std::string> files = FilesIn(staged_pack_dir);
  std::string pack, idx;
  for (const std::string& f : files) {
    if (f.ends_with(".pack")) pack = f;
    if (f.ends_with(".idx")) idx = f;
  }
  ASSERT_FALSE(pack.empty());
  ASSERT_FALSE(idx.empty());
  ASSERT_TRUE(WriteFileAtomically(mirror_ / "packed-refs.lock", "partial").ok());
  ASSERT_TRUE(WriteFileAtomically(StagingDirectory(mirror_) / kMigrationJournalName,
                                  "pack/" + pack + "\npack/" + idx + "\n")
                  .ok());
  fs::rename(staged_pack_dir / pack, mirror_ / "objects" / "pack" / pack);

  auto recovered = MirrorRepository::RecoverAfterCrash(mirror_);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_TRUE(fs::exists(staged_pack_dir / pack));
  EXPECT_TRUE(fs::exists(staged_pack_dir / idx));
  EXPECT_FALSE(fs::exists(mirror_ / "objects" / "pack" / pack));
  EXPECT_FALSE(fs::exists(mirror_ / "packed-refs.lock"));
  ExpectServedOnlyPublished(published, staged);
  FetchResult again = Fetch();
  EXPECT_EQ(again.received_objects, 0u);
  Publish(again);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
}

TEST_F(MirrorStagingTest, CrashAfterTheRefSwitchKeepsThePublication) {
  upstream_->Commit("published");
  Publish(Fetch());
  std::string staged = upstream_->Commit("staged");
  FetchResult fetched = Fetch();
  Publish(fetched);
  // As if the process died between the rename of packed-refs and the journal's removal.
  ASSERT_TRUE(WriteFileAtomically(StagingDirectory(mirror_) / kMigrationJournalName,
                                  "pack/pack-0000000000000000000000000000000000000000.idx\n")
                  .ok());
  auto recovered = MirrorRepository::RecoverAfterCrash(mirror_);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_FALSE(fs::exists(StagingDirectory(mirror_) / kMigrationJournalName));
  EXPECT_TRUE(MirrorHasObject(staged));
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
}

TEST_F(MirrorStagingTest, RecoveryRemovesAnIncompleteStagingDirectory) {
  fs::path incomplete = mirror_ / ".mirrord-staging.incomplete-abc123";
  fs::create_directories(incomplete / "objects");
  auto recovered = MirrorRepository::RecoverAfterCrash(mirror_);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  EXPECT_FALSE(fs::exists(incomplete));
  EXPECT_THAT(*recovered, ::testing::Contains(incomplete));
}

TEST_F(MirrorStagingTest, LegacyStagingRefsInTheMirrorAreRemoved) {
  std::string first = upstream_->Commit("first");
  Publish(Fetch());
  // What an older mirrord left: staging refs in the served repository.
  Git({"--git-dir=" + mirror_.string(), "update-ref", "refs/mirrord/staging/heads/main", first});
  upstream_->Commit("second");
  Publish(Fetch());
  EXPECT_EQ(Git({"--git-dir=" + mirror_.string(), "for-each-ref", "refs/mirrord"}), "");
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
}

TEST_F(MirrorStagingTest, StagingSeesPublishedHistoryThroughRelativeAlternates) {
  upstream_->Commit("one");
  Publish(Fetch());
  auto alternates = ReadFileToString(StagingDirectory(mirror_) / "objects" / "info" / "alternates");
  ASSERT_TRUE(alternates.ok());
  EXPECT_EQ(*alternates, "../../objects\n");
  // The whole storage root moves: the staging area still finds the mirror's objects.
  fs::path moved = tmp_->path() / "elsewhere" / "repo.git";
  fs::create_directories(moved.parent_path());
  fs::rename(mirror_, moved);
  mirror_ = moved;
  upstream_->Commit("two");
  FetchResult fetched = Fetch();
  EXPECT_LT(fetched.received_objects, 5u);
  Publish(fetched);
  EXPECT_EQ(ForEachRef(mirror_), upstream_->PublishableRefs());
  Git({"--git-dir=" + mirror_.string(), "fsck", "--no-dangling"});
}

}  // namespace
}  // namespace mirrord
