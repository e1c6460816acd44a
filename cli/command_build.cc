// mirrorctl build NAME [--ref R] [--no-follow]
#include <boost/json/serialize.hpp>

#include "cli/commands.h"
#include "cli/follow_run.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

std::string BuildApiPath(std::string_view name) { return "/api/v1/builds/" + std::string(name); }

}  // namespace

std::string FormatBuildProgress(const BuildRunView& run) {
  std::string text = "[" + (run.phase.empty() ? run.state : run.phase) + "]";
  if (run.layers_total > 0) {
    text += " " + std::to_string(run.layers_done) + "/" + std::to_string(run.layers_total) +
            " weight layers";
  }
  if (run.bytes_total > 0) {
    text += "  " + FormatBytes(run.bytes_done) + " of " + FormatBytes(run.bytes_total);
  }
  if (run.hashed_layers > 0) text += "  " + std::to_string(run.hashed_layers) + " hashed";
  return text;
}

std::string FormatBuildResult(const BuildRunView& run) {
  std::string out = run.build + ": built " + run.ref + " at " + run.commit;
  if (run.started_at > 0 && run.finished_at >= run.started_at) {
    out += " in " + std::to_string(run.finished_at - run.started_at) + " s";
  }
  out += " (" + std::to_string(run.layers) + " layers, " + std::to_string(run.hashed_layers) +
         " hashed, " + FormatBytes(run.image_size) + ")\n";
  for (const std::string& tag : run.tags) {
    out += run.build + ":" + tag + "  " + run.image_digest + "\n";
  }
  for (const std::string& tag : run.tags) {
    out += run.build + ":" + tag + "-model  " + run.model_digest + "\n";
  }
  return out;
}

int RunBuildCommand(ApiClient& client, const BuildArgs& args, CommandIo& io) {
  if (args.name.empty()) {
    io.err << "mirrorctl: build needs a [[builds]] name\n";
    return kExitUsage;
  }
  std::string path = BuildApiPath(args.name);
  if (!args.ref.empty()) path += "?ref=" + args.ref;
  Result<ApiReply> reply = client.Post(path, "");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "build " + args.name, io);
  int64_t run_id = 0;
  std::string ref = args.ref;
  if (Result<boost::json::value> v = ParseJson(reply->body); v.ok() && v->is_object()) {
    const boost::json::object& o = v->as_object();
    if (const boost::json::value* id = o.if_contains("run_id"); id != nullptr && id->is_int64()) {
      run_id = id->as_int64();
    }
    if (const boost::json::value* r = o.if_contains("ref"); r != nullptr && r->is_string()) {
      ref = std::string(r->as_string());
    }
  }
  if (run_id <= 0) {
    io.err << "mirrorctl: mirrord did not name the build's run\n";
    return kExitFailed;
  }
  if (args.no_follow) {
    if (io.json) {
      Result<boost::json::value> queued = ParseJson(reply->body);
      return queued.ok() ? PrintJson(io, *queued) : kExitFailed;
    }
    io.out << args.name << ": build of " << ref << " queued as run " << run_id << "\n";
    return kExitOk;
  }
  FollowedRun<BuildRunView> run;
  run.run_path = path.substr(0, path.find('?')) + "/runs/" + std::to_string(run_id);
  run.kind = "build";
  run.run_name = "build run " + std::to_string(run_id) + " of " + args.name;
  run.api_context = "build " + args.name;
  run.from_json = BuildRunViewFromJson;
  run.failed_what = [&args](const BuildRunView& v) {
    return "build " + args.name + " of " + v.ref;
  };
  run.progress = FormatBuildProgress;
  run.progress_phase = [](const BuildRunView& v) { return v.phase; };
  run.result = FormatBuildResult;
  return FollowRun(client, run, io);
}

}  // namespace mirrord
