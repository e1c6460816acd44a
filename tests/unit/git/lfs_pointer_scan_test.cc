// ScanLfsPointers and LfsPathFilter against real repositories made with the git CLI: pointer
// text is committed as plain files (no git-lfs involved), so the trees hold exactly the
// blobs a git-lfs user's repository would. Counters are checked against what git itself
// lists (`ls-tree`), so "walked only the changed trees" is measured, not assumed.
#include "git/lfs_pointer_scan.h"

#include <git2.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <sstream>

#include "git/libgit2_status.h"
#include "tests/fixtures/git_cli.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {

// Readable failure output (found by ADL, so in the types' namespace).
static void PrintTo(const LfsPointer& p, std::ostream* os) {
  *os << "{" << p.oid.substr(56) << ", " << p.size << "}";
}
static void PrintTo(const FoundLfsPointer& f, std::ostream* os) {
  PrintTo(f.pointer, os);
  *os << "@\"" << f.path << "\"" << (f.filtered_out ? " filtered" : "");
}

namespace {

namespace fs = std::filesystem;
using test::WorkRepo;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Distinct, recognisable pointers: P(i) sorts before P(i + 1).
LfsPointer P(int i) {
  char hex[65];
  std::snprintf(hex, sizeof(hex), "%064x", static_cast<unsigned>(0x5eed0000 + i));
  return {hex, 1000000u + static_cast<uint64_t>(i)};
}

std::string PointerText(const LfsPointer& p) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + p.oid + "\nsize " +
         std::to_string(p.size) + "\n";
}

// A valid pointer of exactly `total` bytes, padded with an extension line (allowed by the
// spec and by ParseLfsPointer, so only the size decides).
std::string PointerTextOfSize(const LfsPointer& p, size_t total) {
  std::string head = "version https://git-lfs.github.com/spec/v1\n";
  std::string ext_prefix = "ext-0-";
  std::string ext_suffix = " sha256:" + std::string(64, 'e') + "\n";
  std::string tail = "oid sha256:" + p.oid + "\nsize " + std::to_string(p.size) + "\n";
  size_t fixed = head.size() + ext_prefix.size() + ext_suffix.size() + tail.size();
  return head + ext_prefix + std::string(total - fixed, 'n') + ext_suffix + tail;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

FoundLfsPointer Found(const LfsPointer& p, std::string path, bool filtered_out = false) {
  return {p, std::move(path), filtered_out};
}

// What git says the scan of `revs` must read: distinct trees (roots included), distinct
// regular-file blobs, and those of them under kMaxLfsPointerSize.
struct GitCounts {
  uint64_t trees = 0;
  uint64_t blobs = 0;
  uint64_t small_blobs = 0;
};

class LfsPointerScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmp = test::TempDir::Create("mirrord-lfs-scan-test-");
    ASSERT_OK(tmp);
    tmp_ = std::make_unique<test::TempDir>(std::move(*tmp));
    auto repo = WorkRepo::Init(tmp_->path() / "work");
    ASSERT_OK(repo);
    repo_ = std::make_unique<WorkRepo>(std::move(*repo));
  }

  fs::path GitDir() const { return repo_->dir() / ".git"; }

  std::string Rev(std::string_view rev) {
    auto r = repo_->RevParse(rev);
    EXPECT_OK(r);
    return r.ok() ? *r : std::string();
  }

  std::map<std::string, std::string> Tips(const std::vector<std::string>& refs) {
    std::map<std::string, std::string> tips;
    for (const std::string& ref : refs) tips[ref] = Rev(ref);
    return tips;
  }

  Result<LfsScanResult> Scan(const std::map<std::string, std::string>& tips,
                             const LfsScanOptions& options = {}, LfsScanCache* cache = nullptr) {
    return ScanLfsPointers(GitDir(), tips, options, cache);
  }

  GitCounts CountWithGit(const std::vector<std::string>& revs) {
    std::set<std::string> trees, blobs, small;
    for (const std::string& rev : revs) {
      trees.insert(Rev(rev + "^{tree}"));
      auto listing = repo_->Run({"ls-tree", "-r", "-t", "-l", rev});
      EXPECT_OK(listing);
      if (!listing.ok()) continue;
      std::istringstream lines(*listing);
      std::string line;
      while (std::getline(lines, line)) {
        std::istringstream fields(line.substr(0, line.find('\t')));
        std::string mode, type, oid, size;
        fields >> mode >> type >> oid >> size;
        if (type == "tree") trees.insert(oid);
        if (type == "blob" && (mode == "100644" || mode == "100755")) {
          blobs.insert(oid);
          if (std::stoull(size) < kMaxLfsPointerSize) small.insert(oid);
        }
      }
    }
    return {trees.size(), blobs.size(), small.size()};
  }

  std::unique_ptr<test::TempDir> tmp_;
  std::unique_ptr<WorkRepo> repo_;
};

// ---------------------------------------------------------------------------------------
// What is and is not a pointer

