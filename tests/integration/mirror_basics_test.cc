// A freshly mirrored repository is indistinguishable from its upstream for the real git
// client: the same refs (HEAD and peeled tags included), clonable over protocol v0 and v2
// with or without ".git", fsck-clean, and checking out the upstream's default branch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/mirrord_process.h"
#include "tests/fixtures/process.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"
#include "tests/fixtures/test_upstream.h"

namespace mirrord::test {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr std::string_view kRepo = "org/model";

class MirrorBasics : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MirrordProcess::BinariesBuilt()) GTEST_SKIP() << "mirrord/mirrorctl not built";
    ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("mirror-basics-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(upstream_, TestUpstream::Start(dir_->path() / "upstream"));

    // Three branches, a lightweight and two annotated tags (one on a non-default branch),
    // and a default branch that is not "main".
    ASSERT_OK_AND_ASSIGN(WorkRepo work, WorkRepo::Init(dir_->path() / "work"));
    ASSERT_OK(work.CommitFile("README.md", "model card\n", "initial").status());
    ASSERT_OK(work.CommitFile("config.json", "{\"layers\": 2}\n", "config").status());
    ASSERT_OK(work.CreateTag("v0.1"));
    ASSERT_OK(work.CreateAnnotatedTag("v1.0", "release 1.0"));
    ASSERT_OK(work.CheckoutNewBranch("develop"));
    ASSERT_OK(work.CommitFile("src/train.py", "print('train')\n", "training script").status());
    ASSERT_OK(work.CommitFile("weights/tiny.bin", std::string("\x00\x01\x02\xff", 4), "weights")
                  .status());
    ASSERT_OK(work.CreateAnnotatedTag("v2.0-rc1", "release candidate"));
    ASSERT_OK(work.CheckoutNewBranch("feature/quantize", "main"));
    ASSERT_OK(work.CommitFile("quant.py", "int8\n", "quantize").status());
    ASSERT_OK(work.Checkout("develop"));
    ASSERT_OK_AND_ASSIGN(bare_, upstream_->CreateBareRepo(kRepo));
    ASSERT_OK(work.PushMirror(bare_.string()));
    ASSERT_OK(Git({"--git-dir=" + bare_.string(), "symbolic-ref", "HEAD", "refs/heads/develop"})
                  .status());
    ASSERT_OK_AND_ASSIGN(develop_, work.RevParse("develop"));
    work_.emplace(std::move(work));

    ASSERT_OK_AND_ASSIGN(mirrord_, MirrordProcess::Start());
    upstream_url_ = upstream_->UrlFor(kRepo);
  }

  std::filesystem::path Scratch(std::string_view name) const { return dir_->path() / name; }

  // `mirrorctl sync kRepo --url <upstream>`; must succeed.
  void SyncOk(std::string* stdout_text = nullptr) {
    ASSERT_OK_AND_ASSIGN(ProcessResult r,
                         mirrord_->Mirrorctl({"sync", std::string(kRepo), "--url", upstream_url_}));
    ASSERT_TRUE(r.ok()) << r.Describe() << "\nmirrord:\n" << mirrord_->Logs();
    if (stdout_text != nullptr) *stdout_text = r.stdout_text;
  }

  std::optional<TempDir> dir_;
  std::unique_ptr<TestUpstream> upstream_;
  std::optional<WorkRepo> work_;
  std::filesystem::path bare_;
  std::string develop_;
  std::string upstream_url_;
  std::unique_ptr<MirrordProcess> mirrord_;
};

TEST_F(MirrorBasics, SyncPrintsSummary) {
  std::string out;
  SyncOk(&out);
  // 3 branches + 3 tags, all new.
  EXPECT_THAT(out, HasSubstr("org/model: 6 refs added, 0 updated, 0 deleted")) << out;
  EXPECT_THAT(out, MatchesRegex("(.*\n)?org/model: 6 refs added, 0 updated, 0 deleted, "
                                "[0-9]+\\.[0-9] MiB in [0-9]+ s\n"))
      << out;
}

