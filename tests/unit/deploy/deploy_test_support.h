// Helpers shared by the deploy unit tests: objects put into a real BlobStore.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/sha256.h"
#include "storage/blob_store.h"

namespace mirrord::test {

// Publishes `content` into `store` as a verified object; returns its oid.
inline std::string PutObject(BlobStore& store, std::string_view content) {
  std::string oid = Sha256Hex(content);
  if (store.Contains(oid)) return oid;
  auto partial = store.OpenPartial(oid, content.size());
  EXPECT_TRUE(partial.ok()) << partial.status().ToString();
  if (!partial.ok()) return oid;
  if (!content.empty()) {
    EXPECT_TRUE((*partial)->WriteAt(0, content).ok());
    EXPECT_TRUE((*partial)->CommitRange({0, content.size()}).ok());
  }
  Status published = (*partial)->Publish();
  EXPECT_TRUE(published.ok()) << published.ToString();
  return oid;
}

// Deterministic pseudo-random bytes (a seeded LCG), so tests are repeatable.
inline std::string SeededBytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

}  // namespace mirrord::test
