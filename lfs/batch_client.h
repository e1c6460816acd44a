// LfsBatchClient: mirrord asking an upstream (GitHub, Hugging Face, any server speaking the
// Git LFS Batch API) where to download LFS objects from.
//
// It POSTs `<endpoint>/objects/batch` (operation "download", transfer "basic", the ref when
// known, at most 100 objects per request) with the same credentials as the git transport,
// retries what is worth retrying (429/503 after Retry-After, other 5xx and connection
// failures with exponential backoff and full jitter), and turns every object of the answer
// into either a download action with an absolute expiry or a per-object error.
// Thread-safety: thread-safe; concurrent requests use separate connections.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lfs_pointer.h"
#include "common/status.h"
#include "http/backoff.h"
#include "http/retry_wait.h"

namespace mirrord {

// Where an object can be downloaded from, as the upstream said.
struct LfsDownloadAction {
  std::string href;
  std::map<std::string, std::string> header;  // sent with the GET (may hold a credential)
  // When the href stops working: the earlier of expires_at and (time of the answer +
  // expires_in); nullopt when the upstream gave neither.
  std::optional<std::chrono::system_clock::time_point> expires;
  // The href is on the endpoint's origin and the action brings no Authorization header of
  // its own, so the upstream token goes with the GET (as git-lfs does for same-host hrefs).
  bool send_token = false;

  // True when the href has expired at `now` or will within `margin`.
  bool ExpiresWithin(std::chrono::system_clock::time_point now, std::chrono::seconds margin) const {
    return expires.has_value() && now + margin >= *expires;
  }
};

// The upstream's answer for one object.
struct LfsObjectSource {
  LfsPointer object;  // as requested
  // OK with `action` set, or the per-object error: NotFound (404, 410 gone), InvalidArgument
  // (422, or an answer the upstream should not give, e.g. another size), Unavailable
  // (anything else, including an object missing from the answer).
  Status status;
  std::optional<LfsDownloadAction> action;
};

struct LfsBatchClientOptions {
  // The upstream's token; empty for anonymous. Sent as HTTP Basic "x-access-token:<token>",
  // like the git transport; never logged; never sent to another origin after a redirect.
  std::string token;
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds request_timeout{120};  // one batch request, whole exchange
  std::chrono::seconds stall_timeout{60};     // no byte for this long: abandon the attempt
  int max_attempts = 6;                       // per request, the first one included
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // Retry-After is honoured up to this long; a longer request is waited out only this long.
  std::chrono::seconds max_retry_after{300};
  long max_redirects = 5;
  const std::atomic<bool>* cancel = nullptr;  // stops waits and transfers within 100 ms
  RetryTiming timing;                         // clock, sleeper and jitter seed (tests)
  std::string user_agent = "mirrord git-lfs/3 (mirrord)";
};

class LfsBatchClient {
 public:
  // The LFS endpoint of a repository clone URL, as git-lfs derives it: the URL with ".git"
  // appended when missing, then "/info/lfs" (https://github.com/O/R.git/info/lfs,
  // https://huggingface.co/O/R.git/info/lfs). A trailing '/' is dropped first.
  static std::string EndpointForCloneUrl(std::string_view clone_url);

  // `endpoint` is the LFS endpoint (see EndpointForCloneUrl).
  LfsBatchClient(std::string endpoint, LfsBatchClientOptions options);
  LfsBatchClient(const LfsBatchClient&) = delete;
  LfsBatchClient& operator=(const LfsBatchClient&) = delete;

  const std::string& endpoint() const { return endpoint_; }
  const LfsBatchClientOptions& options() const { return options_; }

  // Asks for download actions for `objects` (split into requests of at most 100), naming
  // `ref` (e.g. "refs/heads/main"; "" to omit it). On success the result has one entry per
  // requested object, in order, each with an action or its own error (per-object errors are
  // not retried). Failure of a whole request: PermissionDenied (401/403) or NotFound (404)
  // with the upstream's message; ResourceExhausted/Unavailable when retries ran out (429,
  // 5xx, connection errors); InvalidArgument for an answer that is not a batch response or
  // another 4xx; Cancelled. Objects of requests that succeeded before a failure are lost
  // with it (the caller asks again).
  Result<std::vector<LfsObjectSource>> RequestDownload(const std::vector<LfsPointer>& objects,
                                                       std::string_view ref = "");

  // Whole-request attempts made so far (each POST counts; for tests and metrics).
  int attempts() const { return attempts_.load(); }

 private:
  struct Reply;
  Result<std::vector<LfsObjectSource>> RequestChunk(const std::vector<LfsPointer>& objects,
                                                    std::string_view ref);
  Status Post(const std::string& body, Reply* reply);

  const std::string endpoint_;
  const LfsBatchClientOptions options_;
  Backoff backoff_;
  std::atomic<int> attempts_{0};
};

}  // namespace mirrord
