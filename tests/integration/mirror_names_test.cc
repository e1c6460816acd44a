// Repository names are URL paths and store paths: hostile ones are refused before they touch
// either, unknown repos are 404, and mirrors refuse pushes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRepo = "org/model";

// Every path below `root`, relative, for before/after comparisons.
std::set<std::string> Tree(const std::filesystem::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(std::filesystem::relative(it->path(), root).string());
  }
  return out;
}

// Top-level entries of `dir`.
std::set<std::string> Entries(const std::filesystem::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.insert(e.path().filename().string());
  }
  return out;
}

class MirrorNames : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-names-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "names\n", "one").status());
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kRepo));
    ASSERT_OK(work.PushMirror(bare_.string()));
    work_.emplace(std::move(work));
    url_ = upstream_->UrlFor(kRepo);
    // The store lives inside a directory of its own, so "outside the store" is checkable.
    MirrordOptions o;
    o.work_dir = dir_->path() / "daemon";
    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start(o));
    ASSERT_OK_AND_ASSIGN(ProcessResult r,
                         mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", url_}));
    ASSERT_TRUE(r.ok()) << r.Describe();
  }

  Result<HttpReply> Get(std::string_view target) {
    return HttpFetch(mirrord_->BaseUrl() + std::string(target));
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string url_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorNames, HostileRepoPathsAre400) {
  const std::string long_segment(101, 'a');
  const std::vector<std::string> targets = {
      "/org/../model.git/info/refs?service=git-upload-pack",
      "/../../etc/passwd",
      "/org/%2e%2e/%2e%2e/etc.git/info/refs?service=git-upload-pack",
      "//etc/passwd",
      "//etc/passwd.git/info/refs?service=git-upload-pack",
      "/org/a%01b.git/info/refs?service=git-upload-pack",
      "/org/a%0ab.git/info/refs?service=git-upload-pack",
      "/org/" + long_segment + ".git/info/refs?service=git-upload-pack",
      "/" + long_segment + "/model.git/git-upload-pack",
      "/org/model.git.git/info/refs?service=git-upload-pack",
      "/org//model.git/info/refs?service=git-upload-pack",
      "/org/.hidden.git/info/refs?service=git-upload-pack",
      "/org/a%5cb.git/info/refs?service=git-upload-pack",
  };
  const std::set<std::string> before = Tree(dir_->path() / "daemon");
  for (const std::string& target : targets) {
    SCOPED_TRACE(target);
    ASSERT_OK_AND_ASSIGN(HttpReply reply, Get(target));
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_THAT(reply.body, HasSubstr("invalid repository name")) << reply.body;
  }
  // The same request as POST (the pack endpoint) is refused the same way.
  HttpCall post;
  post.method = "POST";
  post.headers.emplace_back("Content-Type", "application/x-git-upload-pack-request");
  post.body = "0000";
  ASSERT_OK_AND_ASSIGN(HttpReply reply,
                       HttpFetch(mirrord_->BaseUrl() + "/org/../model.git/git-upload-pack", post));
  EXPECT_EQ(reply.status, 400);
  // Nothing appeared or vanished on disk.
  EXPECT_EQ(Tree(dir_->path() / "daemon"), before);
}

TEST_F(MirrorNames, SegmentLengthLimitIsExact) {
  // 100 characters is a valid (unknown) name: 404, not 400.
  ASSERT_OK_AND_ASSIGN(HttpReply ok_length,
                       Get("/org/" + std::string(100, 'a') +
                           ".git/info/refs?service=git-upload-pack"));
  EXPECT_EQ(ok_length.status, 404) << ok_length.body;
  ASSERT_OK_AND_ASSIGN(HttpReply too_long,
                       Get("/org/" + std::string(101, 'a') +
                           ".git/info/refs?service=git-upload-pack"));
  EXPECT_EQ(too_long.status, 400) << too_long.body;
}

TEST_F(MirrorNames, ReservedFirstSegmentsNeverReachARepository) {
  // Paths under mirrord's own URLs are mirrord's (router.h: 404 below them, never a repo).
  for (std::string_view reserved :
       {"api", "healthz", "readyz", "metrics", "webhooks", "datasets"}) {
    SCOPED_TRACE(reserved);
    ASSERT_OK_AND_ASSIGN(HttpReply reply, Get("/" + std::string(reserved) +
                                              "/model.git/info/refs?service=git-upload-pack"));
    EXPECT_EQ(reply.status, 404) << reply.body;
  }
  // And such names cannot be registered, through mirrorctl or the admin API.
  for (std::string_view reserved :
       {"api", "healthz", "readyz", "metrics", "webhooks", "datasets"}) {
    SCOPED_TRACE(reserved);
    std::string name = std::string(reserved) + "/model";
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", name, "--url", url_}));
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    EXPECT_THAT(r.stderr_text, HasSubstr("reserved")) << r.stderr_text;
    ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
    HttpCall call;
    call.method = "POST";
    call.headers.emplace_back("Authorization", "Bearer " + token);
    call.headers.emplace_back("Content-Type", "application/json");
    call.body = "{\"name\": \"" + name + "\", \"url\": \"" + url_ + "\"}";
    ASSERT_OK_AND_ASSIGN(HttpReply reply,
                         HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos", call));
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_THAT(reply.body, HasSubstr("reserved"));
  }
  EXPECT_EQ(Entries(mirrord_->store_dir() / "repos"), (std::set<std::string>{"org"}));
}

TEST_F(MirrorNames, UnknownRepoIs404) {
  ASSERT_OK_AND_ASSIGN(HttpReply reply, Get("/org/unknown.git/info/refs?service=git-upload-pack"));
  EXPECT_EQ(reply.status, 404);
  ASSERT_OK_AND_ASSIGN(ProcessResult clone,
                       RunGit({"clone", mirrord_->UrlFor("org/unknown"),
                               (dir_->path() / "unknown").string()}));
  EXPECT_FALSE(clone.ok());
  EXPECT_THAT(clone.stderr_text, HasSubstr("not found")) << clone.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(mirrord_->store_dir() / "repos" / "org" / "unknown.git"));
  // A registered name is reachable, for contrast.
  ASSERT_OK(Git({"ls-remote", mirrord_->UrlFor(kRepo)}).status());
}

