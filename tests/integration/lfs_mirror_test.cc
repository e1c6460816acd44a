// Git LFS mirrored end to end with the real clients: `git lfs push` fills the test upstream,
// `mirrorctl sync` mirrors the repo and its LFS objects, and with the upstream gone `git clone`
// + `git lfs pull` from mirrord give byte-identical files that `git lfs fsck` accepts. Objects
// are stored once for all repos that use them, a later sync fetches only what is new, and
// `mirrorctl` reports LFS progress, totals and logical/physical bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/admin_api_calls.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"
#include "tests/fixtures/seeded_bytes.h"

namespace mirrord::test {
namespace {

using std::chrono::milliseconds;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "org/model";
constexpr std::string_view kFinetune = "org/finetune";

// `git clone` without the smudge filter, then `git lfs pull`: the LFS files are fetched by
// git-lfs's own transfer code from the clone URL's LFS endpoint.
Status CloneAndLfsPull(std::string_view url, const std::filesystem::path& dest) {
  GitOptions no_smudge;
  no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  RETURN_IF_ERROR(
      Git({"clone", "--quiet", std::string(url), dest.string()}, {}, no_smudge).status());
  return Git({"lfs", "pull"}, dest).status();
}

// The complete files under <store>/lfs/objects (the store's physical content), by name.
std::set<std::string> StoredObjects(const std::filesystem::path& store_dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(store_dir / "lfs" / "objects", ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) out.insert(it->path().filename().string());
  }
  return out;
}

// One LFS file of the upstream's history.
struct LfsFile {
  std::string path;
  std::string content;
  std::string oid;
};

LfsFile MakeLfsFile(std::string path, size_t size, uint32_t seed) {
  LfsFile f{std::move(path), SeededBytes(size, seed), ""};
  f.oid = Sha256Hex(f.content);
  return f;
}

class LfsMirror : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("lfs-mirror-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));

    // A model repo as people push them: weights in LFS, the rest plain files, a release tag.
    model1_ = MakeLfsFile("weights/model-1.bin", 3 << 20, 11);
    model2_ = MakeLfsFile("weights/model-2.bin", 2 << 20, 12);
    tokenizer_ = MakeLfsFile("tokenizer.bin", 200 << 10, 13);
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.LfsTrack("*.bin"));
    ASSERT_OK(work.WriteFile("README.md", "# model\n"));
    ASSERT_OK(work.WriteFile("config.json", "{\"layers\": 4}\n"));
    for (const LfsFile* f : {&model1_, &model2_, &tokenizer_}) {
      ASSERT_OK(work.WriteFile(f->path, f->content));
    }
    ASSERT_OK(work.Commit("model v1").status());
    ASSERT_OK(work.CreateAnnotatedTag("v1", "release 1"));
    ASSERT_OK(upstream_->CreateBareRepo(kRepo).status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor(kRepo),
                               {"refs/heads/main:refs/heads/main", "refs/tags/v1:refs/tags/v1"}));
    work_.emplace(std::move(work));
    // The real git-lfs client uploaded them; nothing was downloaded yet.
    for (const LfsFile* f : {&model1_, &model2_, &tokenizer_}) {
      ASSERT_TRUE(lfs_->HasObject(f->oid)) << f->path;
      ASSERT_EQ(lfs_->ObjectGets(f->oid), 0) << f->path;
    }

    MirrordOptions o;
    o.extra_toml = "[sync]\nmaintenance = false\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  // `mirrorctl sync NAME --url <upstream>` (stdout piped); must succeed.
  void SyncOk(std::string_view name, std::string* stdout_text = nullptr) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(name), "--url",
                                                               upstream_->UrlFor(name)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\nmirrord:\n" << mirrord_->Logs();
    if (stdout_text != nullptr) *stdout_text = r.stdout_text;
  }

  // The checkout at `dir` holds exactly these LFS files, and git-lfs finds its store sound.
  void ExpectLfsFiles(const std::filesystem::path& dir, const std::vector<const LfsFile*>& files) {
    for (const LfsFile* f : files) {
      ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dir / f->path));
      EXPECT_EQ(got.size(), f->content.size()) << f->path;
      EXPECT_TRUE(got == f->content) << f->path << " differs from what was pushed";
    }
    ASSERT_OK_AND_ASSIGN(ProcessResult fsck, RunGit({"lfs", "fsck"}, dir));
    EXPECT_TRUE(fsck.ok()) << fsck.Describe() << "\n" << fsck.stdout_text;
    EXPECT_THAT(fsck.stdout_text, HasSubstr("Git LFS fsck OK"));
    // Every LFS file is materialised ("*"), none left as a pointer ("-").
    ASSERT_OK_AND_ASSIGN(std::string listed, Git({"lfs", "ls-files"}, dir));
    for (const LfsFile* f : files) {
      EXPECT_THAT(listed, HasSubstr(f->oid.substr(0, 10) + " * " + f->path)) << listed;
    }
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::optional<WorkRepo> work_;
  std::unique_ptr<MirrordProcess> mirrord_;
  LfsFile model1_;
  LfsFile model2_;
  LfsFile tokenizer_;
};

