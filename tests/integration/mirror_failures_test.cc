// Upstream failures: a 404, a 500, a closed port, a connection cut mid-pack and a stalled
// transfer each make `mirrorctl sync` fail with a message naming the problem, while the
// mirror synced before keeps being served unchanged, its status shows the failure, and the
// upstream's token never shows up anywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/api_json.h"
#include "common/api_types.h"
#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/seeded_bytes.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using std::chrono::seconds;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kRepo = "org/weights";

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Result<RepoStatus> StatusJson(MirrordProcess& m, std::string_view name, std::string* raw) {
  ASSIGN_OR_RETURN(ProcessResult r, m.Mirrorctl({"status", std::string(name), "--json"}));
  if (!r.ok()) return Internal("mirrorctl status --json: " + r.Describe());
  if (raw != nullptr) *raw += r.stdout_text + r.stderr_text;
  ASSIGN_OR_RETURN(boost::json::value v, ParseJson(r.stdout_text));
  return RepoStatusFromJson(v);
}

enum class Failure { kNotFound, kServerError, kUnreachable, kDropMidPack, kStall };

class MirrorFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-failures-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));

    // A throwaway token the upstream insists on, so a leak would be visible.
    std::mt19937 rng(20240611);
    token_ = "tok";
    for (int i = 0; i < 24; ++i) token_ += "0123456789abcdef"[rng() % 16];
    std::filesystem::path token_file = dir_->path() / "upstream.token";
    ASSERT_OK(WriteFileAtomically(token_file, token_ + "\n"));
    std::filesystem::permissions(
        token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    basic_ = Base64("x-access-token:" + token_);
    upstream_->SetRequireAuth("Basic " + basic_);

    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "weights\n", "readme").status());
    ASSERT_OK(work.CommitFile("shard-1.bin", SeededBytes(384 * 1024, 1), "shard 1").status());
    ASSERT_OK(work.CreateAnnotatedTag("v1", "release 1"));
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kRepo));
    ASSERT_OK(work.PushMirror(bare_.string()));
    work_.emplace(std::move(work));

    MirrordOptions o;
    // private = false: these tests read the mirror as the LAN would, without a read token
    // (an upstream with a token is otherwise private: read_access_test.cc).
    o.extra_toml = "[sync]\nstall_timeout = \"2s\"\n\n[upstreams.lab]\nurl = \"" +
                   upstream_->BaseUrl() + "/{repo}.git\"\ntoken_file = \"" + token_file.string() +
                   "\"\nprivate = false\n";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));

    // The state every failure must leave untouched.
    ASSERT_OK_AND_ASSIGN(ProcessResult first,
                         Mirrorctl({"sync", std::string(kRepo), "--upstream", "lab"}));
    ASSERT_TRUE(first.ok()) << first.Describe() << "\n" << mirrord_->Logs();
    ASSERT_OK_AND_ASSIGN(old_refs_, ForEachRef(bare_));
    ASSERT_OK_AND_ASSIGN(old_ls_remote_, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));

    // Upstream moves on with another big shard, so the next sync needs a real pack.
    ASSERT_OK(work_->CommitFile("shard-2.bin", SeededBytes(384 * 1024, 2), "shard 2").status());
    ASSERT_OK(work_->Push(bare_.string(), {"refs/heads/main:refs/heads/main"}));
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  // Runs mirrorctl and keeps its output for the token check.
  Result<ProcessResult> Mirrorctl(const std::vector<std::string>& args) {
    ASSIGN_OR_RETURN(ProcessResult r, mirrord_->Mirrorctl(args));
    outputs_ += r.stdout_text + r.stderr_text;
    return r;
  }

  // The mirror still clones, fsck-clean, with exactly the refs of before the failure.
  void ExpectOldStateServed() {
    ASSERT_OK_AND_ASSIGN(std::string ls, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
    EXPECT_EQ(ls, old_ls_remote_);
    std::filesystem::path dest = Scratch("after-failure.git");
    ASSERT_OK(
        Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), dest.string()}).status());
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> refs, ForEachRef(dest));
    EXPECT_EQ(refs, old_refs_);
    ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
    std::filesystem::path checkout = Scratch("after-failure-checkout");
    ASSERT_OK(Git({"clone", "--quiet", mirrord_->UrlFor(kRepo), checkout.string()}).status());
    ASSERT_OK_AND_ASSIGN(std::string shard, ReadFileToString(checkout / "shard-1.bin"));
    EXPECT_EQ(shard, SeededBytes(384 * 1024, 1));
    EXPECT_FALSE(std::filesystem::exists(checkout / "shard-2.bin"));
  }

  // The repo's status says the last sync failed, and why.
  void ExpectStatusShowsFailure(std::string_view name, std::string_view error_substring) {
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, name, &outputs_));
    EXPECT_EQ(status.state, "failed");
    ASSERT_TRUE(status.last_run.has_value());
    EXPECT_EQ(status.last_run->state, "failed");
    EXPECT_FALSE(status.last_run->error.empty());
    EXPECT_THAT(Lower(status.last_run->error), HasSubstr(Lower(std::string(error_substring))));
    ASSERT_OK_AND_ASSIGN(ProcessResult human, Mirrorctl({"status", std::string(name)}));
    EXPECT_TRUE(human.ok()) << human.Describe();
    EXPECT_THAT(human.stdout_text, HasSubstr("failed"));
    EXPECT_THAT(human.stdout_text, HasSubstr(status.last_run->error));
  }

  void ExpectTokenNeverShown() {
    ASSERT_OK_AND_ASSIGN(ProcessResult list, Mirrorctl({"list"}));
    ASSERT_OK_AND_ASSIGN(ProcessResult all, Mirrorctl({"status", "--json"}));
    EXPECT_TRUE(list.ok()) << list.Describe();
    EXPECT_TRUE(all.ok()) << all.Describe();
    for (const std::string& secret : {token_, basic_}) {
      EXPECT_THAT(outputs_, Not(HasSubstr(secret)));
      EXPECT_THAT(mirrord_->Logs(), Not(HasSubstr(secret)));
    }
  }

  // Runs `mirrorctl sync kRepo` against the failure and checks everything the failure must
  // (and must not) do; stores mirrorctl's stderr and the sync's wall time when asked.
  void RunFailingSync(std::string_view stderr_substring, std::string* stderr_text = nullptr,
                      std::chrono::steady_clock::duration* elapsed = nullptr) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", std::string(kRepo)}));
    if (elapsed != nullptr) *elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.exit_code, 1) << r.Describe();
    EXPECT_THAT(r.stderr_text, StartsWith("mirrord: sync of org/weights failed: "))
        << r.stderr_text;
    EXPECT_THAT(Lower(r.stderr_text), HasSubstr(Lower(std::string(stderr_substring))))
        << r.stderr_text;
    EXPECT_THAT(r.stdout_text, Not(HasSubstr("refs added")));
    if (stderr_text != nullptr) *stderr_text = r.stderr_text;
    ExpectOldStateServed();
    ExpectStatusShowsFailure(kRepo, stderr_substring);
  }

  // After the fault is gone, the next sync publishes the new state.
  void ExpectRecovery() {
    ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", std::string(kRepo)}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
    EXPECT_THAT(r.stdout_text, HasSubstr("org/weights: 0 refs added, 1 updated, 0 deleted"));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> now, ForEachRef(bare_));
    std::filesystem::path dest = Scratch("recovered.git");
    ASSERT_OK(
        Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo), dest.string()}).status());
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> got, ForEachRef(dest));
    EXPECT_EQ(got, now);
    ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
    ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo, &outputs_));
    EXPECT_EQ(status.state, "ready");
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string token_;
  std::string basic_;
  std::unique_ptr<MirrordProcess> mirrord_;
  std::vector<std::string> old_refs_;
  std::string old_ls_remote_;
  std::string outputs_;  // everything mirrorctl printed
};