TEST_F(MirrorNames, PushIsRefusedAsReadOnly) {
  ASSERT_OK(work_->CommitFile("new.txt", "x\n", "local change").status());
  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    GitOptions o;
    o.protocol_version = version;
    ASSERT_OK_AND_ASSIGN(ProcessResult push,
                         RunGit({"push", mirrord_->UrlFor(kRepo), "main:refs/heads/main"},
                                work_->dir(), o));
    EXPECT_FALSE(push.ok());
    EXPECT_THAT(push.stderr_text, HasSubstr("read-only mirror")) << push.stderr_text;
  }
  ASSERT_OK_AND_ASSIGN(HttpReply reply,
                       Get("/org/model.git/info/refs?service=git-receive-pack"));
  EXPECT_EQ(reply.status, 403);
  // The mirror is unchanged.
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", url_}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kRepo)}));
  EXPECT_EQ(got, want);
}

TEST_F(MirrorNames, MirrorctlRefusesTraversalAndCreatesNothing) {
  const std::filesystem::path daemon_dir = dir_->path() / "daemon";
  const std::set<std::string> repos_before = Entries(mirrord_->store_dir() / "repos");
  const std::set<std::string> tree_before = Tree(dir_->path());
  for (std::string name : {"../x", "../../x", "/etc/x", "org/../../x", "a/./b", "org/-rf", "x/.git",
                           "org/x.lock"}) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", name, "--url", url_}));
    EXPECT_THAT(r.exit_code, AnyOf(1, 2)) << r.Describe();
    EXPECT_THAT(r.stderr_text, HasSubstr("invalid repository name")) << r.stderr_text;
  }
  // The daemon refuses them too when asked directly (mirrorctl's check is not the only one).
  ASSERT_OK_AND_ASSIGN(std::string token, mirrord_->AdminToken());
  for (std::string name : {"../x", "org/../../x", "/x"}) {
    SCOPED_TRACE(name);
    HttpCall call;
    call.method = "POST";
    call.headers.emplace_back("Authorization", "Bearer " + token);
    call.headers.emplace_back("Content-Type", "application/json");
    call.body = "{\"name\": \"" + name + "\", \"url\": \"" + url_ + "\"}";
    ASSERT_OK_AND_ASSIGN(HttpReply reply, HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos", call));
    EXPECT_EQ(reply.status, 400) << reply.body;
    HttpCall sync;
    sync.method = "POST";
    sync.headers.emplace_back("Authorization", "Bearer " + token);
    ASSERT_OK_AND_ASSIGN(HttpReply sync_reply,
                         HttpFetch(mirrord_->BaseUrl() + "/api/v1/repos/" + name + ":sync", sync));
    EXPECT_THAT(sync_reply.status, AnyOf(400, 404)) << sync_reply.body;
  }
  EXPECT_EQ(Entries(mirrord_->store_dir() / "repos"), repos_before);
  EXPECT_FALSE(std::filesystem::exists(mirrord_->store_dir() / "x.git"));
  EXPECT_FALSE(std::filesystem::exists(daemon_dir / "x.git"));
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "x.git"));
  // The only change anywhere under the test's directory is inside the store (catalog journal
  // and the like): nothing outside it.
  for (const std::string& path : Tree(dir_->path())) {
    if (tree_before.contains(path)) continue;
    EXPECT_TRUE(path.starts_with("daemon/store/")) << "new path outside the store: " << path;
  }
  ASSERT_OK_AND_ASSIGN(ProcessResult list, mirrord_->Mirrorctl({"list"}));
  ASSERT_TRUE(list.ok()) << list.Describe();
  // The header and org/model, nothing else.
  EXPECT_EQ(std::count(list.stdout_text.begin(), list.stdout_text.end(), '\n'), 2)
      << list.stdout_text;
  EXPECT_THAT(list.stdout_text, Not(HasSubstr("x.git")));
}

}  // namespace
}  // namespace mirrord::test