constexpr uint64_t kModelBytes = (3 << 20) + (2 << 20) + (200 << 10);  // 5.2 MiB

TEST_F(LfsMirror, CloneAndLfsPullWithTheUpstreamGone) {
  std::string out;
  SyncOk(kRepo, &out);
  EXPECT_THAT(out, HasSubstr("; LFS: 3 objects (5.2 MiB), 3 fetched (5.2 MiB received)")) << out;
  for (const LfsFile* f : {&model1_, &model2_, &tokenizer_}) {
    EXPECT_EQ(lfs_->ObjectGets(f->oid), 1) << f->path;
    EXPECT_EQ(lfs_->BytesServed(f->oid), f->content.size()) << f->path;
  }

  upstream_->Stop();  // from here on only mirrord can answer

  std::filesystem::path dest = Scratch("clone");
  ASSERT_OK(CloneAndLfsPull(mirrord_->UrlFor(kRepo), dest));
  ExpectLfsFiles(dest, {&model1_, &model2_, &tokenizer_});
  ASSERT_OK_AND_ASSIGN(std::string readme, ReadFileToString(dest / "README.md"));
  EXPECT_EQ(readme, "# model\n");
  ASSERT_OK(Git({"fsck", "--full", "--strict"}, dest).status());

  // A plain clone (the smudge filter fetching through mirrord) gives the same files.
  std::filesystem::path smudged = Scratch("smudged");
  ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), smudged.string()}).status());
  ExpectLfsFiles(smudged, {&model1_, &model2_, &tokenizer_});

  // Status: what the repo references (logical) and what the store holds (physical).
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.state, "ready");
  EXPECT_EQ(status.lfs_objects, 3u);
  EXPECT_EQ(status.lfs_logical_bytes, kModelBytes);
  EXPECT_EQ(status.lfs_present_objects, 3u);
  EXPECT_EQ(status.lfs_present_bytes, kModelBytes);
  EXPECT_EQ(status.lfs_failed_objects, 0u);
  EXPECT_EQ(status.store_physical_bytes, kModelBytes);
  ASSERT_OK_AND_ASSIGN(ProcessResult human, mirrord_->Mirrorctl({"status", std::string(kRepo)}));
  ASSERT_TRUE(human.ok()) << human.Describe();
  EXPECT_THAT(human.stdout_text,
              HasSubstr("lfs:          3 objects, 5.2 MiB logical; 3 present (5.2 MiB)\n"))
      << human.stdout_text;
  EXPECT_THAT(human.stdout_text, ContainsRegex("store: +5\\.2 MiB physical")) << human.stdout_text;
  EXPECT_EQ(StoredObjects(mirrord_->store_dir()),
            (std::set<std::string>{model1_.oid, model2_.oid, tokenizer_.oid}));
}

