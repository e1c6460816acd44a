// Fetching an upstream into a mirror's staging area.
//
// The fetch runs in the mirror's staging repository (mirror_staging.h): the objects land
// outside the object database upload-pack serves, so nothing fetched can be served (not even
// by SHA over protocol v2) until PublishRefs (ref_publisher.h) moves it in with the refs.
// A configured refspec "+refs/heads/*:refs/heads/*" (or just "refs/heads/*") is fetched as
// "+refs/heads/*:refs/mirrord/staging/heads/*" there. Negotiation offers the published tips
// and what earlier unpublished fetches staged as haves, so only what is new is downloaded;
// after such a fetch the staging area is compacted to what the new refs need
// (CompactStagedObjects), so objects the upstream rewrote away are never published. Staging refs always follow the upstream, force pushes included, and staging
// refs the upstream no longer has are pruned. http(s) upstreams go through the libcurl
// transport (curl_transport.h); file:// URLs and local paths through libgit2's own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "git/ref_publisher.h"

namespace mirrord {

struct FetchProgress {
  uint64_t received_objects = 0;
  uint64_t total_objects = 0;
  uint64_t indexed_objects = 0;
  uint64_t received_bytes = 0;
};

struct FetchOptions {
  std::string url;                    // http(s)://..., file://... or a local path
  std::vector<std::string> refspecs;  // "+refs/heads/*:refs/heads/*", "refs/tags/*", ...
  std::string token;                  // empty: anonymous; never logged or put in errors
  std::chrono::seconds stall_timeout{60};
  std::chrono::seconds connect_timeout{30};
  // Called on the fetching thread as objects arrive; keep it cheap.
  std::function<void(const FetchProgress&)> on_progress;
  // When set to true (from any thread) the fetch stops within about 100 ms with Cancelled.
  const std::atomic<bool>* cancel = nullptr;
};

struct FetchResult {
  // What to publish, sorted by name: staging name with "refs/mirrord/staging/" replaced by
  // "refs/"; peeled set for annotated tags.
  std::vector<PublishedRef> refs;
  // The published name of the upstream's default branch ("refs/heads/main"); empty when the
  // upstream does not say or that branch is not among `refs`.
  std::string head;
  uint64_t received_bytes = 0;
  uint64_t received_objects = 0;
  uint64_t total_objects = 0;
};

// The staging form of one configured refspec: "+<src>:refs/mirrord/staging/<dst minus refs/>".
// InvalidArgument for negative refspecs ("^..."), sources or destinations outside refs/,
// destinations under refs/mirrord/, mismatched '*' and anything libgit2 cannot parse.
Result<std::string> StagingRefspec(std::string_view refspec);

// Fetches `options.url` into the staging repository of the bare mirror at `dir` (which must
// exist: MirrorRepository::CreateOrOpen; the staging repository is created when missing).
// On success every staging ref equals the upstream's advertised ref it maps to, stale
// staging refs are gone, and the result lists the refs to publish; the mirror itself (its
// refs and objects) is untouched. On failure staging refs and objects may be partly updated
// (harmless: nothing is published or servable) and the Status says why: NotFound (no repository at the
// URL), PermissionDenied (401/403), DeadlineExceeded (stall or connect timeout), Cancelled,
// Unavailable (network, HTTP 5xx), DataLoss (a corrupt pack), InvalidArgument (refspecs).
// Error messages never contain the token or URL credentials.
// Thread-safety: runs entirely on the calling thread; concurrent fetches into different
// mirrors are fine, into the same mirror are not.
Result<FetchResult> FetchMirror(const std::filesystem::path& dir, const FetchOptions& options);

// The refs `options.url` advertises, mapped by `options.refspecs` to the names they would be
// published under (peeled left empty), sorted by name: what a poll compares with the
// published refs to decide whether a sync is needed. One ref-advertisement request; no
// negotiation, no pack, no local repository. Errors as FetchMirror's.
Result<std::vector<PublishedRef>> ListUpstreamRefs(const FetchOptions& options);

}  // namespace mirrord