TEST_F(LfsPointerScanTest, FindsPointersAtEveryDepthAndNothingElse) {
  ASSERT_OK(repo_->WriteFile("root.bin", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("a/mid.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("a/b/c/deep.bin", PointerText(P(3))));
  ASSERT_OK(repo_->WriteFile("a/run.sh", PointerText(P(4))));
  fs::permissions(repo_->dir() / "a/run.sh", fs::perms::owner_exec, fs::perm_options::add);
  ASSERT_OK(repo_->WriteFile("under_limit.bin", PointerTextOfSize(P(5), kMaxLfsPointerSize - 1)));
  // Not pointers: ordinary files, a big binary, and near misses of one detail each.
  ASSERT_OK(repo_->WriteFile("README.md", "# a model\n"));
  ASSERT_OK(repo_->WriteFile("big.bin", RandomBytes(4096, 42)));
  std::string good = PointerText(P(6));
  ASSERT_OK(repo_->WriteFile("near/at_limit", PointerTextOfSize(P(6), kMaxLfsPointerSize)));
  ASSERT_OK(repo_->WriteFile("near/no_final_newline", good.substr(0, good.size() - 1)));
  std::string upper = P(6).oid;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ASSERT_OK(repo_->WriteFile("near/upper_hex", PointerText({upper, 1})));
  ASSERT_OK(repo_->WriteFile("near/short_oid", PointerText({P(6).oid.substr(1), 1})));
  std::string crlf =
      "version https://git-lfs.github.com/spec/v1\r\noid sha256:" + P(6).oid + "\r\nsize 1\r\n";
  ASSERT_OK(repo_->WriteFile("near/crlf", crlf));
  std::string v2 = good;
  v2.replace(v2.find("spec/v1"), 7, "spec/v2");
  ASSERT_OK(repo_->WriteFile("near/wrong_version", v2));
  // A symlink whose target is pointer text: git stores it as a blob, git-lfs never smudges it.
  fs::create_symlink(PointerText(P(7)), repo_->dir() / "link.bin");
  ASSERT_OK(repo_->Commit("pointers and other things"));

  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(Tips({"refs/heads/main"})));
  EXPECT_THAT(
      r.by_ref["refs/heads/main"],
      ElementsAre(Found(P(1), "root.bin"), Found(P(2), "a/mid.bin"), Found(P(3), "a/b/c/deep.bin"),
                  Found(P(4), "a/run.sh"), Found(P(5), "under_limit.bin")));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(2), P(3), P(4), P(5)));
  EXPECT_THAT(r.filtered, IsEmpty());
  // Every tree and regular blob once; only the small blobs' contents (big.bin and the
  // 1024-byte pointer are rejected from their headers); never the symlink.
  GitCounts git = CountWithGit({"main"});
  EXPECT_EQ(r.trees_walked, git.trees);
  EXPECT_EQ(git.trees, 5u);  // root, a, a/b, a/b/c, near
  EXPECT_EQ(r.blobs_examined, git.blobs);
  EXPECT_EQ(r.blobs_read, git.small_blobs);
  EXPECT_EQ(r.blobs_examined - r.blobs_read, 2u);
  EXPECT_EQ(r.commits_walked, 0u);
}

TEST_F(LfsPointerScanTest, SubmoduleEntriesAreIgnored) {
  ASSERT_OK(repo_->WriteFile("p.bin", PointerText(P(1))));
  ASSERT_OK(repo_->Run({"add", "p.bin"}));
  // Gitlinks name commits of other repositories, absent here: reading them would fail.
  std::string absent(40, '1');
  ASSERT_OK(repo_->Run({"update-index", "--add", "--cacheinfo", "160000," + absent + ",sub"}));
  ASSERT_OK(
      repo_->Run({"update-index", "--add", "--cacheinfo", "160000," + absent + ",vendor/lib"}));
  ASSERT_OK(repo_->Run({"commit", "--quiet", "-m", "submodules"}));
  ASSERT_THAT(*repo_->Run({"ls-tree", "-r", "main"}), ::testing::HasSubstr("160000 commit"));

  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(Tips({"refs/heads/main"})));
  EXPECT_THAT(r.by_ref["refs/heads/main"], ElementsAre(Found(P(1), "p.bin")));
  EXPECT_EQ(r.trees_walked, 2u);  // root, vendor
  EXPECT_EQ(r.blobs_examined, 1u);
}

// ---------------------------------------------------------------------------------------
// Tags and what refs point at

