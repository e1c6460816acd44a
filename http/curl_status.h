// The one translation of a libcurl transfer outcome (CURLcode) into a Status:
//   CURLE_OPERATION_TIMEDOUT                 DeadlineExceeded
//   CURLE_OUT_OF_MEMORY                      ResourceExhausted
//   CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_TOO_MANY_REDIRECTS,
//   CURLE_BAD_FUNCTION_ARGUMENT              InvalidArgument (retrying cannot help)
//   CURLE_ABORTED_BY_CALLBACK                Cancelled
//   anything else (DNS, connect, TLS, a connection cut mid-body, ...)
//                                            Unavailable (worth retrying)
// Thread-safety: pure functions.
#pragma once

#include <curl/curl.h>

#include <string_view>

#include "common/status.h"

namespace mirrord {

// `what` names the transfer ("fetch from https://..."), `detail` is curl's message (the
// error buffer, else curl_easy_strerror). CURLE_OK gives OK.
Status CurlStatus(CURLcode code, std::string_view what, std::string_view detail);

}  // namespace mirrord