TEST_F(MirrorBasics, LsRemoteEqualsUpstreamInBothProtocols) {
  SyncOk();
  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    GitOptions o;
    o.protocol_version = version;
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_url_}, {}, o));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor(kRepo)}, {}, o));
    EXPECT_EQ(got, want);
    // The comparison is only meaningful if it covers HEAD and peeled tags.
    EXPECT_THAT(want, HasSubstr(develop_ + "\tHEAD\n"));
    EXPECT_THAT(want, HasSubstr("\trefs/tags/v1.0^{}\n"));
    EXPECT_THAT(want, HasSubstr("\trefs/tags/v2.0-rc1^{}\n"));
    // Without ".git" too.
    ASSERT_OK_AND_ASSIGN(std::string bare_name,
                         Git({"ls-remote", mirrord_->BaseUrl() + "/" + std::string(kRepo)}, {}, o));
    EXPECT_EQ(bare_name, want);
  }
  // The symbolic HEAD is advertised as the upstream's.
  ASSERT_OK_AND_ASSIGN(std::string symref,
                       Git({"ls-remote", "--symref", mirrord_->UrlFor(kRepo), "HEAD"}));
  EXPECT_THAT(symref, HasSubstr("ref: refs/heads/develop\tHEAD\n"));
}

TEST_F(MirrorBasics, ClonesWithAndWithoutDotGitInBothProtocols) {
  SyncOk();
  int n = 0;
  for (int version : {0, 2}) {
    for (bool dot_git : {true, false}) {
      std::string url = dot_git ? mirrord_->UrlFor(kRepo)
                                : mirrord_->BaseUrl() + "/" + std::string(kRepo);
      SCOPED_TRACE(url + " protocol.version=" + std::to_string(version));
      GitOptions o;
      o.protocol_version = version;
      std::filesystem::path dest = Scratch("clone" + std::to_string(n++));
      ASSERT_OK_AND_ASSIGN(ProcessResult clone,
                           RunGit({"clone", "--quiet", url, dest.string()}, {}, o));
      ASSERT_TRUE(clone.ok()) << clone.Describe();
      ASSERT_OK(Git({"fsck", "--full", "--strict", "--no-dangling"}, dest));
      // The checkout is the upstream's default branch.
      ASSERT_OK_AND_ASSIGN(std::string head, Git({"symbolic-ref", "HEAD"}, dest));
      EXPECT_EQ(head, "refs/heads/develop\n");
      ASSERT_OK_AND_ASSIGN(std::string sha, Git({"rev-parse", "HEAD"}, dest));
      EXPECT_EQ(sha, develop_ + "\n");
      ASSERT_OK_AND_ASSIGN(std::string origin_head,
                           Git({"symbolic-ref", "refs/remotes/origin/HEAD"}, dest));
      EXPECT_EQ(origin_head, "refs/remotes/origin/develop\n");
      EXPECT_TRUE(std::filesystem::exists(dest / "src" / "train.py"));
      EXPECT_TRUE(std::filesystem::exists(dest / "weights" / "tiny.bin"));
      // Every branch and tag came along.
      ASSERT_OK_AND_ASSIGN(std::string branches,
                           Git({"for-each-ref", "--format=%(refname)", "refs/remotes/origin/"},
                               dest));
      EXPECT_EQ(branches,
                "refs/remotes/origin/HEAD\nrefs/remotes/origin/develop\n"
                "refs/remotes/origin/feature/quantize\nrefs/remotes/origin/main\n");
      ASSERT_OK_AND_ASSIGN(std::string tags, Git({"tag", "--list"}, dest));
      EXPECT_EQ(tags, "v0.1\nv1.0\nv2.0-rc1\n");
    }
  }
}

TEST_F(MirrorBasics, MirrorCloneHasExactlyTheUpstreamsRefs) {
  SyncOk();
  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    GitOptions o;
    o.protocol_version = version;
    std::filesystem::path dest = Scratch("mirror-v" + std::to_string(version) + ".git");
    ASSERT_OK_AND_ASSIGN(ProcessResult clone,
                         RunGit({"clone", "--quiet", "--mirror", mirrord_->UrlFor(kRepo),
                                 dest.string()},
                                {}, o));
    ASSERT_TRUE(clone.ok()) << clone.Describe();
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> want, ForEachRef(bare_));
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> got, ForEachRef(dest));
    EXPECT_EQ(got, want);  // nothing of mirrord's own (refs/mirrord/...) leaks out
    ASSERT_EQ(want.size(), 6u);
    ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
    ASSERT_OK_AND_ASSIGN(std::string head, Git({"--git-dir=" + dest.string(), "symbolic-ref",
                                                "HEAD"}));
    EXPECT_EQ(head, "refs/heads/develop\n");
  }
}

TEST_F(MirrorBasics, StatusAfterSyncIsReady) {
  SyncOk();
  ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"status", std::string(kRepo)}));
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_THAT(r.stdout_text, HasSubstr("ready"));
  EXPECT_THAT(r.stdout_text, HasSubstr("refs/heads/develop"));
  EXPECT_THAT(r.stdout_text, HasSubstr(upstream_url_));
}

}  // namespace
}  // namespace mirrord::test
