// The Git LFS Batch API's messages
// (https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md), shared by the upstream
// client (mirrord asking GitHub/Hugging Face) and mirrord's own LFS server (git-lfs clients
// asking mirrord). Parsing and serialising live in lfs/batch_json.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mirrord {

inline constexpr const char* kLfsMediaType = "application/vnd.git-lfs+json";
// At most this many objects per batch request (the spec's recommendation, and GitHub's limit).
inline constexpr size_t kMaxLfsBatchObjects = 100;

struct LfsBatchObjectRequest {
  std::string oid;
  uint64_t size = 0;
};

struct LfsBatchRequest {
  std::string operation;               // "download" or "upload"
  std::vector<std::string> transfers;  // empty means ["basic"]
  std::string ref;                     // "" when absent; else e.g. "refs/heads/main"
  std::vector<LfsBatchObjectRequest> objects;
  std::string hash_algo;  // "" when absent (means sha256)
};

// One action (download/upload/verify) of an object.
struct LfsAction {
  std::string href;
  std::map<std::string, std::string> header;
  std::optional<int64_t> expires_in;  // seconds, as sent
  std::string expires_at;             // RFC 3339 as sent, "" when absent
};

struct LfsObjectError {
  int code = 0;  // HTTP-like: 404 not found, 410 gone, 422 validation error, ...
  std::string message;
};

struct LfsBatchObjectResponse {
  std::string oid;
  uint64_t size = 0;
  bool authenticated = false;
  std::optional<LfsAction> download;  // only download actions matter to a mirror
  std::optional<LfsObjectError> error;
};

struct LfsBatchResponse {
  std::string transfer;  // "" when absent (means "basic")
  std::vector<LfsBatchObjectResponse> objects;
  std::string hash_algo;
};

// A whole-request error body ({"message": ..., "request_id": ..., "documentation_url": ...}).
struct LfsErrorBody {
  std::string message;
  std::string request_id;
  std::string documentation_url;
};

}  // namespace mirrord
