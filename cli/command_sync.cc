// mirrorctl sync NAME [--upstream U [--path P] | --url URL] [--no-follow]
#include <boost/json/serialize.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

constexpr std::string_view kHfPrefix = "hf/";

// What following a run's progress stream ended with.
struct Followed {
  std::optional<SyncRunView> last;   // the last view received
  std::optional<Status> bad_stream;  // an unreadable line, or an error sent in-band
};

// A first sync that found no repository at the upstream: nothing there, or nothing we may
// read (GitHub answers 401 for a repository that does not exist).
bool FoundNoUpstreamRepo(const SyncRunView& run) {
  return run.state == "failed" && run.failure && run.failure->phase == FailurePhase::kConnect &&
         (run.failure->code == "NotFound" || run.failure->code == "PermissionDenied");
}

// "github (https://github.com/x/y.git)", or the URL alone for a repo given by URL.
std::string SourceText(const RepoSpec& spec, const std::string& url) {
  if (spec.upstream.empty()) return url.empty() ? spec.url : url;
  return url.empty() ? spec.upstream : spec.upstream + " (" + url + ")";
}

boost::json::object SyncJson(const std::string& name, bool added, bool removed,
                             const std::optional<SyncRunView>& run) {
  return boost::json::object{{"name", name},
                             {"added", added},
                             {"removed", removed},
                             {"run", run ? boost::json::value_from(*run) : nullptr}};
}

}  // namespace

RepoSpec InferRepoSpec(const SyncArgs& args, std::string_view name) {
  RepoSpec spec;
  spec.name = std::string(name);
  if (!args.url.empty()) {
    spec.url = args.url;
    return spec;
  }
  if (!args.upstream.empty()) {
    spec.upstream = args.upstream;
    spec.path = args.path;
    const std::string prefix = args.upstream + "/";
    if (spec.path.empty() && name.starts_with(prefix) && name.size() > prefix.size()) {
      spec.path = std::string(name.substr(prefix.size()));
    }
    return spec;
  }
  if (name.starts_with(kHfPrefix) && name.size() > kHfPrefix.size()) {
    spec.upstream = "hf";
    spec.path = std::string(name.substr(kHfPrefix.size()));
  } else {
    spec.upstream = "github";
  }
  return spec;
}

