// Garbage collection and verification at rest with the real mirrord, mirrorctl, git and
// git-lfs against the test upstream (issue 13 items 4 and 5):
//  - `mirrorctl gc`: an object only a removed repo referenced goes (after the grace, which
//    is respected), one shared with a live repo stays; --dry-run deletes nothing and reports
//    the same set; the live repo still clones and pulls byte-identical files;
//  - `mirrorctl remove --purge` frees the repo's own objects at once;
//  - `mirrorctl verify`: a byte flipped in a stored object is found, quarantined and fetched
//    again, and a fresh clone + lfs pull is byte-identical; when the upstream no longer has
//    it the object is reported lost and not served (git-lfs gets the protocol's 404).
// The race of a sync with the sweep is tested deterministically in
// tests/unit/storage/lfs_gc_test.cc (every interleaving of the two).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/seeded_bytes.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_lfs_endpoint.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr std::string_view kLive = "org/live";
constexpr std::string_view kGone = "org/gone";

struct Weights {
  std::string path;
  std::string bytes;
  std::string oid;
};

Weights Make(std::string path, size_t size, uint32_t seed) {
  Weights w{std::move(path), SeededBytes(size, seed), ""};
  w.oid = Sha256Hex(w.bytes);
  return w;
}

class GcVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK(InstallGitLfsFilters());
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("gc-verify-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(lfs_, TestLfsEndpoint::Attach(*upstream_, dir_->path() / "lfs-objects"));
    shared_ = Make("base.bin", 1 << 20, 21);
    live_own_ = Make("live.bin", 300 << 10, 22);
    gone_own_ = Make("gone.bin", 700 << 10, 23);
    Push(kLive, {&shared_, &live_own_});
    Push(kGone, {&shared_, &gone_own_});
    MirrordOptions o;
    // The scheduled collection and scrub stay out of the way: the test drives both.
    o.extra_toml = "[sync]\nmaintenance = false\n[gc]\ninterval = 0\n[verify]\ninterval = 0\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    SyncOk(kLive);
    SyncOk(kGone);
  }

  void Push(std::string_view name, const std::vector<const Weights*>& files) {
    std::string dir_name(name);
    std::replace(dir_name.begin(), dir_name.end(), '/', '-');
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / ("work-" + dir_name)));
    ASSERT_OK(work.LfsTrack("*.bin"));
    ASSERT_OK(work.WriteFile("README.md", "# " + std::string(name) + "\n"));
    for (const Weights* w : files) ASSERT_OK(work.WriteFile(w->path, w->bytes));
    ASSERT_OK(work.Commit("weights").status());
    ASSERT_OK(upstream_->CreateBareRepo(name).status());
    ASSERT_OK(work.PushWithLfs(upstream_->UrlFor(name), {"refs/heads/main:refs/heads/main"}));
  }

  void SyncOk(std::string_view name) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", std::string(name), "--url",
                                                               upstream_->UrlFor(name)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  }

  // Runs mirrorctl with --json; the exit code must be `rc`; returns the parsed document.
  json::object CtlJson(std::vector<std::string> args, int rc = 0) {
    args.insert(args.begin(), "--json");
    Result<ProcessResult> r = mirrord_->Mirrorctl(args);
    EXPECT_OK(r.status());
    if (!r.ok()) return {};
    EXPECT_EQ(r->exit_code, rc) << r->Describe() << "\n" << mirrord_->Logs();
    Result<json::value> v = ParseJson(r->stdout_text);
    EXPECT_OK(v.status()) << r->stdout_text;
    if (!v.ok() || !v->is_object()) return {};
    return v->as_object();
  }

  std::filesystem::path Stored(const std::string& oid) const {
    return mirrord_->store_dir() / "lfs" / "objects" / oid.substr(0, 2) / oid.substr(2, 2) / oid;
  }

  static std::set<std::string> SweptOids(const json::object& answer) {
    std::set<std::string> out;
    for (const json::value& v : answer.at("lfs").at("objects").as_array()) {
      out.insert(std::string(v.at("oid").as_string()));
    }
    return out;
  }

  // `git clone` (no smudge) + `git lfs pull` of `repo` from mirrord into `dest`; the files
  // must be byte-identical to what was pushed.
  void ExpectClonePull(std::string_view repo, const std::filesystem::path& dest,
                       const std::vector<const Weights*>& files) {
    GitOptions no_smudge;
    no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
    ASSERT_OK(
        Git({"clone", "--quiet", mirrord_->UrlFor(repo), dest.string()}, {}, no_smudge).status());
    ASSERT_OK(Git({"lfs", "pull"}, dest).status());
    for (const Weights* w : files) {
      ASSERT_OK_AND_ASSIGN(std::string got, ReadFileToString(dest / w->path));
      EXPECT_TRUE(got == w->bytes) << w->path << " differs from what was pushed";
    }
  }

  // Flips one byte of the stored object in place (a bit rot on disk).
  void FlipStoredByte(const std::string& oid, uint64_t offset) {
    const std::filesystem::path p = Stored(oid);
    ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.is_open());
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
    f.close();
    ASSERT_EQ(::chmod(p.c_str(), 0444), 0);
    ASSERT_OK_AND_ASSIGN(std::string now, ReadFileToString(p));
    ASSERT_NE(Sha256Hex(now), oid);
  }

  std::string MetricsText() {
    Result<HttpReply> reply = HttpFetch(mirrord_->BaseUrl() + "/metrics");
    EXPECT_OK(reply.status());
    return reply.ok() ? reply->body : "";
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<TestLfsEndpoint> lfs_;
  std::unique_ptr<MirrordProcess> mirrord_;
  Weights shared_, live_own_, gone_own_;
};

