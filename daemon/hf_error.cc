#include "daemon/hf_error.h"

#include <boost/json.hpp>
#include <utility>

#include "common/log.h"

namespace mirrord {

HfFailure HfFailure::RepoNotFound(std::string message) {
  return {http::status::not_found, std::string(kHfRepoNotFound), std::move(message), ""};
}
HfFailure HfFailure::RevisionNotFound(std::string message) {
  return {http::status::not_found, std::string(kHfRevisionNotFound), std::move(message), ""};
}
HfFailure HfFailure::EntryNotFound(std::string message, std::string commit) {
  return {http::status::not_found, std::string(kHfEntryNotFound), std::move(message),
          std::move(commit)};
}
HfFailure HfFailure::BadRequest(std::string message) {
  return {http::status::bad_request, "", std::move(message), ""};
}
HfFailure HfFailure::Internal(std::string message) {
  return {http::status::internal_server_error, "", std::move(message), ""};
}

HttpResponse HfErrorResponse(const HttpRequest& request, const HfFailure& failure) {
  boost::json::object body;
  body["error"] = failure.message;
  HttpResponse res = MakeResponse(request, failure.status, boost::json::serialize(body),
                                  "application/json; charset=utf-8");
  if (!failure.error_code.empty()) res.set("X-Error-Code", failure.error_code);
  // A header value must stay one printable line whatever the message quotes.
  res.set("X-Error-Message", PrintableExcerpt(failure.message, 200));
  if (!failure.commit.empty()) res.set("X-Repo-Commit", failure.commit);
  return res;
}

}  // namespace mirrord