int RunSyncCommand(ApiClient& client, const SyncArgs& args, CommandIo& io) {
  Result<std::string> name = ValidateRepoName(args.name);
  if (!name.ok()) {
    io.err << "mirrorctl: " << name.error().message() << "\n";
    return kExitUsage;
  }
  const std::string repo_path = RepoApiPath(*name);

  // Register the repo when the command names a source or the name is new.
  bool register_it = !args.upstream.empty() || !args.url.empty();
  if (!register_it) {
    Result<ApiReply> existing = client.Get(repo_path);
    if (!existing.ok()) return ReportUnreachable(existing.error(), io);
    if (existing->http_status == 404) {
      register_it = true;
    } else if (!existing->ok()) {
      return ReportApiError(*existing, "sync of " + *name, io);
    }
  }
  bool added = false;
  const RepoSpec spec = InferRepoSpec(args, *name);
  std::string source_url;
  if (register_it) {
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
    if (Result<boost::json::value> v = ParseJson(reply->body); v.ok()) {
      if (Result<RepoStatus> repo = RepoStatusFromJson(*v); repo.ok()) source_url = repo->url;
    }
    added = reply->http_status == 201;
    if (added) {
      io.err << "mirrorctl: added " << *name << " from " << SourceText(spec, source_url) << "\n";
    }
  }

  // A repo this command added is removed again when its first sync finds nothing upstream.
  auto forget_if_not_found = [&](const SyncRunView& run) -> std::optional<int> {
    if (!added || !FoundNoUpstreamRepo(run)) return std::nullopt;
    Result<ApiReply> removed = client.Delete(repo_path);
    if (!removed.ok()) return ReportUnreachable(removed.error(), io);
    if (!removed->ok() && removed->http_status != 404) {
      return ReportApiError(*removed, "cannot remove " + *name + " again", io);
    }
    const std::string where = source_url.empty() ? spec.url : source_url;
    io.err << "mirrorctl: ";
    if (spec.upstream.empty()) {
      io.err << "no repository that mirrord can read at " << where;
    } else {
      io.err << spec.upstream << " has no repository " << (spec.path.empty() ? *name : spec.path)
             << " that mirrord can read (" << where << ")";
    }
    io.err << ": " << run.error << "\n"
           << "mirrorctl: " << *name << " was not kept. Check the name; a private repository "
           << "needs a token"
           << (spec.upstream.empty() ? "" : " ([upstreams." + spec.upstream + "] token_file)")
           << "\n";
    if (io.json) PrintJson(io, SyncJson(*name, added, true, run));
    return kExitNotFound;
  };

  const std::string sync_path = repo_path + ":sync";
  if (args.no_follow) {
    Result<ApiReply> reply = client.Post(sync_path, "");
    if (!reply.ok()) return ReportUnreachable(reply.error(), io);
    if (!reply->ok()) return ReportApiError(*reply, "sync of " + *name, io);
    int64_t run_id = 0;
    if (Result<boost::json::value> v = ParseJson(reply->body); v.ok() && v->is_object()) {
      if (const boost::json::value* id = v->as_object().if_contains("run_id");
          id != nullptr && id->is_int64()) {
        run_id = id->as_int64();
      }
    }
    if (io.json) {
      std::optional<SyncRunView> run;
      if (Result<ApiReply> got = client.Get("/api/v1/runs/" + std::to_string(run_id));
          got.ok() && got->ok()) {
        if (Result<boost::json::value> v = ParseJson(got->body); v.ok()) {
          if (Result<SyncRunView> r = SyncRunViewFromJson(*v); r.ok()) run = std::move(*r);
        }
      }
      if (!run) {
        run = SyncRunView{};
        run->run_id = run_id;
        run->repo = *name;
        run->state = "queued";
      }
      return PrintJson(io, SyncJson(*name, added, false, run));
    }
    io.out << *name << ": sync queued as run " << run_id << "\n";
    if (added) {
      io.err << "mirrorctl: without following the first sync, " << *name
             << " is kept even if the upstream has no such repository (see `mirrorctl status "
             << *name << "`)\n";
    }
    return kExitOk;
  }

  std::optional<ProgressDisplay> display;
  if (!io.json) display.emplace(io.out, io.out_is_tty, io.clock);
  Followed followed;
  auto on_line = [&](std::string_view line) {
    Result<boost::json::value> v = ParseJson(line);
    if (!v.ok()) {
      followed.bad_stream =
          Internal("mirrord sent an unreadable progress line: " + v.error().message());
      return false;
    }
    if (std::optional<Status> err = StatusFromErrorJson(*v)) {
      followed.bad_stream = *err;
      return false;
    }
    Result<SyncRunView> run = SyncRunViewFromJson(*v);
    if (!run.ok()) {
      followed.bad_stream =
          Internal("mirrord sent an unreadable progress line: " + run.error().message());
      return false;
    }
    if (display) display->Update(run->progress);
    followed.last = std::move(*run);
    return true;
  };
  Result<ApiReply> reply = client.PostStream(sync_path + "?follow=1", "", on_line);
  if (display) display->Finish();
  const std::optional<SyncRunView>& last = followed.last;
  if (!reply.ok()) {
    if (last) {
      io.err << "mirrorctl: lost mirrord while following run " << last->run_id << " of " << *name
             << " (the sync carries on; see `mirrorctl status " << *name
             << "`): " << reply.error().message() << "\n";
      return kExitUnreachable;
    }
    return ReportUnreachable(reply.error(), io);
  }
  if (!reply->ok()) return ReportApiError(*reply, "sync of " + *name, io);
  if (followed.bad_stream) {
    io.err << "mirrorctl: following the sync of " << *name << ": " << followed.bad_stream->message()
           << "\n";
    return kExitFailed;
  }
  if (!last || !IsFinalRunState(last->state)) {
    io.err << "mirrorctl: mirrord ended the progress stream of " << *name
           << " before the sync finished; see `mirrorctl status " << *name << "`\n";
    return kExitUnreachable;
  }
  if (std::optional<int> rc = forget_if_not_found(*last)) return *rc;
  if (io.json) {
    PrintJson(io, SyncJson(*name, added, false, last));
  } else if (last->state == "succeeded") {
    io.out << FormatSyncSummary(*last) << "\n";
  }
  if (last->state != "succeeded") {
    std::string why = !last->error.empty() ? last->error : "the run was " + last->state;
    io.err << "mirrord: sync of " << *name << " failed: " << why << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace mirrord