TEST_F(LfsPointerScanTest, PeelsAnnotatedTagsAndScansTaggedTreesAndBlobs) {
  ASSERT_OK(repo_->WriteFile("w.bin", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("notes.txt", "not a pointer\n"));
  ASSERT_OK_AND_ASSIGN(std::string first, repo_->Commit("first"));
  ASSERT_OK(repo_->CreateAnnotatedTag("v1", "release 1"));
  ASSERT_OK(repo_->CreateAnnotatedTag("outer", "a tag of a tag", "v1"));
  ASSERT_OK(repo_->CreateAnnotatedTag("treetag", "a tree", first + "^{tree}"));
  test::GitOptions with_stdin;
  with_stdin.stdin_data = PointerText(P(3));
  ASSERT_OK_AND_ASSIGN(std::string blob, repo_->Run({"hash-object", "-w", "--stdin"}, with_stdin));
  blob.resize(40);
  ASSERT_OK(repo_->CreateTag("blobtag", blob));
  ASSERT_OK(repo_->CreateAnnotatedTag("blobtag2", "a pointer blob", first + ":w.bin"));
  ASSERT_OK(repo_->CreateTag("notetag", first + ":notes.txt"));
  ASSERT_OK(repo_->CommitFile("w.bin", PointerText(P(2)), "second"));
  ASSERT_EQ(*repo_->Run({"cat-file", "-t", "refs/tags/outer"}), "tag\n");
  ASSERT_EQ(*repo_->Run({"cat-file", "-t", "refs/tags/v1"}), "tag\n");

  std::vector<std::string> refs = {"refs/heads/main",   "refs/tags/v1",      "refs/tags/outer",
                                   "refs/tags/treetag", "refs/tags/blobtag", "refs/tags/blobtag2",
                                   "refs/tags/notetag"};
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(Tips(refs)));
  EXPECT_THAT(r.by_ref["refs/heads/main"], ElementsAre(Found(P(2), "w.bin")));
  EXPECT_THAT(r.by_ref["refs/tags/v1"], ElementsAre(Found(P(1), "w.bin")));
  EXPECT_THAT(r.by_ref["refs/tags/outer"], ElementsAre(Found(P(1), "w.bin")));
  EXPECT_THAT(r.by_ref["refs/tags/treetag"], ElementsAre(Found(P(1), "w.bin")));
  EXPECT_THAT(r.by_ref["refs/tags/blobtag"], ElementsAre(Found(P(3), "")));
  EXPECT_THAT(r.by_ref["refs/tags/blobtag2"], ElementsAre(Found(P(1), "")));
  EXPECT_THAT(r.by_ref["refs/tags/notetag"], IsEmpty());
  EXPECT_EQ(r.by_ref.size(), refs.size());
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(2), P(3)));
  EXPECT_EQ(r.trees_walked, 2u);  // the two root trees; the tagged tree is the first one

  // The empty path of a tagged blob matches no pattern: filtered only under an include list.
  LfsScanOptions only_bin;
  only_bin.include = {"*.bin"};
  ASSERT_OK_AND_ASSIGN(r, Scan(Tips({"refs/tags/blobtag", "refs/tags/v1"}), only_bin));
  EXPECT_THAT(r.by_ref["refs/tags/blobtag"], ElementsAre(Found(P(3), "", true)));
  EXPECT_THAT(r.wanted, ElementsAre(P(1)));
  EXPECT_THAT(r.filtered, ElementsAre(P(3)));
  LfsScanOptions exclude_all;
  exclude_all.exclude = {"*"};
  ASSERT_OK_AND_ASSIGN(r, Scan(Tips({"refs/tags/blobtag", "refs/tags/v1"}), exclude_all));
  EXPECT_THAT(r.wanted, ElementsAre(P(3)));
  EXPECT_THAT(r.filtered, ElementsAre(P(1)));
}

