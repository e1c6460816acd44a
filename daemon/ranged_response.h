// Ranged answers to GET/HEAD for a body of known size: one `Range` request header read with
// SelectHttpRange (lfs/http_range.h) and answered with 200 (whole), 206 (Content-Range) or
// 416 (Content-Range: bytes */size). Shared by the LFS object server and the Hugging Face
// resolve endpoint, so both speak Range the same way.
// Thread-safety: free functions; each runs on the exchange's strand.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "daemon/http_exchange.h"

namespace mirrord {

// Builds the 416 answer's body and content type (the caller's error format); the helper
// adds Content-Range.
using RangeErrorFactory = std::function<HttpResponse()>;

// Sends `size` bytes of the open file `fd` (from offset 0) as `header`'s body, honouring the
// request's Range, with sendfile(2). `header` carries the caller's fields (Content-Type,
// ETag, caching); its status and Content-Length/Content-Range are set here, and
// Accept-Ranges: bytes is added. The caller keeps `fd` open until this completes. Counts as
// the answer.
boost::asio::awaitable<void> SendRangedFile(HttpExchange& ex,
                                            http::response<http::empty_body> header, int fd,
                                            uint64_t size, const RangeErrorFactory& range_error);

// The answer to a HEAD for a body of `size` bytes, from the size alone (nothing is opened or
// read): 200, 206 or 416 with the headers a GET would carry. Counts as the answer.
boost::asio::awaitable<void> SendRangedHead(HttpExchange& ex,
                                            http::response<http::empty_body> header, uint64_t size,
                                            const RangeErrorFactory& range_error);

// The same for a body held in memory.
boost::asio::awaitable<void> SendRangedBytes(HttpExchange& ex,
                                             http::response<http::empty_body> header,
                                             std::string body,
                                             const RangeErrorFactory& range_error);

}  // namespace mirrord