TEST_F(LfsMirror, SharedObjectIsStoredAndFetchedOnce) {
  SyncOk(kRepo);

  // A second repo ships the same base weights (same bytes, another path) and an adapter.
  LfsFile base = MakeLfsFile("base/model.bin", 3 << 20, 11);
  ASSERT_EQ(base.oid, model1_.oid);
  LfsFile adapter = MakeLfsFile("adapter.bin", 1 << 20, 14);
  ASSERT_OK_AND_ASSIGN(WorkRepo ft, WorkRepo::Init(Scratch("finetune-work")));
  ASSERT_OK(ft.LfsTrack("*.bin"));
  ASSERT_OK(ft.WriteFile(base.path, base.content));
  ASSERT_OK(ft.WriteFile(adapter.path, adapter.content));
  ASSERT_OK(ft.Commit("fine-tune").status());
  ASSERT_OK(upstream_->CreateBareRepo(kFinetune).status());
  ASSERT_OK(ft.PushWithLfs(upstream_->UrlFor(kFinetune), {"refs/heads/main:refs/heads/main"}));

  std::string out;
  SyncOk(kFinetune, &out);
  EXPECT_THAT(out, HasSubstr("; LFS: 2 objects (4.0 MiB), 1 fetched (1.0 MiB received)")) << out;
  // The shared object came from upstream once, for the first repo.
  EXPECT_EQ(lfs_->ObjectGets(base.oid), 1);
  EXPECT_EQ(lfs_->BytesServed(base.oid), base.content.size());
  EXPECT_EQ(lfs_->ObjectGets(adapter.oid), 1);

  ASSERT_OK_AND_ASSIGN(RepoStatus ft_status, StatusJson(*mirrord_, kFinetune));
  EXPECT_EQ(ft_status.lfs_objects, 2u);
  EXPECT_EQ(ft_status.lfs_logical_bytes, base.content.size() + adapter.content.size());
  EXPECT_EQ(ft_status.lfs_present_objects, 2u);
  // Physical: every object once, whichever repos reference it.
  EXPECT_EQ(ft_status.store_physical_bytes, kModelBytes + adapter.content.size());
  ASSERT_OK_AND_ASSIGN(RepoStatus model_status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(model_status.lfs_logical_bytes, kModelBytes);
  EXPECT_EQ(model_status.store_physical_bytes, kModelBytes + adapter.content.size());
  EXPECT_EQ(StoredObjects(mirrord_->store_dir()).size(), 4u);

  // Both repos serve the shared object without the upstream.
  upstream_->Stop();
  std::filesystem::path dest = Scratch("finetune-clone");
  ASSERT_OK(CloneAndLfsPull(mirrord_->UrlFor(kFinetune), dest));
  ExpectLfsFiles(dest, {&base, &adapter});
  std::filesystem::path model = Scratch("model-clone");
  ASSERT_OK(CloneAndLfsPull(mirrord_->UrlFor(kRepo), model));
  ExpectLfsFiles(model, {&model1_, &model2_, &tokenizer_});
}

TEST_F(LfsMirror, IncrementalSyncFetchesOnlyNewObjects) {
  SyncOk(kRepo);
  const size_t batched_before = lfs_->BatchedOids().size();

  // New weights for one file on main; the tag v1 keeps the old ones.
  LfsFile model2_new = MakeLfsFile("weights/model-2.bin", 2 << 20, 15);
  ASSERT_OK(work_->WriteFile(model2_new.path, model2_new.content));
  ASSERT_OK(work_->Commit("retrained model-2").status());
  ASSERT_OK(work_->PushWithLfs(upstream_->UrlFor(kRepo), {"refs/heads/main:refs/heads/main"}));

  std::string out;
  SyncOk(kRepo, &out);
  EXPECT_THAT(out, HasSubstr("org/model: 0 refs added, 1 updated, 0 deleted")) << out;
  // Four objects are referenced (main's three, and v1's old model-2), one was fetched.
  EXPECT_THAT(out, HasSubstr("; LFS: 4 objects (7.2 MiB), 1 fetched (2.0 MiB received)")) << out;
  EXPECT_EQ(lfs_->ObjectGets(model2_new.oid), 1);
  EXPECT_EQ(lfs_->BytesServed(model2_new.oid), model2_new.content.size());
  for (const LfsFile* f : {&model1_, &model2_, &tokenizer_}) {
    EXPECT_EQ(lfs_->ObjectGets(f->oid), 1) << f->path << " fetched again";
  }
  // Only the new object was even asked about.
  std::vector<std::string> batched = lfs_->BatchedOids();
  ASSERT_GE(batched.size(), batched_before);
  std::vector<std::string> asked(batched.begin() + static_cast<ptrdiff_t>(batched_before),
                                 batched.end());
  EXPECT_THAT(asked, ::testing::Each(model2_new.oid));
  EXPECT_FALSE(asked.empty());

  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  EXPECT_EQ(status.lfs_objects, 4u);
  EXPECT_EQ(status.lfs_present_objects, 4u);
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->lfs_objects_fetched, 1u);
  EXPECT_EQ(status.last_run->lfs_bytes_fetched, model2_new.content.size());

  // Nothing new upstream: the next sync fetches nothing and asks nothing.
  const size_t batched_now = lfs_->BatchedOids().size();
  SyncOk(kRepo, &out);
  EXPECT_THAT(out, HasSubstr("; LFS: 4 objects (7.2 MiB), 0 fetched (0 B received)")) << out;
  EXPECT_EQ(lfs_->BatchedOids().size(), batched_now);

  upstream_->Stop();
  std::filesystem::path dest = Scratch("clone");
  ASSERT_OK(CloneAndLfsPull(mirrord_->UrlFor(kRepo), dest));
  ExpectLfsFiles(dest, {&model1_, &model2_new, &tokenizer_});
  // The tag's old weights are served too.
  ASSERT_OK(Git({"checkout", "--quiet", "v1"}, dest).status());
  ExpectLfsFiles(dest, {&model1_, &model2_, &tokenizer_});
}

