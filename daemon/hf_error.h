// Error answers of the Hugging Face–compatible endpoint, shaped as the Hub's: the status, a
// JSON body {"error": message}, and the X-Error-Code / X-Error-Message headers that
// huggingface_hub (hf_raise_for_status) and @huggingface/hub (createApiError,
// fileDownloadInfo's EntryNotFound check) act on; X-Repo-Commit where the revision was known.
// Thread-safety: value types and free functions.
#pragma once

#include <string>

#include "daemon/http_exchange.h"

namespace mirrord {

inline constexpr std::string_view kHfRepoNotFound = "RepoNotFound";
inline constexpr std::string_view kHfRevisionNotFound = "RevisionNotFound";
inline constexpr std::string_view kHfEntryNotFound = "EntryNotFound";

struct HfFailure {
  http::status status = http::status::internal_server_error;
  std::string error_code;  // one of the kHf* codes, or "" (no X-Error-Code header)
  std::string message;
  std::string commit;  // sent as X-Repo-Commit when not empty

  static HfFailure RepoNotFound(std::string message);
  static HfFailure RevisionNotFound(std::string message);
  static HfFailure EntryNotFound(std::string message, std::string commit);
  static HfFailure BadRequest(std::string message);
  static HfFailure Internal(std::string message);
};

// The answer for `failure` (for HEAD the server drops the body, the headers stay).
HttpResponse HfErrorResponse(const HttpRequest& request, const HfFailure& failure);

}  // namespace mirrord
