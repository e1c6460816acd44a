// HfResolveHandler: file downloads of the Hugging Face–compatible endpoint,
// GET|HEAD /{repo}/resolve/{rev}/{path} and /datasets/{repo}/resolve/{rev}/{path}, answered
// the way huggingface_hub's hf_hub_download and @huggingface/hub's fileDownloadInfo /
// downloadFile expect:
//
//   - 200 (or 206 for a Range, 416 past the end) with the file's bytes, never
//     content-encoded; Content-Length on HEAD too; Accept-Ranges: bytes;
//   - X-Repo-Commit: the commit the revision resolved to;
//   - ETag: for an LFS file its SHA-256 (the LFS oid, quoted as the Hub does), plus
//     X-Linked-Etag and X-Linked-Size (what the Hub sends on its LFS redirects); for other
//     files the git blob id;
//   - Cache-Control immutable for a full commit id, no-cache for branch and tag names;
//   - errors with X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound (404), 400 for
//     a malformed URL or a path that tries to leave the repository.
//
// Only the published state is visible (see PublishedTreeReader). LFS bodies come from the
// blob store with sendfile(2); an object the repo references but the store lacks comes
// through the same pull-through as the LFS server. Other files come from the git object
// database: up to kHfInMemoryGitFileBytes read whole, larger ones streamed from git in
// bounded chunks (hf_git_blob_stream.h). A HEAD answers from the tree entry (the pointer's
// oid and size, the blob's id and size) and a stat of the store: it never opens, reads or
// hashes the file.
// A repeated request is answered from memory on the network thread (hf_answer_cache.h, the
// locator's cache): the revision's commit, the file's entry and, for plain files up to
// kHfCachedBodyBytes, its bytes; an LFS GET then only opens the stored object. Anything not
// cached (and every miss: unknown repo, revision or path) is looked up on `blocking`.
// Thread-safety: Handle() may run concurrently on any number of connections.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/hf_git_blob_stream.h"
#include "daemon/hf_repo_locator.h"
#include "daemon/http_exchange.h"
#include "daemon/lfs_http_handler.h"
#include "storage/blob_store.h"
#include "storage/catalog.h"

namespace mirrord {

// A GET of a plain git file up to this size holds it in memory while it is sent; larger ones
// are streamed (the Hub itself keeps files over 10 MB in LFS, so these are rare).
inline constexpr uint64_t kHfInMemoryGitFileBytes = 1ull << 20;

class HfResolveHandler {
 public:
  // Everything passed must outlive the handler. Uncached lookups run on `blocking`, pull-through
  // downloads on `fetches`; `pull_through` may be empty (objects missing from the store
  // are then 404). `git_home` is HOME for the git children that stream large plain files.
  HfResolveHandler(HfRepoLocator& locator, Catalog& catalog, BlobStore& store,
                   boost::asio::thread_pool& blocking, boost::asio::thread_pool& fetches,
                   LfsPullThrough pull_through, std::filesystem::path git_home);

  boost::asio::awaitable<void> Handle(HttpExchange& exchange);

 private:
  HfRepoLocator& locator_;
  Catalog& catalog_;
  BlobStore& store_;
  boost::asio::thread_pool& blocking_;
  boost::asio::thread_pool& fetches_;
  LfsPullThrough pull_through_;
  std::filesystem::path git_home_;
  GitBlobStreams git_streams_;
};

}  // namespace mirrord
