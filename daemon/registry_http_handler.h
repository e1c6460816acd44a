// The read-only OCI registry on mirrord's port (OCI distribution spec, pull side), serving
// the images and model artifacts of the build stage (deploy/):
//
//   GET  /v2/                                   200 {} with Docker-Distribution-API-Version
//   GET|HEAD /v2/<name>/manifests/<tag|digest>  the exact stored bytes, Content-Type,
//                                               Docker-Content-Digest (of what is sent). By
//                                               tag: the image's Docker schema 2 twin when
//                                               Accept names that type and not the OCI
//                                               manifest type, else the OCI manifest; by
//                                               digest: what the digest names
//   GET|HEAD /v2/<name>/blobs/<digest>          with Range: OCI blobs (configs, inline layers)
//                                               and raw artifact layers (the LFS objects) by
//                                               sendfile(2); generated tar layers as pieces:
//                                               header bytes and padding from memory, each
//                                               stored object by sendfile(2) (no copy)
//   GET  /v2/<name>/tags/list?n=&last=          with a Link header for the next page
//   GET  /v2/_catalog?n=&last=
//   GET  /v2/<name>/referrers/<digest>          an empty image index (nothing refers yet)
//   POST/PUT/PATCH/DELETE anything              405 UNSUPPORTED: the registry is read-only
//
// Errors are the spec's JSON {"errors":[{"code","message","detail"}]}: NAME_INVALID,
// NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN, DIGEST_INVALID, PAGINATION_NUMBER_INVALID,
// UNSUPPORTED. A name serves only the manifests its tags name and the blobs those
// manifests reference (an LFS object of another repo is BLOB_UNKNOWN here). "v2" is a
// reserved first segment, so no mirrored repo can collide with these URLs.
// Thread-safety: Handle may run concurrently; blocking work goes to the pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "daemon/http_exchange.h"
#include "deploy/oci_store.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// Page sizes of tags/list and _catalog are capped here (bounded answers).
inline constexpr size_t kRegistryMaxPage = 1000;

// n= and last= of tags/list and _catalog.
struct RegistryPage {
  size_t n = kRegistryMaxPage;
  std::string last;
  bool limited = false;  // n was given: a full page gets a Link to the next
};

// A request path below /v2/ split into the repository name and what is asked of it.
struct RegistryPath {
  std::string name;
  std::string kind;  // "manifests", "blobs", "referrers", "tags"
  std::string rest;
};
// nullopt for paths that name no repository ("/v2/", "/v2/_catalog", unknown shapes).
std::optional<RegistryPath> SplitRegistryPath(std::string_view path);

// The spec's error answer {"errors":[{"code","message","detail":null}]} with the
// Docker-Distribution-API-Version header.
HttpResponse RegistryErrorResponse(const HttpRequest& req, http::status status,
                                   std::string_view code, std::string_view message);

// Which names a request may see in /v2/_catalog (daemon/registry_read_gate.h); called on
// the blocking pool. Empty: all.
using RegistryNameFilter = std::function<Result<bool>(const std::string& name)>;

class RegistryHttpHandler {
 public:
  RegistryHttpHandler(Catalog& catalog, const BlobStore& lfs, const OciStore& oci,
                      boost::asio::thread_pool& blocking)
      : catalog_(catalog), lfs_(lfs), oci_(oci), blocking_(blocking) {}

  // Answers any request under /v2 (the route is registered for "/v2" and the "/v2/" prefix).
  boost::asio::awaitable<void> Handle(HttpExchange& ex) { return Handle(ex, {}); }
  // Same, listing in /v2/_catalog only the names `visible` accepts (a page may then hold
  // fewer than n names; the Link to the next page stays right).
  boost::asio::awaitable<void> Handle(HttpExchange& ex, RegistryNameFilter visible);

 private:
  boost::asio::awaitable<void> Manifest(HttpExchange& ex, std::string name, std::string reference);
  boost::asio::awaitable<void> Blob(HttpExchange& ex, std::string name, std::string digest);
  boost::asio::awaitable<void> Tags(HttpExchange& ex, std::string name, RegistryPage page);
  boost::asio::awaitable<void> CatalogList(HttpExchange& ex, RegistryPage page,
                                           const RegistryNameFilter& visible);
  // The subject digest was validated by Handle; nothing refers to anything yet.
  boost::asio::awaitable<void> Referrers(HttpExchange& ex, std::string name);

  Catalog& catalog_;
  const BlobStore& lfs_;
  const OciStore& oci_;
  boost::asio::thread_pool& blocking_;
};

}  // namespace mirrord
