// The build-stage tables of the Catalog: tar layer digest cache, image tags, manifest blobs.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class CatalogImagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("catalog-images-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.sqlite"));
  }
  static ImageRecord Tag(std::string name, std::string tag, std::string digest) {
    ImageRecord r;
    r.name = std::move(name);
    r.tag = std::move(tag);
    r.digest = std::move(digest);
    r.media_type = "application/vnd.oci.image.manifest.v1+json";
    return r;
  }
  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogImagesTest, TagsMoveAndListInPages) {
  ASSERT_OK(catalog_->PutImages({Tag("a", "main", "sha256:1"), Tag("a", "v1", "sha256:1"),
                                 Tag("a", "c0ffee", "sha256:1"), Tag("b", "main", "sha256:9")},
                                {{"sha256:1", "sha256:layer"}}));
  ASSERT_OK(catalog_->PutImages({Tag("a", "main", "sha256:2")}, {{"sha256:2", "sha256:other"}}));
  EXPECT_EQ(catalog_->GetImage("a", "main")->digest, "sha256:2");
  EXPECT_EQ(catalog_->GetImage("a", "v1")->digest, "sha256:1");
  EXPECT_EQ(catalog_->GetImage("a", "nope").status().code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<ImageRecord> page, catalog_->ListImages("a", "", 2));
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].tag, "c0ffee");
  EXPECT_EQ(page[1].tag, "main");
  ASSERT_OK_AND_ASSIGN(page, catalog_->ListImages("a", "main", 2));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].tag, "v1");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, catalog_->ListImageNames("a", 0));
  EXPECT_EQ(names, std::vector<std::string>{"b"});
  // A name serves its manifests and what they reference, nothing of another name.
  EXPECT_TRUE(*catalog_->NameReferencesBlob("a", "sha256:layer"));
  EXPECT_TRUE(*catalog_->NameReferencesBlob("a", "sha256:1"));
  EXPECT_FALSE(*catalog_->NameReferencesBlob("b", "sha256:layer"));
  EXPECT_EQ((*catalog_->FindManifest("a", "sha256:1"))->media_type,
            "application/vnd.oci.image.manifest.v1+json");
  EXPECT_FALSE(catalog_->FindManifest("b", "sha256:1")->has_value());
}

// Retention's two steps: the commits beyond `keep` (by their newest build) lose every tag
// of that build and ref; then what only their manifests used is reported, never a blob a
// listed manifest (or its Docker twin) references.
TEST_F(CatalogImagesTest, UnlistOldImagesThenFindWhatOnlyTheyUsed) {
  auto tag = [](std::string t, std::string digest, std::string commit, int64_t built,
                std::string ref = "refs/heads/main") {
    ImageRecord r = Tag("m", std::move(t), std::move(digest));
    r.build = "m";
    r.ref = std::move(ref);
    r.commit = std::move(commit);
    r.built_at = built;
    return r;
  };
  ImageRecord c3 = tag("c3", "sha256:m3", "c3", 30);
  c3.docker_digest = "sha256:d3";
  ASSERT_OK(catalog_->PutImages({tag("c1", "sha256:m1", "c1", 10),
                                 tag("c1-model", "sha256:a1", "c1", 10)},
                                {{"sha256:m1", "sha256:cfg1"}, {"sha256:m1", "sha256:shared"},
                                 {"sha256:a1", "sha256:lfs"}}));
  ASSERT_OK(catalog_->PutImages({tag("c2", "sha256:m2", "c2", 20)},
                                {{"sha256:m2", "sha256:cfg2"}, {"sha256:m2", "sha256:shared"}}));
  ASSERT_OK(catalog_->PutImages({c3, tag("main", "sha256:m3", "c3", 30),
                                 tag("v1", "sha256:m1", "c1", 5, "refs/tags/v1")},
                                {{"sha256:m3", "sha256:cfg3"}, {"sha256:m3", "sha256:d3"},
                                 {"sha256:m3", "sha256:shared"}}));
  EXPECT_EQ(catalog_->UnlistOldImages("m", "refs/heads/main", 0).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(std::vector<ImageRecord> none,
                       catalog_->UnlistOldImages("m", "refs/heads/main", 3));
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(std::vector<ImageRecord> dropped,
                       catalog_->UnlistOldImages("m", "refs/heads/main", 1));
  std::vector<std::string> tags;
  for (const ImageRecord& r : dropped) tags.push_back(r.tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"c2", "c1", "c1-model"}));
  EXPECT_TRUE(catalog_->GetImage("m", "main").ok());
  EXPECT_TRUE(catalog_->GetImage("m", "c3").ok());
  // Another ref's tag of the first image keeps m1 (and what it uses) listed.
  EXPECT_TRUE(catalog_->GetImage("m", "v1").ok());
  ASSERT_OK_AND_ASSIGN(UnlistedBlobs unlisted, catalog_->FindUnlistedBlobs());
  EXPECT_EQ(unlisted.manifests, (std::vector<std::string>{"sha256:a1", "sha256:m2"}));
  EXPECT_EQ(unlisted.blobs, (std::vector<std::string>{"sha256:a1", "sha256:cfg2", "sha256:lfs",
                                                      "sha256:m2"}));
  // The Docker twin is found by its digest.
  ASSERT_OK_AND_ASSIGN(std::optional<ImageRecord> twin, catalog_->FindManifest("m", "sha256:d3"));
  ASSERT_TRUE(twin.has_value());
  EXPECT_EQ(twin->digest, "sha256:m3");
  ASSERT_OK(catalog_->PutTarLayer({"k2", "sha256:cfg2", 1, "{}", 0}));
  ASSERT_OK(catalog_->PutTarLayer({"ks", "sha256:shared", 1, "{}", 0}));
  ASSERT_OK(catalog_->ForgetUnlisted(unlisted));
  EXPECT_FALSE(catalog_->FindTarLayerByDigest("sha256:cfg2")->has_value());
  EXPECT_TRUE(catalog_->FindTarLayerByDigest("sha256:shared")->has_value());
  ASSERT_OK_AND_ASSIGN(unlisted, catalog_->FindUnlistedBlobs());
  EXPECT_TRUE(unlisted.manifests.empty());
  EXPECT_TRUE(unlisted.blobs.empty());
}

TEST_F(CatalogImagesTest, BadRecordsChangeNothing) {
  ImageRecord bad = Tag("a", "x", "sha256:3");
  bad.kind = "container";
  EXPECT_EQ(catalog_->PutImages({Tag("a", "ok", "sha256:3"), bad}, {}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->GetImage("a", "ok").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog_->PutTarLayer({"", "sha256:1", 1, "{}", 0}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(CatalogImagesTest, TarLayerCacheKeepsTheFirstRow) {
  ASSERT_OK(catalog_->PutTarLayer({"k1", "sha256:d", 1024, "{\"spec\":1}", 5}));
  ASSERT_OK(catalog_->PutTarLayer({"k1", "sha256:d", 1024, "{\"spec\":1}", 6}));
  ASSERT_OK_AND_ASSIGN(std::optional<TarLayerRecord> got, catalog_->GetTarLayer("k1"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->created_at, 5);
  EXPECT_FALSE(catalog_->GetTarLayer("k2")->has_value());
  ASSERT_OK_AND_ASSIGN(got, catalog_->FindTarLayerByDigest("sha256:d"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->spec_key, "k1");
}

}  // namespace
}  // namespace mirrord
