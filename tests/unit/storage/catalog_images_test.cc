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
  EXPECT_EQ(**catalog_->FindManifest("a", "sha256:1"), "application/vnd.oci.image.manifest.v1+json");
  EXPECT_FALSE(catalog_->FindManifest("b", "sha256:1")->has_value());
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
