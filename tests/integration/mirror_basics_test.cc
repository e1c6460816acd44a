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

#include "common/file_util.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/http_client.h"
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

TEST_F(MirrorBasics, ShallowAndPartialClones) {
  SyncOk();
  std::filesystem::path shallow = Scratch("shallow");
  ASSERT_OK(Git({"clone", "--quiet", "--depth", "1", mirrord_->UrlFor(kRepo), shallow.string()})
                .status());
  ASSERT_OK_AND_ASSIGN(std::string count, Git({"rev-list", "--count", "HEAD"}, shallow));
  EXPECT_EQ(count, "1\n");
  ASSERT_OK_AND_ASSIGN(std::string sha, Git({"rev-parse", "HEAD"}, shallow));
  EXPECT_EQ(sha, develop_ + "\n");
  // Deepening later works against the mirror too.
  ASSERT_OK(Git({"fetch", "--quiet", "--unshallow"}, shallow).status());
  ASSERT_OK(Git({"fsck", "--full", "--strict"}, shallow).status());

  // Blobless clone (handy for weight repos): blobs come on demand at checkout.
  std::filesystem::path partial = Scratch("partial");
  ASSERT_OK(Git({"clone", "--quiet", "--filter=blob:none", mirrord_->UrlFor(kRepo),
                 partial.string()})
                .status());
  ASSERT_OK_AND_ASSIGN(std::string weights, ReadFileToString(partial / "weights" / "tiny.bin"));
  EXPECT_EQ(weights, std::string("\x00\x01\x02\xff", 4));
  ASSERT_OK_AND_ASSIGN(std::string filter,
                       Git({"config", "remote.origin.partialclonefilter"}, partial));
  EXPECT_EQ(filter, "blob:none\n");
  ASSERT_OK(Git({"checkout", "--quiet", "main"}, partial).status());  // fetches missing blobs
  EXPECT_TRUE(std::filesystem::exists(partial / "config.json"));
}

TEST_F(MirrorBasics, UnusualRefsAreMirroredExactly) {
  // Nested annotated tags, tags of a tree and of a blob, deep and non-ASCII branch names,
  // and over a hundred tags (many packed refs and peeled lines).
  ASSERT_OK_AND_ASSIGN(WorkRepo odd, WorkRepo::Init(Scratch("odd-work")));
  ASSERT_OK(odd.CommitFile("README.md", "odd\n", "one").status());
  ASSERT_OK(odd.CommitFile("data/blob.txt", "blob\n", "two").status());
  ASSERT_OK(odd.CreateAnnotatedTag("inner", "inner tag"));
  ASSERT_OK(odd.CreateAnnotatedTag("outer", "a tag of a tag", "inner"));
  ASSERT_OK(odd.CreateTag("tree-tag", "HEAD^{tree}"));
  ASSERT_OK(odd.CreateAnnotatedTag("blob-tag", "a tag of a blob", "HEAD:data/blob.txt"));
  ASSERT_OK(odd.CreateBranch("release/2024.06/rc-1"));
  ASSERT_OK(odd.CreateBranch("feat/\xc3\xbcml\xc3\xa4ut"));
  ASSERT_OK(odd.CreateBranch("a.b_c-d"));
  ASSERT_OK_AND_ASSIGN(std::string head, odd.RevParse("HEAD"));
  ASSERT_OK_AND_ASSIGN(std::string parent, odd.RevParse("HEAD~1"));
  std::string updates;  // lightweight tags in one go
  for (int i = 0; i < 120; ++i) {
    if (i % 4 == 0) {
      ASSERT_OK(odd.CreateAnnotatedTag("bulk/" + std::to_string(i), "bulk"));
    } else {
      updates += "create refs/tags/bulk/" + std::to_string(i) + " " + (i % 2 ? head : parent) +
                 "\n";
    }
  }
  GitOptions stdin_updates;
  stdin_updates.stdin_data = updates;
  ASSERT_OK(odd.Run({"update-ref", "--stdin"}, stdin_updates).status());
  ASSERT_OK_AND_ASSIGN(std::filesystem::path bare, upstream_->CreateBareRepo("org/odd"));
  ASSERT_OK(odd.PushMirror(bare.string()));

  ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", "org/odd", "--url",
                                                             upstream_->UrlFor("org/odd")}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  EXPECT_THAT(r.stdout_text, HasSubstr("org/odd: 128 refs added, 0 updated, 0 deleted"));
  for (int version : {0, 2}) {
    SCOPED_TRACE("protocol.version=" + std::to_string(version));
    GitOptions o;
    o.protocol_version = version;
    ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/odd")}, {}, o));
    ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/odd")}, {}, o));
    EXPECT_EQ(got, want);
    EXPECT_THAT(want, HasSubstr("\trefs/tags/outer^{}\n"));
    EXPECT_THAT(want, HasSubstr("\trefs/tags/blob-tag^{}\n"));
  }
  std::filesystem::path dest = Scratch("odd.git");
  ASSERT_OK(Git({"clone", "--quiet", "--mirror", mirrord_->UrlFor("org/odd"), dest.string()})
                .status());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> want_refs, ForEachRef(bare));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> got_refs, ForEachRef(dest));
  EXPECT_EQ(got_refs, want_refs);
  ASSERT_OK(Git({"--git-dir=" + dest.string(), "fsck", "--full", "--strict"}));
  // The nested tag peels through both levels.
  ASSERT_OK_AND_ASSIGN(std::string outer, Git({"--git-dir=" + dest.string(), "cat-file", "-p",
                                               "refs/tags/outer"}));
  ASSERT_OK_AND_ASSIGN(std::string inner_sha, odd.RevParse("refs/tags/inner"));
  EXPECT_THAT(outer, HasSubstr("object " + inner_sha + "\ntype tag\n"));
}

