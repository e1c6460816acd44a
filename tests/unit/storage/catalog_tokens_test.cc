// The read_tokens table of the Catalog: insert, find by hash, list, delete.
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "storage/catalog.h"
#include "tests/fixtures/status_matchers.h"
#include "tests/fixtures/temp_dir.h"

namespace mirrord {
namespace {

class CatalogTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(test::TempDir dir, test::TempDir::Create("catalog-tokens-"));
    dir_.emplace(std::move(dir));
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_->path() / "catalog.sqlite"));
  }
  std::optional<test::TempDir> dir_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTokensTest, InsertFindListDelete) {
  ASSERT_OK(catalog_->InsertReadToken({"ci", "hash-ci", {"lab/*", "hf/**"}, 100}));
  ASSERT_OK(catalog_->InsertReadToken({"alice", "hash-alice", {"lab/a"}, 200}));

  ASSERT_OK_AND_ASSIGN(std::optional<ReadTokenRecord> ci, catalog_->FindReadToken("hash-ci"));
  ASSERT_TRUE(ci.has_value());
  EXPECT_EQ(ci->name, "ci");
  EXPECT_EQ(ci->repos, (std::vector<std::string>{"lab/*", "hf/**"}));
  EXPECT_EQ(ci->created_at, 100);
  ASSERT_OK_AND_ASSIGN(std::optional<ReadTokenRecord> none, catalog_->FindReadToken("hash-x"));
  EXPECT_FALSE(none.has_value());

  ASSERT_OK_AND_ASSIGN(std::vector<ReadTokenRecord> all, catalog_->ListReadTokens());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alice");
  EXPECT_EQ(all[1].name, "ci");

  ASSERT_OK(catalog_->DeleteReadToken("ci"));
  ASSERT_OK_AND_ASSIGN(std::optional<ReadTokenRecord> gone, catalog_->FindReadToken("hash-ci"));
  EXPECT_FALSE(gone.has_value());
  EXPECT_EQ(catalog_->DeleteReadToken("ci").code(), StatusCode::kNotFound);
}

TEST_F(CatalogTokensTest, NamesAndHashesAreUnique) {
  ASSERT_OK(catalog_->InsertReadToken({"ci", "h1", {"a"}, 1}));
  EXPECT_EQ(catalog_->InsertReadToken({"ci", "h2", {"a"}, 1}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(catalog_->InsertReadToken({"other", "h1", {"a"}, 1}).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(catalog_->InsertReadToken({"x", "h3", {}, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->InsertReadToken({"", "h3", {"a"}, 1}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mirrord