TEST_F(GcVerify, GcRemovesOnlyWhatTheRemovedRepoReferencedAfterTheGrace) {
  // Nothing is unreferenced yet.
  json::object none = CtlJson({"gc", "--grace", "0"});
  EXPECT_TRUE(SweptOids(none).empty());
  EXPECT_EQ(none.at("lfs").at("referenced_objects").to_number<uint64_t>(), 3u);

  ASSERT_OK_AND_ASSIGN(ProcessResult removed,
                       mirrord_->Mirrorctl({"remove", std::string(kGone), "--yes"}));
  ASSERT_TRUE(removed.ok()) << removed.Describe();
  ASSERT_TRUE(std::filesystem::exists(Stored(gone_own_.oid))) << "remove alone keeps LFS data";

  // Within the grace: kept, and counted as such.
  json::object in_grace = CtlJson({"gc", "--grace", "1d"});
  EXPECT_TRUE(SweptOids(in_grace).empty());
  EXPECT_EQ(in_grace.at("lfs").at("in_grace_objects").to_number<uint64_t>(), 1u);
  EXPECT_EQ(in_grace.at("lfs").at("in_grace_bytes").to_number<uint64_t>(), gone_own_.bytes.size());
  EXPECT_TRUE(std::filesystem::exists(Stored(gone_own_.oid)));

  // A dry run past the grace names the object and its bytes, and deletes nothing.
  json::object dry = CtlJson({"gc", "--dry-run", "--grace", "0"});
  EXPECT_EQ(SweptOids(dry), std::set<std::string>{gone_own_.oid});
  EXPECT_EQ(dry.at("lfs").at("swept_bytes").to_number<uint64_t>(), gone_own_.bytes.size());
  EXPECT_TRUE(dry.at("dry_run").as_bool());
  EXPECT_TRUE(std::filesystem::exists(Stored(gone_own_.oid)));
  ASSERT_OK_AND_ASSIGN(ProcessResult human,
                       mirrord_->Mirrorctl({"gc", "--dry-run", "--grace", "0"}));
  ASSERT_TRUE(human.ok()) << human.Describe();
  EXPECT_THAT(human.stdout_text, HasSubstr("would remove 1 LFS objects (700.0 KiB)"))
      << human.stdout_text;
  EXPECT_THAT(human.stdout_text, HasSubstr(gone_own_.oid)) << human.stdout_text;

  // The real run removes the same set.
  json::object real = CtlJson({"gc", "--grace", "0"});
  EXPECT_EQ(SweptOids(real), SweptOids(dry));
  EXPECT_EQ(real.at("lfs").at("swept_bytes").to_number<uint64_t>(), gone_own_.bytes.size());
  EXPECT_FALSE(std::filesystem::exists(Stored(gone_own_.oid)));
  EXPECT_TRUE(std::filesystem::exists(Stored(shared_.oid)));
  EXPECT_TRUE(std::filesystem::exists(Stored(live_own_.oid)));
  EXPECT_THAT(MetricsText(), HasSubstr("mirrord_gc_reclaimed_bytes_total{kind=\"lfs\"} " +
                                       std::to_string(gone_own_.bytes.size())));

  // The live repo serves everything without the upstream.
  upstream_->Stop();
  ExpectClonePull(kLive, dir_->path() / "clone-live", {&shared_, &live_own_});
}

