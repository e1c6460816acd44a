// Plain git files of any size as download bodies for the Hugging Face–compatible endpoint:
// the blob's bytes come from `git cat-file blob OID` run on the bare mirror and are passed
// through to the client in bounded chunks (one buffer per download, whatever the blob's
// size; the blob never sits whole in mirrord's memory). libgit2 can only read a packed
// object whole, which is why git's own streaming reader does this.
//
// The answer has Content-Length (the blob's size, known from the tree lookup) and honours
// Range: 206 with Content-Range (the bytes before the range are read from git and
// dropped, so a resume costs git's work but no memory), 416 past the end. A git that ends
// early or fails after the header went out makes the connection close short, never a
// complete-looking wrong body. Concurrent downloads are capped (GitBlobStreams): beyond the
// cap a request is answered 503 with Retry-After.
// Thread-safety: GitBlobStreams is thread-safe; SendGitBlob runs on the exchange's strand.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <string>

#include "daemon/http_exchange.h"
#include "daemon/ranged_response.h"

namespace mirrord {

// At most this many plain-file downloads run a git child at once (per daemon).
inline constexpr int kHfMaxGitBlobStreams = 32;
// Bytes read from git per step (and the most one download holds in memory).
inline constexpr size_t kHfGitBlobChunk = 256 << 10;

struct GitBlobSource {
  std::filesystem::path repo_dir;  // the bare mirror
  std::string oid;                 // the blob's id, 40 hex digits
  uint64_t size = 0;               // the blob's size, from the object header
  std::filesystem::path git_home;  // HOME for git; empty: /nonexistent
  std::string git_binary = "git";
};

// The cap on concurrent git children for blob downloads.
class GitBlobStreams {
 public:
  explicit GitBlobStreams(int limit = kHfMaxGitBlobStreams) : limit_(limit) {}
  // Takes a slot; false when all are in use.
  bool TryAcquire();
  void Release();
  int in_use() const { return in_use_.load(); }

 private:
  const int limit_;
  std::atomic<int> in_use_{0};
};

// Sends the blob as `header`'s body (the caller's fields: ETag, X-Repo-Commit, caching),
// honouring the request's Range; status, Content-Length, Content-Range and Accept-Ranges
// are set here. `busy` is answered when no slot of `streams` is free; `failed` when git
// cannot be started or fails before any byte went out. Counts as the answer.
boost::asio::awaitable<void> SendGitBlob(HttpExchange& ex, http::response<http::empty_body> header,
                                         const GitBlobSource& source, GitBlobStreams& streams,
                                         const RangeErrorFactory& range_error,
                                         const std::function<HttpResponse()>& busy,
                                         const std::function<HttpResponse()>& failed);

}  // namespace mirrord
