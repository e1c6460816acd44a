#include "http/curl_status.h"

#include <string>

namespace mirrord {

Status CurlStatus(CURLcode code, std::string_view what, std::string_view detail) {
  if (code == CURLE_OK) return Status::Ok();
  std::string message =
      std::string(what) + ": " + std::string(detail.empty() ? curl_easy_strerror(code) : detail);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceeded(std::move(message));
    case CURLE_OUT_OF_MEMORY:
      return ResourceExhausted(std::move(message));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return InvalidArgument(std::move(message));
    case CURLE_ABORTED_BY_CALLBACK:
      return Cancelled(std::move(message));
    default:
      return Unavailable(std::move(message));
  }
}

}  // namespace mirrord
