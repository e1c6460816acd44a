// HTTP byte ranges (RFC 9110 §14) for one object of known size: the server side reads a
// `Range` request header and writes `Content-Range`; the client side checks the
// `Content-Range` of a 206 (or 416) answer. Ranges here are half-open [begin, end), like
// the blob store's, while the headers speak inclusive last-byte positions.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mirrord {

// How to answer a GET with a Range header.
struct HttpRangeSelection {
  enum class Kind {
    kWhole,          // 200 with the whole object (no usable Range header)
    kPartial,        // 206 with [begin, end) and Content-Range
    kUnsatisfiable,  // 416 with Content-Range: bytes */size
  };
  Kind kind = Kind::kWhole;
  uint64_t begin = 0;  // [begin, end) when kPartial; 0 otherwise
  uint64_t end = 0;

  friend bool operator==(const HttpRangeSelection&, const HttpRangeSelection&) = default;
};

// Chooses the answer to a `Range` header value (`header` is "" when the request had none)
// for an object of `size` bytes. Never fails: per RFC 9110 a server may ignore any Range
// header, and these are the choices made:
//  - one range `bytes=a-b`, `bytes=a-` or `bytes=-n` (unit case-insensitive, OWS around
//    the list allowed): kPartial clamped to the object (b past the end means the end;
//    n larger than the object means all of it), or kUnsatisfiable when a >= size or n == 0;
//  - an empty object with a satisfiable suffix range (`bytes=-5`): kWhole (there is no
//    byte to name in a Content-Range, so the empty body is sent with 200);
//  - several ranges (`bytes=0-1,5-6`): kWhole; a multipart/byteranges answer is not worth
//    its complexity for LFS clients, which ask for one range;
//  - no header, another unit, or invalid syntax (b < a, signs, spaces around '=' or '-',
//    garbage): kWhole.
// A position beyond 2^64 - 1 is read as 2^64 - 1: it lies past the end of any object.
HttpRangeSelection SelectHttpRange(std::string_view header, uint64_t size);

// "bytes <begin>-<end - 1>/<total>" for a kPartial answer; requires begin < end <= total.
std::string ContentRangeHeader(uint64_t begin, uint64_t end, uint64_t total);

// "bytes */<total>" for a 416 answer.
std::string UnsatisfiedContentRangeHeader(uint64_t total);

// A parsed `Content-Range` response header.
struct ContentRange {
  bool unsatisfied = false;  // "bytes */total": no range, only the length (416)
  uint64_t begin = 0;        // [begin, end) of the bytes sent; 0 when unsatisfied
  uint64_t end = 0;
  std::optional<uint64_t> total;  // nullopt for "bytes a-b/*" (length unknown)

  friend bool operator==(const ContentRange&, const ContentRange&) = default;
};

// Parses a `Content-Range` value: "bytes a-b/total", "bytes a-b/*" or "bytes */total"
// (unit case-insensitive, surrounding OWS ignored). On success begin < end and, when the
// total is known, end <= total. InvalidArgument for anything else (another unit, b < a,
// b >= total, "*/*", numbers beyond 2^64 - 1, trailing characters).
Result<ContentRange> ParseContentRange(std::string_view value);

}  // namespace mirrord
