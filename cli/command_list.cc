// mirrorctl list
#include <vector>

#include "cli/commands.h"
#include "common/api_json.h"

namespace mirrord {

std::string FormatRepoTable(const std::vector<RepoStatus>& repos, int64_t now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "STATE", "LAST-SUCCESS", "LAST-FAILURE", "REFS", "UPSTREAM"});
  for (const RepoStatus& r : repos) {
    std::string upstream = r.url.empty() ? r.upstream : r.url;
    rows.push_back({r.name, r.state, FormatAge(r.last_success_at, now),
                    FormatAge(r.last_failure_at, now), std::to_string(r.ref_count), upstream});
  }
  return FormatTable(rows);
}

int RunListCommand(ApiClient& client, CommandIo& io) {
  Result<ApiReply> reply = client.Get("/api/v1/repos");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "list", io);
  Result<boost::json::value> v = ParseJson(reply->body);
  const boost::json::value* list = nullptr;
  if (v.ok() && v->is_object()) list = v->as_object().if_contains("repos");
  if (list == nullptr || !list->is_array()) {
    io.err << "mirrorctl: list: mirrord's answer has no \"repos\" array\n";
    return kExitFailed;
  }
  std::vector<RepoStatus> repos;
  for (const boost::json::value& item : list->as_array()) {
    Result<RepoStatus> r = RepoStatusFromJson(item);
    if (!r.ok()) {
      io.err << "mirrorctl: list: unreadable repo in mirrord's answer: " << r.error().message()
             << "\n";
      return kExitFailed;
    }
    repos.push_back(std::move(*r));
  }
  if (io.json) {
    // Re-encoded from the decoded values: the fields are exactly those README documents.
    boost::json::array out;
    for (const RepoStatus& r : repos) out.push_back(boost::json::value_from(r));
    return PrintJson(io, boost::json::object{{"repos", std::move(out)}});
  }
  io.out << FormatRepoTable(repos, ToUnixSeconds(io.clock.Now()));
  return kExitOk;
}

}  // namespace mirrord
