// URL parsing of the Hugging Face–compatible endpoint: revision forms, repo ids, and every
// traversal spelling refused before anything is looked up.
#include "daemon/hf_paths.h"

#include <gtest/gtest.h>

#include <string>

namespace mirrord {
namespace {

HfResolveTarget Resolve(std::string_view target) {
  Result<HfResolveTarget> r = ParseHfResolveTarget(target);
  EXPECT_TRUE(r.ok()) << target << ": " << r.status().ToString();
  return r.ok() ? *r : HfResolveTarget{};
}

TEST(HfPathsTest, ResolveModelAndDataset) {
  HfResolveTarget t = Resolve("/org/model/resolve/main/config.json");
  EXPECT_EQ(t.type, HfRepoType::kModel);
  EXPECT_EQ(t.repo_id, "org/model");
  EXPECT_EQ(t.revision, "main");
  EXPECT_EQ(t.path, "config.json");
  t = Resolve("/gpt2/resolve/v1.0/sub/dir/model.safetensors?download=true");
  EXPECT_EQ(t.repo_id, "gpt2");
  EXPECT_EQ(t.revision, "v1.0");
  EXPECT_EQ(t.path, "sub/dir/model.safetensors");
  t = Resolve("/datasets/org/data/resolve/main/train.parquet");
  EXPECT_EQ(t.type, HfRepoType::kDataset);
  EXPECT_EQ(t.repo_id, "org/data");
}

TEST(HfPathsTest, RevisionsWithSlashes) {
  EXPECT_EQ(Resolve("/org/m/resolve/refs%2Fpr%2F1/a.txt").revision, "refs/pr/1");
  EXPECT_EQ(Resolve("/org/m/resolve/feature%2Fx/a.txt").revision, "feature/x");
  HfResolveTarget t = Resolve("/org/m/resolve/refs/pr/1/a.txt");
  EXPECT_EQ(t.revision, "refs/pr/1");
  EXPECT_EQ(t.path, "a.txt");
  // A file name with an encoded space or slash decodes into the path.
  t = Resolve("/org/m/resolve/main/dir%2Fa%20b.txt");
  EXPECT_EQ(t.path, "dir/a b.txt");
}

TEST(HfPathsTest, TraversalAndMalformedTargetsAreRefused) {
  for (std::string_view bad :
       {"/org/m/resolve/main/../../etc/passwd", "/org/m/resolve/main/%2e%2e/%2E%2E/etc/passwd",
        "/org/m/resolve/main/%2Fetc%2Fpasswd", "/org/m/resolve/main/a%00b",
        "/org/m/resolve/main/a%5C..%5Cb", "/org/m/resolve/main/./a", "/org/m/resolve/main/a//b",
        "/org/m/resolve/main/", "/org/m/resolve/main", "/org/m/resolve//a",
        "/org/m/resolve/main/a%zz", "/org/m/resolve/main/a%4", "/resolve/main/a",
        "/%2e%2e/resolve/main/a", "/org/m/resolve/ma%00in/a"}) {
    EXPECT_FALSE(ParseHfResolveTarget(bad).ok()) << bad;
  }
}

TEST(HfPathsTest, RouterClaimsResolvePathsButNotGitOnes) {
  EXPECT_TRUE(IsHfResolvePath("/org/m/resolve/main/a"));
  EXPECT_TRUE(IsHfResolvePath("/gpt2/resolve/main/a"));
  EXPECT_TRUE(IsHfResolvePath("/datasets/org/d/resolve/main/a"));
  EXPECT_FALSE(IsHfResolvePath("/resolve/main/a"));
  EXPECT_FALSE(IsHfResolvePath("/datasets/resolve/main/a"));
  EXPECT_FALSE(IsHfResolvePath("/org/m.git/resolve/main/a"));
  EXPECT_FALSE(IsHfResolvePath("/org/m/info/lfs/resolve/x"));
  EXPECT_FALSE(IsHfResolvePath("/org/m.git/info/refs"));
}

TEST(HfPathsTest, ApiTargets) {
  Result<HfApiTarget> t = ParseHfApiTarget("/api/models/org/m");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, HfApiTarget::Kind::kInfo);
  EXPECT_EQ(t->repo_id, "org/m");
  EXPECT_EQ(t->revision, "HEAD");
  t = ParseHfApiTarget("/api/models/gpt2/revision/refs%2Fpr%2F2?expand=sha");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->repo_id, "gpt2");
  EXPECT_EQ(t->revision, "refs/pr/2");
  t = ParseHfApiTarget("/api/datasets/org/d/tree/main/sub/dir?recursive=true");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, HfRepoType::kDataset);
  EXPECT_EQ(t->kind, HfApiTarget::Kind::kTree);
  EXPECT_EQ(t->path, "sub/dir");
  t = ParseHfApiTarget("/api/models/org/m/tree/refs/pr/1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->revision, "refs/pr/1");
  EXPECT_EQ(t->path, "");
  t = ParseHfApiTarget("/api/models/org/m/paths-info/main");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, HfApiTarget::Kind::kPathsInfo);
  t = ParseHfApiTarget("/api/models/org/m/refs");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, HfApiTarget::Kind::kRefs);
  for (std::string_view bad :
       {"/api/models/", "/api/models/org/m/refs/x", "/api/models/org/m/revision/main/x",
        "/api/models/org/m/tree/main/../x", "/api/models/org/m/tree/main/%2e%2e",
        "/api/models/../x", "/api/spaces/org/m", "/api/models/org/m/tree"}) {
    EXPECT_FALSE(ParseHfApiTarget(bad).ok()) << bad;
  }
}

TEST(HfPathsTest, PercentCoding) {
  EXPECT_EQ(*HfPercentDecode("a%2Fb%20c"), "a/b c");
  EXPECT_FALSE(HfPercentDecode("%").ok());
  EXPECT_FALSE(HfPercentDecode("%g0").ok());
  EXPECT_EQ(HfPercentEncode("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(HfPercentEncode("a b/c", true), "a%20b/c");
}

}  // namespace
}  // namespace mirrord
