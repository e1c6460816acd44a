// mirrorctl sync NAME [--upstream U [--path P] | --url URL] [--no-follow]
#include <boost/json/serialize.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

int NotMirrored(const std::string& name, const ApiReply& reply, bool source_given, CommandIo& io) {
  if (source_given) return ReportApiError(reply, "sync of " + name, io);
  io.err << "mirrorctl: " << name << " is not mirrored yet; add it with --upstream UPSTREAM "
         << "[--path PATH] or --url URL\n";
  return kExitFailed;
}

}  // namespace

int RunSyncCommand(ApiClient& client, const SyncArgs& args, CommandIo& io) {
  Result<std::string> name = ValidateRepoName(args.name);
  if (!name.ok()) {
    io.err << "mirrorctl: " << name.error().message() << "\n";
    return kExitUsage;
  }
  const bool source_given = !args.upstream.empty() || !args.url.empty();
  if (source_given) {
    RepoSpec spec{*name, args.upstream, args.path, args.url};
    Result<ApiReply> reply =
        client.Post("/api/v1/repos", boost::json::serialize(boost::json::value_from(spec)));
    if (!reply.ok()) return ReportUnreachable(reply.error(), io);
    if (!reply->ok()) {
      if (reply->http_status == 409) {
        io.err << "mirrorctl: " << reply->ErrorStatus().message() << " (remove it first with "
               << "`mirrorctl remove " << *name << "` to change its source)\n";
        return kExitFailed;
      }
      return ReportApiError(*reply, "cannot add " + *name, io);
    }
    if (reply->http_status == 201) io.err << "mirrorctl: added " << *name << "\n";
  }

  const std::string sync_path = RepoApiPath(*name) + ":sync";
  if (args.no_follow) {
    Result<ApiReply> reply = client.Post(sync_path, "");
    if (!reply.ok()) return ReportUnreachable(reply.error(), io);
    if (reply->http_status == 404) return NotMirrored(*name, *reply, source_given, io);
    if (!reply->ok()) return ReportApiError(*reply, "sync of " + *name, io);
    int64_t run_id = 0;
    if (Result<boost::json::value> v = ParseJson(reply->body); v.ok() && v->is_object()) {
      if (const boost::json::value* id = v->as_object().if_contains("run_id");
          id != nullptr && id->is_int64()) {
        run_id = id->as_int64();
      }
    }
    io.out << *name << ": sync queued as run " << run_id << "\n";
    return kExitOk;
  }

  ProgressDisplay display(io.out, io.out_is_tty, io.clock);
  std::optional<SyncRunView> last;
  std::optional<Status> stream_error;
  auto on_line = [&](std::string_view line) {
    Result<boost::json::value> v = ParseJson(line);
    if (!v.ok()) {
      stream_error = Internal("mirrord sent an unreadable progress line: " + v.error().message());
      return false;
    }
    if (std::optional<Status> err = StatusFromErrorJson(*v)) {
      stream_error = *err;
      return false;
    }
    Result<SyncRunView> run = SyncRunViewFromJson(*v);
    if (!run.ok()) {
      stream_error = Internal("mirrord sent an unreadable progress line: " + run.error().message());
      return false;
    }
    display.Update(run->progress);
    last = std::move(*run);
    return true;
  };
  Result<ApiReply> reply = client.PostStream(sync_path + "?follow=1", "", on_line);
  display.Finish();
  if (!reply.ok()) {
    if (last) {
      io.err << "mirrorctl: lost mirrord while following run " << last->run_id << " of " << *name
             << " (the sync carries on; see `mirrorctl status " << *name
             << "`): " << reply.error().message() << "\n";
      return kExitUnreachable;
    }
    return ReportUnreachable(reply.error(), io);
  }
  if (reply->http_status == 404) return NotMirrored(*name, *reply, source_given, io);
  if (!reply->ok()) return ReportApiError(*reply, "sync of " + *name, io);
  if (stream_error) {
    io.err << "mirrorctl: following the sync of " << *name << ": " << stream_error->message()
           << "\n";
    return kExitFailed;
  }
  if (!last || !IsFinalRunState(last->state)) {
    io.err << "mirrorctl: mirrord ended the progress stream of " << *name
           << " before the sync finished; see `mirrorctl status " << *name << "`\n";
    return kExitUnreachable;
  }
  if (last->state != "succeeded") {
    std::string why = !last->error.empty() ? last->error : "the run was " + last->state;
    io.err << "mirrord: sync of " << *name << " failed: " << why << "\n";
    return kExitFailed;
  }
  io.out << FormatSyncSummary(*last) << "\n";
  return kExitOk;
}

}  // namespace mirrord
