// LfsHttpHandler: mirrord's Git LFS server for `git lfs` clients, under
// /<name>.git/info/lfs/:
//
//   POST objects/batch     download: hrefs to mirrord's own object URLs (BaseUrl) for the
//                          objects this repo's published refs reference; upload: 403
//                          (read-only mirror). The body (at most kLfsBatchBodyLimit) is
//                          parsed on the blocking pool by a streaming parser that stops at
//                          the first malformed entry or the 10,001st object; the
//                          response is built and serialised there too.
//   GET|HEAD objects/<oid> the object's bytes (Range supported) via sendfile(2); an object
//                          the repo references but the store lacks (filtered out of syncs,
//                          or not yet fetched) is fetched from upstream first (pull-through),
//                          verified, kept, then served
//   locks, locks/verify    404 with an LFS error body: this server has no locking, which
//                          git-lfs accepts
//
// A repo's clients only ever get objects its published refs reference, and only bytes the
// blob store has verified. Failures of the mirror (catalog, disk, upstream) are answered
// by HttpErrorFor: a full disk is 503 with Retry-After, not 500.
// Thread-safety: Handle() may run concurrently on any number of connections.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/base_url.h"
#include "daemon/http_exchange.h"
#include "daemon/router.h"
#include "lfs/batch_types.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// Fetches an object a repo references into the blob store, on behalf of a client (the
// pull-through path). On success the object is present; blocks until then.
using LfsPullThrough =
    std::function<Status(std::string_view repo_name, const LfsRefRecord& reference)>;

// Largest batch request body: 10,000 objects (kMaxLfsBatchRequestObjects) of about 100
// bytes each, pretty-printed, fit with room to spare; a git-lfs client sends 100 per batch.
inline constexpr uint64_t kLfsBatchBodyLimit = 4ull << 20;

struct LfsHttpOptions {
  // Where the object hrefs handed to clients point (daemon/base_url.h).
  BaseUrl base_url{BaseUrlOptions{}};
  // How long an href stays valid for the client (sent as expires_in).
  int64_t href_lifetime_seconds = 3600;
};

class LfsHttpHandler {
 public:
  // `catalog`, `store` and the pools must outlive the handler. Catalog lookups run on
  // `blocking`; pull-through downloads, which can take minutes, on `fetches`, so that they
  // never starve the lookups. `pull_through` may be empty (then objects not in the store
  // are 404 with a message saying they are not mirrored yet).
  LfsHttpHandler(Catalog& catalog, BlobStore& store, boost::asio::thread_pool& blocking,
                 boost::asio::thread_pool& fetches, LfsPullThrough pull_through,
                 LfsHttpOptions options = {});

  // True for the paths this handler answers (repo.rest starting with "/info/lfs").
  static bool Handles(const RepoPath& repo);
  // How the server reads a request to `repo` (one this handler Handles): the batch body up
  // to kLfsBatchBodyLimit; no body for anything else (object GETs and locks carry none, and
  // an object PUT is refused with 403 without reading the object).
  static RouteOptions RouteOptionsFor(const RepoPath& repo);

  boost::asio::awaitable<void> Handle(HttpExchange& exchange, const RepoPath& repo);

 private:
  // What the catalog and the store say about one object of a batch request.
  struct BatchLookup {
    std::optional<LfsRefRecord> ref;
    std::optional<LfsObjectRecord> object;
    bool present = false;
  };
  boost::asio::awaitable<void> ServeBatch(HttpExchange& ex, const RepoPath& repo, int64_t repo_id);
  // The batch answer for `request`, given one lookup per requested object (same order);
  // each download action carries `header` (the read token's credentials, or none).
  LfsBatchResponse BatchResponse(const LfsBatchRequest& request,
                                 const std::vector<BatchLookup>& lookups,
                                 const std::string& repo_name, const std::string& href_base,
                                 const std::map<std::string, std::string>& header) const;
  boost::asio::awaitable<void> ServeObject(HttpExchange& ex, const RepoPath& repo, int64_t repo_id,
                                           std::string_view oid);

  Catalog& catalog_;
  BlobStore& store_;
  boost::asio::thread_pool& blocking_;
  boost::asio::thread_pool& fetches_;
  LfsPullThrough pull_through_;
  LfsHttpOptions options_;
};

}  // namespace mirrord