TEST_F(LfsMirror, PipedSyncShowsLfsProgressAndSummary) {
  // The first object GET waits a while, so the LFS phase lasts longer than mirrorctl's
  // progress poll: the phase is reported whatever the machine's speed.
  Fault slow;
  slow.path_substring = "/lfs/objects/";
  slow.method = "GET";
  slow.delay = milliseconds(1500);
  slow.times = 1;
  int id = upstream_->AddFault(slow);

  std::string out;
  SyncOk(kRepo, &out);
  EXPECT_EQ(upstream_->FaultHits(id), 1);
  // stdout is a pipe: one plain line per phase change (no carriage returns), then the summary.
  EXPECT_THAT(out, Not(HasSubstr("\r")));
  EXPECT_THAT(out, ContainsRegex("(^|\n)\\[lfs\\] LFS [0-3]/3 objects  [0-9.]+ (B|KiB|MiB) / "
                                 "5\\.2 MiB[^\n]*\n"))
      << out;
  EXPECT_THAT(out, ContainsRegex("\norg/model: 2 refs added, 0 updated, 0 deleted, [0-9]+\\.[0-9] "
                                 "MiB in [0-9]+ s; LFS: 3 objects \\(5\\.2 MiB\\), 3 fetched "
                                 "\\(5\\.2 MiB received\\)\n$"))
      << out;
  size_t lfs_line = out.find("[lfs] LFS ");
  size_t summary = out.find("org/model: 2 refs added");
  ASSERT_NE(lfs_line, std::string::npos);
  EXPECT_LT(lfs_line, summary);

  // The run's record keeps the LFS totals.
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo));
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_EQ(status.last_run->lfs_objects, 3u);
  EXPECT_EQ(status.last_run->lfs_objects_fetched, 3u);
  EXPECT_EQ(status.last_run->lfs_bytes, kModelBytes);
  EXPECT_EQ(status.last_run->lfs_bytes_fetched, kModelBytes);
}

}  // namespace
}  // namespace mirrord::test
