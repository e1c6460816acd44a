// Fuzz target for the Batch API's JSON parsers: ParseLfsBatchRequest (what git-lfs clients
// send mirrord), ParseLfsBatchResponse and ParseLfsErrorBody (what upstreams answer), and
// ParseRfc3339 (expires_at). Invariants checked on every input:
//  - the streaming request parser never accepts a body that is not valid JSON;
//  - no parser crashes, throws or reports OK with out-of-contract values (bad oids, sizes
//    above kMaxLfsObjectSize, more than kMaxLfsBatchRequestObjects request objects);
//  - whatever parsed serialises to JSON that parses again, and serialising that gives the
//    same text; the serialisers write every set member and omit only defaults, so equal
//    texts mean equal values: serialise -> parse is the identity on parsed values;
//  - an accepted RFC 3339 text is at least "YYYY-MM-DDTHH:MM:SSZ" long.
// Built with -fsanitize=fuzzer under clang (MIRRORD_FUZZ=ON); otherwise fuzz_replay.cc
// drives it over the seed corpus plus seeded random inputs as a ctest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "lfs/batch_json.h"
#include "common/lfs_pointer.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckRequest(const mirrord::LfsBatchRequest& request) {
  Check(request.operation == "download" || request.operation == "upload");
  Check(request.hash_algo.empty() || request.hash_algo == "sha256");
  Check(request.objects.size() <= mirrord::kMaxLfsBatchRequestObjects);
  for (const auto& object : request.objects) {
    Check(mirrord::IsValidLfsOid(object.oid));
    Check(object.size <= mirrord::kMaxLfsObjectSize);
  }
}

void CheckResponse(const mirrord::LfsBatchResponse& response) {
  for (const auto& object : response.objects) {
    Check(mirrord::IsValidLfsOid(object.oid));
    Check(object.size <= mirrord::kMaxLfsObjectSize);
    if (object.download) Check(!object.download->href.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto parsed_request = mirrord::ParseLfsBatchRequest(input);
  {
    // The request parser streams (no document tree): it must never accept what a full JSON
    // parse with the same depth limit rejects.
    boost::json::parse_options options;
    options.max_depth = 64;
    boost::system::error_code ec;
    (void)boost::json::parse(boost::json::string_view(input.data(), input.size()), ec, {},
                             options);
    if (ec) Check(!parsed_request.ok());
  }
  if (auto& request = parsed_request; request.ok()) {
    CheckRequest(*request);
    std::string json = mirrord::SerializeLfsBatchRequest(*request);
    auto again = mirrord::ParseLfsBatchRequest(json);
    Check(again.ok());
    CheckRequest(*again);
    Check(mirrord::SerializeLfsBatchRequest(*again) == json);
  }

  if (auto response = mirrord::ParseLfsBatchResponse(input); response.ok()) {
    CheckResponse(*response);
    std::string json = mirrord::SerializeLfsBatchResponse(*response);
    auto again = mirrord::ParseLfsBatchResponse(json);
    Check(again.ok());
    CheckResponse(*again);
    Check(mirrord::SerializeLfsBatchResponse(*again) == json);
    for (const auto& object : again->objects) {
      if (object.download && !object.download->expires_at.empty()) {
        (void)mirrord::ParseRfc3339(object.download->expires_at);
      }
    }
  }

  if (auto body = mirrord::ParseLfsErrorBody(input); body.ok()) {
    std::string json = mirrord::SerializeLfsErrorBody(*body);
    auto again = mirrord::ParseLfsErrorBody(json);
    Check(again.ok() && again->message == body->message && again->request_id == body->request_id &&
          again->documentation_url == body->documentation_url);
  }

  if (mirrord::ParseRfc3339(input).ok()) Check(input.size() >= 20);
  return 0;
}
