// The export of a built image for an air-gapped host (`mirrorctl image export`), an admin
// endpoint (bearer token as the rest of /api/v1/):
//
//   GET|HEAD /api/v1/images/<name>:<tag>/archive
//     200 application/x-tar: the OCI image layout of deploy/oci_archive.h (skopeo's
//     oci-archive:, and `docker load`), sent with Content-Length (the size is known before
//     the first byte, so a client can tell a truncated archive), Mirrord-Image-Digest: the
//     manifest's digest, Content-Disposition naming "<name>_<tag>.tar". Blobs go out from
//     the stores by sendfile(2): OCI blobs and raw LFS objects whole, generated tar layers as
//     their header bytes plus the stored objects (deploy/image_blob_source.h), so no weight
//     is copied or held in memory.
//     404 {"error"} for an unknown name:tag; 400 for an invalid one; 401 without the token;
//     500 when a blob the manifest names is missing or of another size (nothing is sent).
//
// Every file is opened before the answer starts: a retention that collects the image
// meanwhile does not truncate an export already begun (the open descriptors keep the bytes).
// Thread-safety: Handle may run concurrently; catalog and store work goes to the pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

#include "common/live_value.h"
#include "daemon/http_exchange.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

class ImageArchiveHandler {
 public:
  // Everything passed must outlive the handler. An empty `admin_token` refuses every call.
  ImageArchiveHandler(Catalog& catalog, const BlobStore& lfs, const OciStore& oci,
                      boost::asio::thread_pool& blocking, std::string admin_token)
      : catalog_(catalog),
        lfs_(lfs),
        oci_(oci),
        blocking_(blocking),
        admin_token_(std::move(admin_token)) {}

  // True for the paths this handler answers ("/api/v1/images/<name>:<tag>/archive"); the
  // images API (daemon/images_api.h) answers the rest of /api/v1/images/ (no image name
  // holds a ':').
  static bool Handles(std::string_view path);

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  Catalog& catalog_;
  const BlobStore& lfs_;
  const OciStore& oci_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