TEST_F(MirrorFailures, UpstreamNotFound) {
  // The upstream repository disappears.
  std::filesystem::path moved = Scratch("moved-away.git");
  std::filesystem::rename(bare_, moved);
  RunFailingSync("not found");

  // A new repo whose upstream never existed: nothing is served for it, nor kept.
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", "org/absent", "--upstream", "lab"}));
  EXPECT_EQ(r.exit_code, 4) << r.Describe();
  EXPECT_THAT(Lower(r.stderr_text), HasSubstr("not found")) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("org/absent was not kept")) << r.stderr_text;
  ASSERT_OK_AND_ASSIGN(ProcessResult absent, Mirrorctl({"status", "org/absent"}));
  EXPECT_EQ(absent.exit_code, 4) << absent.Describe();
  ASSERT_OK_AND_ASSIGN(ProcessResult clone, RunGit({"ls-remote", mirrord_->UrlFor("org/absent")}));
  EXPECT_FALSE(clone.ok());
  EXPECT_THAT(clone.stderr_text, HasSubstr("not found")) << clone.stderr_text;

  std::filesystem::rename(moved, bare_);
  ExpectRecovery();
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, UpstreamServerError) {
  Fault f = Fault::AnswerStatus("/info/refs", 500);
  int id = upstream_->AddFault(f);
  std::string err;
  RunFailingSync("500", &err);
  EXPECT_GE(upstream_->FaultHits(id), 1);
  upstream_->ClearFaults();
  ExpectRecovery();
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, UpstreamUnreachable) {
  std::string url = upstream_->UrlFor(kRepo);
  upstream_->Stop();  // its port is closed now
  RunFailingSync("connect");

  // A new repo pointing at the closed port.
  ASSERT_OK_AND_ASSIGN(ProcessResult r, Mirrorctl({"sync", "org/elsewhere", "--url", url}));
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_THAT(Lower(r.stderr_text), HasSubstr("connect")) << r.stderr_text;
  ExpectStatusShowsFailure("org/elsewhere", "connect");
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, ConnectionDroppedMidPack) {
  Fault f;
  f.path_substring = "/git-upload-pack";
  f.method = "POST";
  f.drop_after_bytes = 64 * 1024;  // the pack is ~384 KiB of incompressible data
  int id = upstream_->AddFault(f);
  RunFailingSync("");
  EXPECT_GE(upstream_->FaultHits(id), 1);
  bool dropped = false;
  for (const RequestRecord& rec : upstream_->requests()) dropped = dropped || rec.dropped;
  EXPECT_TRUE(dropped);
  upstream_->ClearFaults();
  ExpectRecovery();
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, StalledUpstreamTimesOut) {
  Fault f = Fault::Stall("/git-upload-pack", "POST");
  int id = upstream_->AddFault(f);
  std::string err;
  std::chrono::steady_clock::duration elapsed{};
  RunFailingSync("", &err, &elapsed);
  EXPECT_THAT(Lower(err), AnyOf(HasSubstr("timeout"), HasSubstr("timed out"),
                                HasSubstr("no progress"), HasSubstr("no data")))
      << err;
  EXPECT_THAT(err, HasSubstr("2 s")) << err;  // names the configured limit
  // stall_timeout is 2 s: the failure comes well before any default timeout.
  EXPECT_GE(elapsed, seconds(2));
  EXPECT_LT(elapsed, seconds(20));
  EXPECT_GE(upstream_->FaultHits(id), 1);
  upstream_->ClearFaults();
  ExpectRecovery();
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, RateLimitedUpstream) {
  Fault f = Fault::AnswerStatus("/info/refs", 429);
  f.extra_headers["Retry-After"] = "120";
  upstream_->AddFault(f);
  RunFailingSync("429");
  ASSERT_OK_AND_ASSIGN(RepoStatus status, StatusJson(*mirrord_, kRepo, &outputs_));
  ASSERT_TRUE(status.last_run.has_value());
  EXPECT_THAT(Lower(status.last_run->error), HasSubstr("rate limit"));
  upstream_->ClearFaults();
  ExpectRecovery();
  ExpectTokenNeverShown();
}

TEST_F(MirrorFailures, UpstreamThatIsNotAGitServer) {
  // A captive portal or a misconfigured proxy: 200 with an HTML page.
  upstream_->AddRoute([](const UpstreamRequest& r) { return r.path.ends_with("/info/refs"); },
                      [](const UpstreamRequest&) {
                        UpstreamResponse page;
                        page.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
                        page.body = "<html><body>Please log in</body></html>\n";
                        return page;
                      });
  RunFailingSync("smart HTTP");
  ExpectTokenNeverShown();
}

}  // namespace
}  // namespace mirrord::test
