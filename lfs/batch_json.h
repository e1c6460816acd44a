// JSON forms of the Git LFS Batch API messages of lfs/batch_types.h
// (https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md), both directions:
// requests are parsed by mirrord's LFS server and written by its upstream client; responses
// are parsed by the upstream client and written by the server.
//
// Parsers take untrusted bodies: they never throw (Boost.JSON's error_code forms), ignore
// unknown fields, treat a JSON null like an absent field, and fail with InvalidArgument
// naming the offending field ("objects[3].size: expected a non-negative integer"). The
// serialisers write what the matching parser reads back to an equal struct, omitting
// optional members that are empty. Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "common/status.h"
#include "lfs/batch_types.h"

namespace mirrord {

// The most objects the server accepts in one batch request before refusing it as malformed.
// Clients send at most kMaxLfsBatchObjects (100) per request; this cap is only a bound on
// the work and memory one request can cause, generous so that an unusual client still works.
inline constexpr size_t kMaxLfsBatchRequestObjects = 10000;

// The largest object size the wire formats accept: git-lfs reads sizes as int64, and the
// store addresses bytes with off_t.
inline constexpr uint64_t kMaxLfsObjectSize =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Parses what a git-lfs client POSTs to .../info/lfs/objects/batch. On success `operation`
// is "download" or "upload", every oid passes IsValidLfsOid, every size is an integer in
// [0, kMaxLfsObjectSize], there are at most kMaxLfsBatchRequestObjects objects, `ref` is the
// ref's name ("" when absent) and `hash_algo` is "" or "sha256".
// Failure: InvalidArgument naming the field for anything malformed (not JSON, missing or
// unknown operation, objects missing or not an array, a bad oid or size, too many objects;
// the spec's 422); FailedPrecondition when hash_algo names an algorithm other than sha256
// (the spec's 409).
Result<LfsBatchRequest> ParseLfsBatchRequest(std::string_view body);

// The request body mirrord sends upstream. Empty `transfers`, `ref` and `hash_algo` are
// omitted; nothing is validated (the caller builds the request from verified pointers).
std::string SerializeLfsBatchRequest(const LfsBatchRequest& request);

// Parses an upstream's (GitHub's, Hugging Face's, any spec server's) 200 answer. Unknown
// fields and actions other than `download` (upload, verify) are ignored; an object may carry
// `error` instead of (or besides) `actions`. On success every oid passes IsValidLfsOid,
// sizes are in [0, kMaxLfsObjectSize], `expires_in` is an integer and `expires_at` is kept
// as sent (check it with ParseRfc3339 when using it).
// Failure: InvalidArgument naming the field (not JSON, objects missing or not an array, a
// bad oid, size, header value, href or error code).
Result<LfsBatchResponse> ParseLfsBatchResponse(std::string_view body);

// The server's 200 answer. Writes `authenticated` only when true, `header`, `expires_in`,
// `expires_at`, `transfer` and `hash_algo` only when set, `actions` only with a download and
// `error` only when present.
std::string SerializeLfsBatchResponse(const LfsBatchResponse& response);

// The body of a whole-request error (4xx/5xx): {"message": ..., "request_id": ...,
// "documentation_url": ...}, the last two only when non-empty.
std::string SerializeLfsErrorBody(const LfsErrorBody& body);

// Parses an upstream's error body. Missing fields stay empty (an unrelated JSON object gives
// an all-empty body: callers fall back to the HTTP status). InvalidArgument when the body is
// not a JSON object or a field is not a string.
Result<LfsErrorBody> ParseLfsErrorBody(std::string_view body);

// Parses an RFC 3339 date-time ("2016-11-10T15:29:07Z", "2024-02-29t23:59:59.123+05:30",
// 'T'/'t' and 'Z'/'z' as the RFC allows) into Unix seconds; fractional seconds are dropped
// (rounded toward the past), a leap second :60 counts as the next minute's :00.
// Failure: InvalidArgument on any other syntax or an out-of-range field (month 13, Feb 30,
// hour 24, offset minute 60).
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace mirrord