TEST_F(MirrorBasics, EmptyUpstreamMirrorsAsEmpty) {
  ASSERT_OK(upstream_->CreateBareRepo("org/empty").status());
  ASSERT_OK_AND_ASSIGN(ProcessResult r, mirrord_->Mirrorctl({"sync", "org/empty", "--url",
                                                             upstream_->UrlFor("org/empty")}));
  ASSERT_TRUE(r.ok()) << r.Describe() << "\n" << mirrord_->Logs();
  EXPECT_THAT(r.stdout_text, HasSubstr("org/empty: 0 refs added, 0 updated, 0 deleted"));
  ASSERT_OK_AND_ASSIGN(std::string want, Git({"ls-remote", upstream_->UrlFor("org/empty")}));
  ASSERT_OK_AND_ASSIGN(std::string got, Git({"ls-remote", mirrord_->UrlFor("org/empty")}));
  EXPECT_EQ(got, want);
  ASSERT_OK_AND_ASSIGN(ProcessResult clone, RunGit({"clone", mirrord_->UrlFor("org/empty"),
                                                    Scratch("empty").string()}));
  EXPECT_TRUE(clone.ok()) << clone.Describe();
  EXPECT_THAT(clone.stderr_text, HasSubstr("empty repository"));

  // Once the upstream has history, the next sync brings it.
  ASSERT_OK_AND_ASSIGN(WorkRepo w, WorkRepo::Init(Scratch("empty-work")));
  ASSERT_OK(w.CommitFile("README.md", "now\n", "first").status());
  ASSERT_OK(w.PushMirror(upstream_->RepoPath("org/empty").string()));
  ASSERT_OK_AND_ASSIGN(ProcessResult again, mirrord_->Mirrorctl({"sync", "org/empty"}));
  ASSERT_TRUE(again.ok()) << again.Describe();
  EXPECT_THAT(again.stdout_text, HasSubstr("org/empty: 1 refs added, 0 updated, 0 deleted"));
  ASSERT_OK_AND_ASSIGN(want, Git({"ls-remote", upstream_->UrlFor("org/empty")}));
  ASSERT_OK_AND_ASSIGN(got, Git({"ls-remote", mirrord_->UrlFor("org/empty")}));
  EXPECT_EQ(got, want);
}

// Plain HTTP/1.1 clients that send "Connection: close" (scripts, health probes, proxies)
// must get whole smart-HTTP responses, like git's own client does.
TEST_F(MirrorBasics, SmartHttpAnswersClientsThatCloseTheConnection) {
  SyncOk();
  HttpCall get;
  get.headers.emplace_back("Connection", "close");
  Result<HttpReply> refs =
      HttpFetch(mirrord_->UrlFor(kRepo) + "/info/refs?service=git-upload-pack", get);
  EXPECT_OK(refs);
  if (refs.ok()) {
    EXPECT_EQ(refs->status, 200);
    EXPECT_EQ(refs->Header("Content-Type").value_or(""),
              "application/x-git-upload-pack-advertisement");
    EXPECT_TRUE(refs->body.starts_with("001e# service=git-upload-pack\n0000")) << refs->body;
    EXPECT_THAT(refs->body, HasSubstr(develop_ + " refs/heads/develop"));
  }

  // Protocol v2 ls-refs over POST, the same way.
  HttpCall post;
  post.method = "POST";
  post.headers = {{"Connection", "close"},
                  {"Git-Protocol", "version=2"},
                  {"Content-Type", "application/x-git-upload-pack-request"},
                  {"Accept", "application/x-git-upload-pack-result"}};
  post.body = "0014command=ls-refs\n0000";
  Result<HttpReply> ls_refs = HttpFetch(mirrord_->UrlFor(kRepo) + "/git-upload-pack", post);
  EXPECT_OK(ls_refs);
  if (ls_refs.ok()) {
    EXPECT_EQ(ls_refs->status, 200) << ls_refs->body;
    EXPECT_THAT(ls_refs->body, HasSubstr(develop_ + " refs/heads/develop\n"));
    EXPECT_TRUE(ls_refs->body.ends_with("0000")) << ls_refs->body;
  }

  // The same request from a client that keeps the connection open gets the whole answer, and
  // so must one that asks to close it.
  const std::string info_refs = mirrord_->UrlFor(kRepo) + "/info/refs?service=git-upload-pack";
  ASSERT_OK_AND_ASSIGN(ProcessResult keep, RunProcess({"curl", "-sS", "-f", info_refs}));
  EXPECT_TRUE(keep.ok()) << keep.Describe();
  EXPECT_THAT(keep.stdout_text, HasSubstr(develop_ + " refs/heads/develop"));
  ASSERT_OK_AND_ASSIGN(ProcessResult close,
                       RunProcess({"curl", "-sS", "-f", "-H", "Connection: close", info_refs}));
  EXPECT_TRUE(close.ok()) << close.Describe();
  EXPECT_EQ(close.stdout_text, keep.stdout_text);
}

}  // namespace
}  // namespace mirrord::test
