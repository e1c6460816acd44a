// mirrorctl status [NAME] [--json]
#include <vector>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

std::string RunLine(const SyncRunView& run, int64_t now) {
  std::string s = "#" + std::to_string(run.run_id) + " " + run.state;
  if (!run.trigger.empty()) {
    s += " (" + run.trigger;
    if (run.attempt > 1) s += ", attempt " + std::to_string(run.attempt);
    s += ")";
  }
  int64_t when = run.finished_at  ? run.finished_at
                 : run.started_at ? run.started_at
                                  : run.queued_at;
  if (when != 0) s += ", " + FormatTimestamp(when) + " (" + FormatAge(when, now) + ")";
  if (run.state == "succeeded") {
    s += ": " + std::to_string(run.refs_added) + " refs added, " +
         std::to_string(run.refs_updated) + " updated, " + std::to_string(run.refs_deleted) +
         " deleted";
  }
  return s;
}

// A failure code as words for people ("NotFound" -> "not found"); the code itself is in
// --json.
std::string CodeWords(std::string_view code) {
  if (code == "DeadlineExceeded") return "timed out";
  if (code == "DataLoss") return "corrupt data";
  if (code == "ResourceExhausted") return "rate limited or out of resources";
  if (code == "FailedPrecondition") return "not possible yet";
  std::string words;
  for (char c : code) {
    if (c >= 'A' && c <= 'Z') {
      if (!words.empty()) words += ' ';
      words += static_cast<char>(c - 'A' + 'a');
    } else {
      words += c;
    }
  }
  return words;
}

void Field(std::string& out, std::string_view label, const std::string& value) {
  out += "  ";
  out += label;
  out.append(label.size() < 14 ? 14 - label.size() : 1, ' ');
  out += value + "\n";
}

}  // namespace

std::string FormatRepoStatus(const RepoStatus& repo, int64_t now) {
  std::string out = repo.name + "\n";
  Field(out, "state:", repo.state);
  std::string source = repo.upstream.empty() ? repo.url : repo.upstream + "  " + repo.url;
  Field(out, "upstream:", source);
  if (!repo.head.empty()) Field(out, "head:", repo.head);
  Field(out, "refs:", std::to_string(repo.ref_count));
  std::string success = FormatTimestamp(repo.last_success_at);
  if (repo.last_success_at != 0) success += " (" + FormatAge(repo.last_success_at, now) + ")";
  Field(out, "last success:", success);
  if (repo.last_failure) {
    std::string failure =
        FormatTimestamp(repo.last_failure_at) + " (" + FormatAge(repo.last_failure_at, now) + ")";
    // The last run's error is shown below; an older failure's here.
    if (!repo.last_run || repo.last_run->run_id != repo.last_failure->run_id) {
      failure += ": " + repo.last_failure->error;
    }
    Field(out, "last failure:", failure);
  }
  if (repo.lfs_objects > 0) {
    std::string lfs = std::to_string(repo.lfs_objects) + " objects, " +
                      FormatBytes(repo.lfs_logical_bytes) + " logical; " +
                      std::to_string(repo.lfs_present_objects) + " present (" +
                      FormatBytes(repo.lfs_present_bytes) + ")";
    if (repo.lfs_failed_objects > 0) {
      lfs += "; " + std::to_string(repo.lfs_failed_objects) + " failed";
    }
    Field(out, "lfs:", lfs);
    Field(
        out, "store:",
        FormatBytes(repo.store_physical_bytes) + " physical (all repos, each object stored once)");
  }
  if (repo.last_run) {
    Field(out, "last run:", RunLine(*repo.last_run, now));
    if (!repo.last_run->error.empty()) Field(out, "error:", repo.last_run->error);
    if (const std::optional<RunFailure>& f = repo.last_run->failure) {
      std::string failed =
          std::string(FailurePhaseName(f->phase)) + " (" + CodeWords(f->code) + "), ";
      failed += f->retryable ? "retryable" : "not retryable";
      if (f->retry_after_seconds) {
        failed += "; upstream asked to wait " + std::to_string(*f->retry_after_seconds) + " s";
      }
      Field(out, "failed in:", failed);
    }
  }
  if (!repo.next_attempt.empty()) {
    std::string next = repo.next_attempt;
    if (repo.next_attempt_at != 0) {
      next += repo.next_attempt_at > now
                  ? ", in " + FormatEta(static_cast<double>(repo.next_attempt_at - now))
                  : ", due now";
    }
    Field(out, "next:", next);
  }
  if (!repo.upstream_event.empty()) {
    Field(out, "upstream:",
          repo.upstream_event + " (" + FormatTimestamp(repo.upstream_event_at) +
              "; the mirror is kept as it is)");
  }
  if (repo.active_run) {
    Field(out, "active run:",
          "#" + std::to_string(repo.active_run->run_id) + " " + repo.active_run->state + " " +
              FormatProgress(repo.active_run->progress));
  }
  return out;
}

int RunStatusCommand(ApiClient& client, const StatusArgs& args, CommandIo& io) {
  std::string path = "/api/v1/repos";
  if (!args.name.empty()) {
    Result<std::string> name = ValidateRepoName(args.name);
    if (!name.ok()) {
      io.err << "mirrorctl: " << name.error().message() << "\n";
      return kExitUsage;
    }
    path = RepoApiPath(*name);
  }
  Result<ApiReply> reply = client.Get(path);
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "status", io);

  Result<boost::json::value> v = ParseJson(reply->body);
  if (!v.ok()) {
    io.err << "mirrorctl: status: unreadable answer from mirrord: " << v.error().message() << "\n";
    return kExitFailed;
  }
  std::vector<boost::json::value> items;
  if (args.name.empty()) {
    const boost::json::value* list = v->is_object() ? v->as_object().if_contains("repos") : nullptr;
    if (list == nullptr || !list->is_array()) {
      io.err << "mirrorctl: status: mirrord's answer has no \"repos\" array\n";
      return kExitFailed;
    }
    items.assign(list->as_array().begin(), list->as_array().end());
    if (items.empty() && !io.json) io.out << "no repositories are mirrored\n";
  } else {
    items.push_back(*v);
  }
  const int64_t now = ToUnixSeconds(io.clock.Now());
  std::vector<RepoStatus> repos;
  for (const boost::json::value& item : items) {
    Result<RepoStatus> repo = RepoStatusFromJson(item);
    if (!repo.ok()) {
      io.err << "mirrorctl: status: unreadable repo in mirrord's answer: " << repo.error().message()
             << "\n";
      return kExitFailed;
    }
    repos.push_back(std::move(*repo));
  }
  if (io.json) {
    // Re-encoded from the decoded values: the fields are exactly those README documents.
    if (!args.name.empty()) return PrintJson(io, boost::json::value_from(repos.front()));
    boost::json::array out;
    for (const RepoStatus& r : repos) out.push_back(boost::json::value_from(r));
    return PrintJson(io, boost::json::object{{"repos", std::move(out)}});
  }
  for (size_t i = 0; i < repos.size(); ++i) {
    if (i > 0) io.out << "\n";
    io.out << FormatRepoStatus(repos[i], now);
  }
  return kExitOk;
}

}  // namespace mirrord