TEST_F(GcVerify, RemovePurgeFreesTheRepoShareAtOnce) {
  json::object purged = CtlJson({"remove", std::string(kGone), "--yes", "--purge"});
  EXPECT_TRUE(purged.at("removed").as_bool());
  EXPECT_EQ(SweptOids(purged.at("purge").as_object()), std::set<std::string>{gone_own_.oid});
  EXPECT_FALSE(std::filesystem::exists(Stored(gone_own_.oid)));
  EXPECT_TRUE(std::filesystem::exists(Stored(shared_.oid)));
  ASSERT_OK_AND_ASSIGN(ProcessResult status, mirrord_->Mirrorctl({"status", std::string(kGone)}));
  EXPECT_EQ(status.exit_code, 4) << status.Describe();  // not found: the repo is gone
  upstream_->Stop();
  ExpectClonePull(kLive, dir_->path() / "clone-live", {&shared_, &live_own_});
}

TEST_F(GcVerify, VerifyQuarantinesAndRefetchesAFlippedByte) {
  json::object clean = CtlJson({"verify", std::string(kLive)});
  EXPECT_EQ(clean.at("objects_checked").to_number<uint64_t>(), 2u);
  EXPECT_TRUE(clean.at("corrupt").as_array().empty());
  EXPECT_TRUE(clean.at("mirrors").at(0).at("ok").as_bool());

  FlipStoredByte(shared_.oid, 12345);
  json::object found = CtlJson({"verify", std::string(kLive)});
  ASSERT_EQ(found.at("corrupt").as_array().size(), 1u);
  const json::value& bad = found.at("corrupt").at(0);
  EXPECT_EQ(bad.at("oid").as_string(), shared_.oid);
  EXPECT_EQ(bad.at("outcome").as_string(), "refetched");
  // The bad bytes are in quarantine, the store holds the verified object again.
  ASSERT_OK_AND_ASSIGN(std::string stored, ReadFileToString(Stored(shared_.oid)));
  EXPECT_EQ(Sha256Hex(stored), shared_.oid);
  ASSERT_OK_AND_ASSIGN(
      std::string quarantined,
      ReadFileToString(mirrord_->store_dir() / "lfs" / "quarantine" / (shared_.oid + ".1")));
  EXPECT_NE(Sha256Hex(quarantined), shared_.oid);
  EXPECT_THAT(MetricsText(), HasSubstr("mirrord_verify_corrupt_objects_total{kind=\"lfs\"} 1"));

  upstream_->Stop();
  ExpectClonePull(kLive, dir_->path() / "clone-after-verify", {&shared_, &live_own_});
}

TEST_F(GcVerify, VerifyReportsLostWhenTheUpstreamNoLongerHasIt) {
  ASSERT_TRUE(std::filesystem::remove(lfs_->ObjectPath(live_own_.oid)));
  FlipStoredByte(live_own_.oid, 7);
  json::object found = CtlJson({"verify", std::string(kLive)}, /*rc=*/1);
  ASSERT_EQ(found.at("corrupt").as_array().size(), 1u);
  EXPECT_EQ(found.at("corrupt").at(0).at("oid").as_string(), live_own_.oid);
  EXPECT_EQ(found.at("corrupt").at(0).at("outcome").as_string(), "lost");
  EXPECT_FALSE(std::filesystem::exists(Stored(live_own_.oid))) << "never served again";
  EXPECT_THAT(MetricsText(), HasSubstr("mirrord_verify_lost_objects_total 1"));

  // Served as the protocol serves a missing object: the object URL answers 404 (not 500,
  // never the corrupt bytes), and git-lfs fails to pull it.
  ASSERT_OK_AND_ASSIGN(HttpReply get,
                       HttpFetch(mirrord_->UrlFor(kLive) + "/info/lfs/objects/" + live_own_.oid));
  EXPECT_EQ(get.status, 404) << get.body;
  GitOptions no_smudge;
  no_smudge.env["GIT_LFS_SKIP_SMUDGE"] = "1";
  const std::filesystem::path dest = dir_->path() / "clone-lost";
  ASSERT_OK(
      Git({"clone", "--quiet", mirrord_->UrlFor(kLive), dest.string()}, {}, no_smudge).status());
  ASSERT_OK_AND_ASSIGN(ProcessResult pull, RunGit({"lfs", "pull"}, dest));
  EXPECT_FALSE(pull.ok()) << pull.Describe();
  ASSERT_OK_AND_ASSIGN(std::string lost, ReadFileToString(dest / live_own_.path));
  std::string corrupt = live_own_.bytes;
  corrupt[7] = static_cast<char>(corrupt[7] ^ 0x01);
  EXPECT_NE(lost, corrupt) << "the corrupt bytes were served";
  EXPECT_NE(lost, live_own_.bytes);
}

}  // namespace
}  // namespace mirrord::test
