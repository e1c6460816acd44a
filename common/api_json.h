// JSON forms of the admin API's data (common/api_types.h), shared by mirrord's admin API
// and mirrorctl. Field names are exactly the struct members (snake_case). Encoding writes
// every field (an absent optional run is null); decoding ignores unknown fields, treats a
// missing or null field as its default, and fails on a field of the wrong type.
//
// Both the Boost.JSON customisation points (boost::json::value_from(x) and
// boost::json::try_value_to<T>(v)) and Status-returning helpers are provided; use the
// helpers where a message naming the bad field matters. Nothing here throws except
// std::bad_alloc (and boost::json::value_to<T>, which is Boost's throwing form: avoid it).
#pragma once

#include <boost/json/conversion.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/api_types.h"
#include "common/status.h"

namespace mirrord {

void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const RepoSpec& v);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const SyncProgress& v);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const SyncRunView& v);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const RepoStatus& v);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const QueueView& v);
Result<QueueView> QueueViewFromJson(const boost::json::value& jv);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const BuildRunView& v);
Result<BuildRunView> BuildRunViewFromJson(const boost::json::value& jv);
void tag_invoke(const boost::json::value_from_tag&, boost::json::value& jv, const PushRunView& v);
Result<PushRunView> PushRunViewFromJson(const boost::json::value& jv);

boost::json::result<RepoSpec> tag_invoke(const boost::json::try_value_to_tag<RepoSpec>&,
                                         const boost::json::value& jv);
boost::json::result<SyncProgress> tag_invoke(const boost::json::try_value_to_tag<SyncProgress>&,
                                             const boost::json::value& jv);
boost::json::result<SyncRunView> tag_invoke(const boost::json::try_value_to_tag<SyncRunView>&,
                                            const boost::json::value& jv);
boost::json::result<RepoStatus> tag_invoke(const boost::json::try_value_to_tag<RepoStatus>&,
                                           const boost::json::value& jv);

// Decoders with messages that name the field, e.g. "progress.received_bytes: expected a
// non-negative integer". InvalidArgument on any mismatch.
Result<RepoSpec> RepoSpecFromJson(const boost::json::value& jv);
Result<SyncProgress> SyncProgressFromJson(const boost::json::value& jv);
Result<SyncRunView> SyncRunViewFromJson(const boost::json::value& jv);
Result<RepoStatus> RepoStatusFromJson(const boost::json::value& jv);

// Parses one JSON document (the whole of `text`); InvalidArgument naming the error and
// its offset when it is not valid JSON.
Result<boost::json::value> ParseJson(std::string_view text);

// The admin API's error body: {"error": {"code": "<StatusCodeName>", "message": "..."}}.
std::string ErrorJson(const Status& status);

// Decodes an error body into a non-OK Status with the code named in it (kInternal when the
// code is not a StatusCode name, e.g. "Unauthenticated"). nullopt when `jv` is not an
// error body.
std::optional<Status> StatusFromErrorJson(const boost::json::value& jv);

// Sets *out to the StatusCode whose StatusCodeName is `name`; false when there is none.
bool StatusCodeFromName(std::string_view name, StatusCode* out);

}  // namespace mirrord
