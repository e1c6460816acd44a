// BuildApi: the admin endpoint that runs a build now, until the queue-triggered build job
// exists (bearer token as the rest of /api/v1/):
//
//   POST /api/v1/builds/<name>[?ref=refs/heads/main]
//        -> 200 {"build","repo","ref","commit","image":{"digest","docker_digest","size","tags"},
//                "model":{"digest","size","tags"},"layers","hashed_layers","merged_weights",
//                "dropped_commits":[commits whose images retention unlisted]}
//
// `ref` defaults to the repo's published HEAD branch; it must be one of the repo's published
// refs (the commit built is the published one) and match one of the recipe's `refs` globs
// when the recipe has any. The build runs on the blocking pool and the answer
// comes when the image is served. Errors are {"error":{"code","message"}} with the admin
// API's HTTP statuses (404 unknown build or ref, 409 LFS objects not yet in the store, ...).
// Thread-safety: Handle may run concurrently (BuildImage is safe for that).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "daemon/http_exchange.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// The served bare mirror of a repo, or nullopt when it has none yet.
using MirrorDirResolver = std::function<std::optional<std::filesystem::path>(std::string_view)>;

class BuildApi {
 public:
  // Everything passed must outlive the BuildApi. An empty `admin_token` refuses every call.
  BuildApi(const Config& config, Catalog& catalog, const BlobStore& lfs, OciStore& oci,
           MirrorDirResolver mirror_dir, boost::asio::thread_pool& blocking,
           std::string admin_token)
      : config_(config),
        catalog_(catalog),
        lfs_(lfs),
        oci_(oci),
        mirror_dir_(std::move(mirror_dir)),
        blocking_(blocking),
        admin_token_(std::move(admin_token)) {}

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  const Config& config_;
  Catalog& catalog_;
  const BlobStore& lfs_;
  OciStore& oci_;
  MirrorDirResolver mirror_dir_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