TEST_F(LfsPointerScanTest, RefsSharingTreesAreWalkedOnce) {
  ASSERT_OK(repo_->WriteFile("shared/p.bin", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("shared/big.dat", RandomBytes(3000, 7)));
  ASSERT_OK(repo_->WriteFile("shared/notes.txt", "notes\n"));
  // x/ and y/ are the same tree at two paths.
  ASSERT_OK(repo_->WriteFile("x/p.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("x/readme", "same\n"));
  ASSERT_OK(repo_->WriteFile("y/p.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("y/readme", "same\n"));
  ASSERT_OK(repo_->WriteFile("own/p.bin", PointerText(P(3))));
  ASSERT_OK(repo_->Commit("main"));
  ASSERT_OK(repo_->CheckoutNewBranch("dev"));
  ASSERT_OK(repo_->WriteFile("own/p.bin", PointerText(P(4))));
  ASSERT_OK(repo_->WriteFile("own/extra.bin", PointerText(P(5))));
  ASSERT_OK(repo_->Commit("dev"));
  ASSERT_EQ(Rev("main:x"), Rev("main:y"));

  auto tips = Tips({"refs/heads/main", "refs/heads/dev"});
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(tips));
  EXPECT_THAT(
      r.by_ref["refs/heads/main"],
      ElementsAre(Found(P(1), "shared/p.bin"), Found(P(2), "x/p.bin"), Found(P(3), "own/p.bin")));
  EXPECT_THAT(r.by_ref["refs/heads/dev"],
              ElementsAre(Found(P(1), "shared/p.bin"), Found(P(2), "x/p.bin"),
                          Found(P(4), "own/p.bin"), Found(P(5), "own/extra.bin")));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(2), P(3), P(4), P(5)));
  GitCounts git = CountWithGit({"main", "dev"});
  EXPECT_EQ(git.trees, 6u);  // main: root, shared, x=y, own; dev: root, own
  EXPECT_EQ(r.trees_walked, git.trees);
  EXPECT_EQ(r.blobs_examined, git.blobs);
  EXPECT_EQ(r.blobs_read, git.small_blobs);

  // The shared tree under an excluded path and an allowed one: wanted, at the allowed path.
  LfsScanOptions no_x;
  no_x.exclude = {"x/"};
  ASSERT_OK_AND_ASSIGN(r, Scan(tips, no_x));
  EXPECT_THAT(
      r.by_ref["refs/heads/main"],
      ElementsAre(Found(P(1), "shared/p.bin"), Found(P(2), "y/p.bin"), Found(P(3), "own/p.bin")));
  no_x.exclude = {"x/", "y"};
  ASSERT_OK_AND_ASSIGN(r, Scan(tips, no_x));
  EXPECT_THAT(r.by_ref["refs/heads/main"],
              ElementsAre(Found(P(1), "shared/p.bin"), Found(P(2), "x/p.bin", true),
                          Found(P(3), "own/p.bin")));
  EXPECT_THAT(r.filtered, ElementsAre(P(2)));
}

// ---------------------------------------------------------------------------------------
// Filters

TEST_F(LfsPointerScanTest, IncludeAndExcludeGlobsSplitWantedFromFiltered) {
  ASSERT_OK(repo_->WriteFile("a.bin", PointerText(P(6))));  // also at keep/a.pt
  ASSERT_OK(repo_->WriteFile("docs/img.png", PointerText(P(5))));
  ASSERT_OK(repo_->WriteFile("keep/a.pt", PointerText(P(6))));
  ASSERT_OK(repo_->WriteFile("model.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("model.safetensors", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("onnx/model.onnx", PointerText(P(4))));
  ASSERT_OK(repo_->WriteFile("sub/model.bin", PointerText(P(3))));
  ASSERT_OK(repo_->Commit("weights in several formats"));
  auto tips = Tips({"refs/heads/main"});
  LfsScanCache cache;

  LfsScanOptions o;
  o.exclude = {"*.bin"};
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(tips, o, &cache));
  EXPECT_THAT(r.by_ref["refs/heads/main"],
              ElementsAre(Found(P(1), "model.safetensors"), Found(P(2), "model.bin", true),
                          Found(P(3), "sub/model.bin", true), Found(P(4), "onnx/model.onnx"),
                          Found(P(5), "docs/img.png"), Found(P(6), "keep/a.pt")));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(4), P(5), P(6)));
  EXPECT_THAT(r.filtered, ElementsAre(P(2), P(3)));
  EXPECT_GT(r.trees_walked, 0u);

  // Filters apply after the cache: a new filter needs no tree read again.
  o = {};
  o.include = {"onnx/", "*.safetensors"};
  ASSERT_OK_AND_ASSIGN(r, Scan(tips, o, &cache));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(4)));
  EXPECT_THAT(r.filtered, ElementsAre(P(2), P(3), P(5), P(6)));
  EXPECT_EQ(r.trees_walked, 0u);
  EXPECT_EQ(r.blobs_examined, 0u);

  o = {};
  o.include = {"**/model.*"};
  o.exclude = {"sub"};
  ASSERT_OK_AND_ASSIGN(r, Scan(tips, o, &cache));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(2), P(4)));
  EXPECT_THAT(r.filtered, ElementsAre(P(3), P(5), P(6)));
  EXPECT_EQ(r.trees_walked, 0u);
}

bool Allowed(const std::vector<std::string>& include, const std::vector<std::string>& exclude,
             std::string_view path) {
  auto filter = LfsPathFilter::Create(include, exclude);
  EXPECT_OK(filter);
  return filter.ok() && filter->Allows(path);
}

