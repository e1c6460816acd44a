// mirrorctl remove NAME [--yes] [--purge]
#include <cctype>
#include <istream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

// What is about to be deleted, for the question: "12 refs, 3 LFS objects (4.2 GiB)".
std::string WhatGoes(const RepoStatus& repo) {
  std::string s = std::to_string(repo.ref_count) + " refs";
  if (repo.lfs_objects > 0) {
    s += ", " + std::to_string(repo.lfs_objects) + " LFS objects (" +
         FormatBytes(repo.lfs_logical_bytes) + ")";
  }
  return s;
}

}  // namespace

bool IsYes(std::string_view answer) {
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.front()))) {
    answer.remove_prefix(1);
  }
  while (!answer.empty() && std::isspace(static_cast<unsigned char>(answer.back()))) {
    answer.remove_suffix(1);
  }
  std::string lower;
  for (char c : answer) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "y" || lower == "yes";
}

std::optional<int> RefuseUnconfirmableRemove(const RemoveArgs& args, CommandIo& io) {
  Result<std::string> name = ValidateRepoName(args.name);
  if (!name.ok()) {
    io.err << "mirrorctl: " << name.error().message() << "\n";
    return kExitUsage;
  }
  if (!args.yes && (io.in == nullptr || !io.in_is_tty)) {
    io.err << "mirrorctl: remove deletes the mirror of " << *name
           << "; without a terminal to confirm on, give --yes\n";
    return kExitUsage;
  }
  return std::nullopt;
}

int RunRemoveCommand(ApiClient& client, const RemoveArgs& args, CommandIo& io) {
  if (std::optional<int> refused = RefuseUnconfirmableRemove(args, io)) return *refused;
  Result<std::string> name = ValidateRepoName(args.name);
  if (!name.ok()) return kExitUsage;  // reported above
  if (!args.yes) {
    Result<ApiReply> reply = client.Get(RepoApiPath(*name));
    if (!reply.ok()) return ReportUnreachable(reply.error(), io);
    if (!reply->ok()) return ReportApiError(*reply, "cannot remove " + *name, io);
    std::string what = "its mirror";
    if (Result<boost::json::value> v = ParseJson(reply->body); v.ok()) {
      if (Result<RepoStatus> repo = RepoStatusFromJson(*v); repo.ok()) {
        what += " (" + WhatGoes(*repo) + ")";
      }
    }
    io.err << "Remove " << *name << " and delete " << what
           << (args.purge ? ", freeing the LFS objects no other repo or image uses," : "")
           << "? Clients can no longer clone it. [y/N] " << std::flush;
    std::string answer;
    if (!std::getline(*io.in, answer) || !IsYes(answer)) {
      io.err << "mirrorctl: nothing removed\n";
      return kExitFailed;
    }
  }
  if (args.purge) {
    // Removes the repo and frees its share of the LFS store at once (daemon/gc_api.h).
    Result<ApiReply> reply = client.Post("/api/v1/gc/purge?repo=" + *name, "");
    if (!reply.ok()) return ReportUnreachable(reply.error(), io);
    if (!reply->ok()) return ReportApiError(*reply, "cannot remove " + *name, io);
    Result<boost::json::value> answer = ParseJson(reply->body);
    if (!answer.ok()) return ReportError(answer.status(), "remove: mirrord's answer", io);
    if (io.json) {
      return PrintJson(io,
                       boost::json::object{{"name", *name}, {"removed", true}, {"purge", *answer}});
    }
    io.out << FormatGcOutcome(*answer);
    return kExitOk;
  }
  Result<ApiReply> reply = client.Delete(RepoApiPath(*name));
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "cannot remove " + *name, io);
  if (io.json) return PrintJson(io, boost::json::object{{"name", *name}, {"removed", true}});
  io.out << "removed " << *name << "\n";
  return kExitOk;
}

}  // namespace mirrord