TEST(LfsPathFilterTest, MatchesLikeGitLfsFetchIncludeAndExclude) {
  EXPECT_TRUE(Allowed({}, {}, "anything/at/all"));
  // No '/': any component at any depth, file or directory.
  EXPECT_TRUE(Allowed({"*.bin"}, {}, "a.bin"));
  EXPECT_TRUE(Allowed({"*.bin"}, {}, "x/y/a.bin"));
  EXPECT_TRUE(Allowed({"*.bin"}, {}, ".hidden.bin"));  // '*' matches a leading dot
  EXPECT_FALSE(Allowed({"*.bin"}, {}, "a.bin.txt"));
  EXPECT_FALSE(Allowed({"*.bin"}, {}, "bin"));
  EXPECT_FALSE(Allowed({"*.BIN"}, {}, "a.bin"));  // case-sensitive
  EXPECT_FALSE(Allowed({}, {"*.bin"}, "x/y/a.bin"));
  EXPECT_TRUE(Allowed({}, {"*.bin"}, "x/y/a.txt"));
  EXPECT_TRUE(Allowed({"textures"}, {}, "textures/t.png"));
  EXPECT_TRUE(Allowed({"textures"}, {}, "a/textures/t.png"));
  EXPECT_TRUE(Allowed({"textures"}, {}, "textures"));
  EXPECT_FALSE(Allowed({"textures"}, {}, "textures2/t.png"));
  EXPECT_FALSE(Allowed({"textures"}, {}, "mytextures/t.png"));
  EXPECT_TRUE(Allowed({"?.bin"}, {}, "a.bin"));
  EXPECT_FALSE(Allowed({"?.bin"}, {}, "ab.bin"));
  EXPECT_TRUE(Allowed({"[ab].bin"}, {}, "d/b.bin"));
  EXPECT_FALSE(Allowed({"[ab].bin"}, {}, "c.bin"));
  // A '/' at the start or in the middle: anchored at the root, component by component.
  EXPECT_TRUE(Allowed({"images/foo*"}, {}, "images/foo1.png"));
  EXPECT_FALSE(Allowed({"images/foo*"}, {}, "x/images/foo1.png"));
  EXPECT_FALSE(Allowed({"images/foo*"}, {}, "images/sub/foo1.png"));
  EXPECT_TRUE(Allowed({"images/foo*"}, {}, "images/foo.d/inner.png"));  // a matched directory
  EXPECT_TRUE(Allowed({}, {"media/reallybigfiles"}, "media/small.bin"));
  EXPECT_FALSE(Allowed({}, {"media/reallybigfiles"}, "media/reallybigfiles/x/y.bin"));
  EXPECT_TRUE(Allowed({"/top.bin"}, {}, "top.bin"));
  EXPECT_FALSE(Allowed({"/top.bin"}, {}, "x/top.bin"));
  EXPECT_TRUE(Allowed({"./top.bin"}, {}, "top.bin"));
  EXPECT_FALSE(Allowed({"./top.bin"}, {}, "x/top.bin"));
  // Trailing '/' and trailing "/**": directories only.
  EXPECT_TRUE(Allowed({"models/"}, {}, "models/a.bin"));
  EXPECT_TRUE(Allowed({"models/"}, {}, "x/models/a.bin"));  // still unanchored
  EXPECT_FALSE(Allowed({"models/"}, {}, "models"));
  EXPECT_TRUE(Allowed({"data/**"}, {}, "data/x"));
  EXPECT_TRUE(Allowed({"data/**"}, {}, "data/x/y"));
  EXPECT_FALSE(Allowed({"data/**"}, {}, "data"));
  EXPECT_FALSE(Allowed({"data/**"}, {}, "x/data/y"));
  // "**" components: zero or more directories.
  EXPECT_TRUE(Allowed({"**/ckpt/*.pt"}, {}, "ckpt/a.pt"));
  EXPECT_TRUE(Allowed({"**/ckpt/*.pt"}, {}, "x/y/ckpt/a.pt"));
  EXPECT_FALSE(Allowed({"**/ckpt/*.pt"}, {}, "ckpt/sub/a.pt"));
  EXPECT_TRUE(Allowed({"a/**/b"}, {}, "a/b"));
  EXPECT_TRUE(Allowed({"a/**/b"}, {}, "a/x/y/b"));
  EXPECT_TRUE(Allowed({"a/**/b"}, {}, "a/x/b/c"));
  EXPECT_FALSE(Allowed({"a/**/b"}, {}, "x/a/b"));
  EXPECT_TRUE(Allowed({"**"}, {}, "a/b"));
  EXPECT_TRUE(Allowed({"foo**bar"}, {}, "fooxbar"));  // not a "**" component: one '*'
  EXPECT_FALSE(Allowed({"foo**bar"}, {}, "foo/bar"));
  // Everything; nothing.
  for (const char* all : {"*", "/", ".", "./"}) {
    EXPECT_FALSE(Allowed({}, {all}, "a/b.bin")) << all;
    EXPECT_TRUE(Allowed({all}, {}, "a/b.bin")) << all;
  }
  EXPECT_TRUE(Allowed({""}, {""}, "a/b.bin"));  // empty patterns are ignored
  // Include, then exclude.
  EXPECT_TRUE(Allowed({"*.safetensors", "*.bin"}, {"big/"}, "m.safetensors"));
  EXPECT_FALSE(Allowed({"*.safetensors", "*.bin"}, {"big/"}, "big/m.bin"));
  EXPECT_FALSE(Allowed({"*.safetensors", "*.bin"}, {"big/"}, "m.txt"));
  // The empty path (a tagged blob) matches no pattern.
  EXPECT_TRUE(Allowed({}, {"*"}, ""));
  EXPECT_FALSE(Allowed({"*"}, {}, ""));

  auto bad = LfsPathFilter::Create({std::string("a\0b", 3)}, {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------
// History

TEST_F(LfsPointerScanTest, AllHistoryFindsPointersNoLongerAtTheTip) {
  ASSERT_OK(repo_->WriteFile("old.bin", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("a/keep.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("a/f.txt", "text\n"));
  ASSERT_OK_AND_ASSIGN(std::string c1, repo_->Commit("c1"));
  ASSERT_OK(repo_->CreateBranch("dev"));
  ASSERT_OK(repo_->RemoveFile("old.bin"));
  ASSERT_OK(repo_->WriteFile("a/keep.bin", PointerText(P(3))));
  ASSERT_OK_AND_ASSIGN(std::string c2, repo_->Commit("c2: old.bin deleted"));
  ASSERT_OK(repo_->Checkout("dev"));
  ASSERT_OK_AND_ASSIGN(std::string c3, repo_->CommitFile("dev.bin", PointerText(P(4)), "c3"));
  ASSERT_OK(repo_->Checkout("main"));
  auto tips = Tips({"refs/heads/main", "refs/heads/dev"});

  ASSERT_OK_AND_ASSIGN(LfsScanResult tip_only, Scan(tips));
  EXPECT_THAT(tip_only.by_ref["refs/heads/main"], ElementsAre(Found(P(3), "a/keep.bin")));

  LfsScanOptions all;
  all.all_history = true;
  LfsScanCache cache;
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan(tips, all, &cache));
  EXPECT_THAT(
      r.by_ref["refs/heads/main"],
      ElementsAre(Found(P(1), "old.bin"), Found(P(2), "a/keep.bin"), Found(P(3), "a/keep.bin")));
  EXPECT_THAT(
      r.by_ref["refs/heads/dev"],
      ElementsAre(Found(P(1), "old.bin"), Found(P(2), "a/keep.bin"), Found(P(4), "dev.bin")));
  EXPECT_THAT(r.wanted, ElementsAre(P(1), P(2), P(3), P(4)));
  EXPECT_EQ(r.commits_walked, 4u);  // main: c2, c1; dev: c3, c1
  GitCounts git = CountWithGit({c1, c2, c3});
  EXPECT_EQ(r.trees_walked, git.trees);
  EXPECT_EQ(r.blobs_examined, git.blobs);
  EXPECT_EQ(cache.size(), git.trees);

  // A new commit: history is walked again (commits are cheap), only its new trees are read.
  ASSERT_OK(repo_->CommitFile("a/g.txt", "more\n", "c4"));
  ASSERT_OK_AND_ASSIGN(r, Scan(Tips({"refs/heads/main", "refs/heads/dev"}), all, &cache));
  EXPECT_EQ(r.commits_walked, 5u);
  EXPECT_EQ(r.trees_walked, 2u);    // root, a
  EXPECT_EQ(r.blobs_examined, 3u);  // a/keep.bin, a/f.txt, a/g.txt (the root holds only a/)
  EXPECT_THAT(
      r.by_ref["refs/heads/main"],
      ElementsAre(Found(P(1), "old.bin"), Found(P(2), "a/keep.bin"), Found(P(3), "a/keep.bin")));
}

// ---------------------------------------------------------------------------------------
// Incremental scans

TEST_F(LfsPointerScanTest, RescanAfterOneFileChangeWalksOnlyTheChangedTrees) {
  ASSERT_OK(repo_->WriteFile("README", "hello\n"));
  ASSERT_OK(repo_->WriteFile("a/x.txt", "x\n"));
  ASSERT_OK(repo_->WriteFile("a/b/c/p1.bin", PointerText(P(1))));
  ASSERT_OK(repo_->WriteFile("a/b/c/f.txt", "v1\n"));
  ASSERT_OK(repo_->WriteFile("d/p2.bin", PointerText(P(2))));
  ASSERT_OK(repo_->WriteFile("e/big.bin", RandomBytes(3000, 3)));
  ASSERT_OK(repo_->WriteFile("e/f/g/h.txt", "deep, no pointers\n"));
  ASSERT_OK(repo_->Commit("c1"));
  std::vector<std::string> main = {"refs/heads/main"};
  LfsScanCache cache;

  ASSERT_OK_AND_ASSIGN(LfsScanResult first, Scan(Tips(main), {}, &cache));
  EXPECT_EQ(first.trees_walked, 8u);  // root, a, a/b, a/b/c, d, e, e/f, e/f/g
  EXPECT_EQ(cache.size(), 8u);
  EXPECT_THAT(first.wanted, ElementsAre(P(1), P(2)));

  // One file deep in a/: the four trees on its path are new, nothing else is read.
  ASSERT_OK(repo_->CommitFile("a/b/c/f.txt", "v2\n", "c2"));
  ASSERT_OK_AND_ASSIGN(LfsScanResult second, Scan(Tips(main), {}, &cache));
  EXPECT_EQ(second.trees_walked, 4u);    // root, a, a/b, a/b/c
  EXPECT_EQ(second.blobs_examined, 4u);  // README, a/x.txt, a/b/c/p1.bin, a/b/c/f.txt
  EXPECT_EQ(second.blobs_read, 4u);
  ASSERT_OK_AND_ASSIGN(LfsScanResult fresh, Scan(Tips(main)));
  EXPECT_EQ(second.by_ref, fresh.by_ref);
  EXPECT_EQ(second.wanted, fresh.wanted);
  EXPECT_EQ(cache.size(), 8u);  // the four old versions pruned; e/f/g kept though unread

  // Nothing new: nothing read, same answer.
  ASSERT_OK_AND_ASSIGN(LfsScanResult third, Scan(Tips(main), {}, &cache));
  EXPECT_EQ(third.trees_walked, 0u);
  EXPECT_EQ(third.blobs_examined, 0u);
  EXPECT_EQ(third.by_ref, fresh.by_ref);

  // A root-level change: only the root is read, so e/, e/f and e/f/g (reached only through
  // cache hits in the last two scans) are still cached.
  ASSERT_OK(repo_->CommitFile("README", "hello again\n", "c3"));
  ASSERT_OK_AND_ASSIGN(LfsScanResult fourth, Scan(Tips(main), {}, &cache));
  EXPECT_EQ(fourth.trees_walked, 1u);
  EXPECT_EQ(fourth.blobs_examined, 1u);

  // A new pointer in a pointer-free part of the tree is found: the cache never hides it.
  ASSERT_OK(repo_->CommitFile("e/f/g/new.bin", PointerText(P(3)), "c4"));
  ASSERT_OK_AND_ASSIGN(LfsScanResult fifth, Scan(Tips(main), {}, &cache));
  EXPECT_EQ(fifth.trees_walked, 4u);  // root, e, e/f, e/f/g
  EXPECT_THAT(fifth.by_ref["refs/heads/main"],
              ElementsAre(Found(P(1), "a/b/c/p1.bin"), Found(P(2), "d/p2.bin"),
                          Found(P(3), "e/f/g/new.bin")));
  // ... and one that disappears is gone.
  ASSERT_OK(repo_->RemoveFile("d/p2.bin"));
  ASSERT_OK(repo_->Commit("c5"));
  ASSERT_OK_AND_ASSIGN(LfsScanResult sixth, Scan(Tips(main), {}, &cache));
  EXPECT_THAT(sixth.wanted, ElementsAre(P(1), P(3)));
  EXPECT_EQ(sixth.trees_walked, 1u);  // root only: d/ is gone, not replaced
}

TEST_F(LfsPointerScanTest, DeletedRefDisappearsAndItsTreesArePruned) {
  ASSERT_OK(repo_->CommitFile("m/p.bin", PointerText(P(1)), "main"));
  ASSERT_OK(repo_->CheckoutNewBranch("feature"));
  ASSERT_OK(repo_->CommitFile("feat/p.bin", PointerText(P(2)), "feature"));
  LfsScanCache cache;
  ASSERT_OK_AND_ASSIGN(LfsScanResult both,
                       Scan(Tips({"refs/heads/main", "refs/heads/feature"}), {}, &cache));
  EXPECT_THAT(both.wanted, ElementsAre(P(1), P(2)));
  EXPECT_EQ(cache.size(), 4u);  // root (main), m, root (feature), feat

  ASSERT_OK(repo_->Checkout("main"));
  ASSERT_OK(repo_->DeleteBranch("feature"));
  ASSERT_OK_AND_ASSIGN(LfsScanResult after, Scan(Tips({"refs/heads/main"}), {}, &cache));
  EXPECT_EQ(after.by_ref.size(), 1u);
  EXPECT_THAT(after.by_ref["refs/heads/main"], ElementsAre(Found(P(1), "m/p.bin")));
  EXPECT_THAT(after.wanted, ElementsAre(P(1)));
  EXPECT_EQ(after.trees_walked, 0u);
  EXPECT_EQ(cache.size(), 2u);

  // No refs at all: nothing reported, nothing kept.
  ASSERT_OK_AND_ASSIGN(LfsScanResult none, Scan({}, {}, &cache));
  EXPECT_THAT(none.by_ref, IsEmpty());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(LfsPointerScanTest, EmptyRepository) {
  LfsScanCache cache;
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan({}, {}, &cache));
  EXPECT_THAT(r.by_ref, IsEmpty());
  EXPECT_THAT(r.wanted, IsEmpty());
  EXPECT_THAT(r.filtered, IsEmpty());
  EXPECT_EQ(r.trees_walked + r.blobs_examined + r.blobs_read + r.commits_walked, 0u);
  LfsScanOptions all;
  all.all_history = true;
  EXPECT_OK(Scan({}, all, &cache));
}

// ---------------------------------------------------------------------------------------
// Failures

TEST_F(LfsPointerScanTest, BadInputsAndMissingObjectsFailAndLeaveACorrectCache) {
  ASSERT_OK(repo_->CommitFile("a/p.bin", PointerText(P(1)), "c1"));
  std::string head = Rev("HEAD");
  EXPECT_EQ(Scan({{"refs/heads/x", "zz"}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Scan({{"refs/heads/x", std::string(40, 'g')}}).status().code(),
            StatusCode::kInvalidArgument);
  LfsScanOptions bad_pattern;
  bad_pattern.exclude = {std::string("\0", 1)};
  EXPECT_EQ(Scan({{"refs/heads/main", head}}, bad_pattern).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ScanLfsPointers(tmp_->path() / "nope", {}, {}, nullptr).status().code(),
            StatusCode::kNotFound);

  // "refs/heads/a" is scanned (and cached) before "refs/heads/b" fails: an incomplete mirror.
  LfsScanCache cache;
  auto failed = Scan({{"refs/heads/a", head}, {"refs/heads/b", std::string(40, '7')}}, {}, &cache);
  EXPECT_EQ(failed.status().code(), StatusCode::kNotFound) << failed.status().ToString();
  EXPECT_EQ(cache.size(), 2u);
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan({{"refs/heads/a", head}}, {}, &cache));
  EXPECT_EQ(r.trees_walked, 0u);
  EXPECT_THAT(r.by_ref["refs/heads/a"], ElementsAre(Found(P(1), "a/p.bin")));
}

// Appends a pack entry: the type-and-size header, then the zlib-compressed object.
void AppendPackEntry(std::string* pack, int type, std::string_view data) {
  size_t size = data.size();
  unsigned char byte = static_cast<unsigned char>((type << 4) | (size & 0x0f));
  size >>= 4;
  while (size != 0) {
    pack->push_back(static_cast<char>(byte | 0x80));
    byte = static_cast<unsigned char>(size & 0x7f);
    size >>= 7;
  }
  pack->push_back(static_cast<char>(byte));
  uLongf compressed_size = compressBound(data.size());
  std::string compressed(compressed_size, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size,
            reinterpret_cast<const Bytef*>(data.data()), data.size(), Z_BEST_SPEED);
  pack->append(compressed.data(), compressed_size);
}

// Writes a tree holding `depth` nested directories "d" with the file p.bin (`leaf`) at the
// bottom, as one hand-made pack (no deltas) stored with `git index-pack`: thousands of loose
// objects, fsynced one by one, would take minutes. Returns the root tree's oid.
Result<std::string> WriteNestedTree(const fs::path& git_dir, int depth, const std::string& leaf) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());  // for git_odb_hash
  std::string body;
  git_oid current;
  if (git_odb_hash(&current, leaf.data(), leaf.size(), GIT_OBJECT_BLOB) < 0) {
    return Internal("hash blob");
  }
  AppendPackEntry(&body, /*blob*/ 3, leaf);
  std::string entry = "100644 p.bin";
  for (int i = 0; i <= depth; ++i) {
    std::string tree =
        entry + '\0' + std::string(reinterpret_cast<const char*>(current.id), GIT_OID_RAWSZ);
    if (git_odb_hash(&current, tree.data(), tree.size(), GIT_OBJECT_TREE) < 0) {
      return Internal("hash tree");
    }
    AppendPackEntry(&body, /*tree*/ 2, tree);
    entry = "40000 d";
  }
  uint32_t count = static_cast<uint32_t>(depth) + 2;
  std::string pack = "PACK";
  for (uint32_t v : {2u, count}) {
    for (int shift = 24; shift >= 0; shift -= 8) pack.push_back(static_cast<char>(v >> shift));
  }
  pack += body;
  unsigned char sha1[EVP_MAX_MD_SIZE];
  unsigned int sha1_size = 0;
  if (EVP_Digest(pack.data(), pack.size(), sha1, &sha1_size, EVP_sha1(), nullptr) != 1) {
    return Internal("sha1");
  }
  pack.append(reinterpret_cast<const char*>(sha1), sha1_size);
  test::GitOptions o;
  o.stdin_data = std::move(pack);
  RETURN_IF_ERROR(test::Git({"index-pack", "--stdin"}, git_dir, o).status());
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), &current);
  return std::string(hex);
}

TEST_F(LfsPointerScanTest, DeeplyNestedTreesUpToGitsLimit) {
  ASSERT_OK_AND_ASSIGN(std::string ok_root, WriteNestedTree(GitDir(), 2047, PointerText(P(1))));
  LfsScanCache cache;
  ASSERT_OK_AND_ASSIGN(LfsScanResult r, Scan({{"refs/tags/deep", ok_root}}, {}, &cache));
  std::string path;
  for (int i = 0; i < 2047; ++i) path += "d/";
  EXPECT_THAT(r.by_ref["refs/tags/deep"], ElementsAre(Found(P(1), path + "p.bin")));
  EXPECT_EQ(r.trees_walked, 2048u);

  ASSERT_OK_AND_ASSIGN(std::string too_deep, WriteNestedTree(GitDir(), 2048, PointerText(P(2))));
  auto failed = Scan({{"refs/tags/deeper", too_deep}}, {}, &cache);
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted) << failed.status().ToString();
}

}  // namespace
}  // namespace mirrord
