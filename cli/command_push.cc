// mirrorctl push NAME:TAG REGISTRY [--no-follow]
#include <boost/json/serialize.hpp>

#include "cli/commands.h"
#include "cli/follow_run.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {

std::string FormatPushProgress(const PushRunView& run) {
  std::string text = "[" + run.state + "]";
  if (run.blobs_total > 0) {
    text += " " + std::to_string(run.blobs_done) + "/" + std::to_string(run.blobs_total) + " blobs";
  }
  if (run.bytes_total > 0) {
    text += "  " + FormatBytes(run.bytes_sent) + " of " + FormatBytes(run.bytes_total);
  }
  if (!run.blob.empty()) text += "  " + run.blob.substr(0, 19);
  return text;
}

std::string FormatPushResult(const PushRunView& run) {
  std::string out = run.image + ": pushed to " + run.registry + "/" + run.repository;
  out += " (" + std::to_string(run.blobs_uploaded) + " uploaded, " +
         std::to_string(run.blobs_mounted) + " mounted, " + std::to_string(run.blobs_skipped) +
         " already there; " + FormatBytes(run.bytes_sent) + " sent";
  if (run.uploads_resumed > 0) out += ", " + std::to_string(run.uploads_resumed) + " resumed";
  out += " in " + std::to_string(run.duration_ms / 1000) + " s)\n";
  for (const std::string& tag : run.tags) {
    out += run.registry + "/" + run.repository + ":" + tag + "  " + run.digest + "\n";
  }
  for (const std::string& tag : run.model_tags) {
    out += run.registry + "/" + run.repository + ":" + tag + "  " + run.model_digest + "\n";
  }
  if (run.tags.empty()) out += run.registry + "/" + run.repository + "@" + run.digest + "\n";
  return out;
}

bool SplitImageTag(std::string_view ref, std::string* name, std::string* tag) {
  Result<ImageRefArg> parsed = ParseImageRefArg(ref);
  if (!parsed.ok()) return false;
  *name = std::move(parsed->name);
  *tag = std::move(parsed->tag);
  return true;
}

int RunPushCommand(ApiClient& client, const PushArgs& args, CommandIo& io) {
  Result<ImageRefArg> ref = ParseImageRefArg(args.image);
  if (!ref.ok()) {
    io.err << "mirrorctl: push needs an image as NAME:TAG (see `mirrorctl images`): "
           << ref.error().message() << "\n";
    return kExitUsage;
  }
  const std::string& name = ref->name;
  const std::string& tag = ref->tag;
  if (args.registry.empty()) {
    io.err << "mirrorctl: push needs a [registries] name\n";
    return kExitUsage;
  }
  boost::json::object body;
  body["registry"] = args.registry;
  Result<ApiReply> reply =
      client.Post("/api/v1/images/" + name + ":" + tag + "/push", boost::json::serialize(body));
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  const std::string what = "push of " + name + ":" + tag + " to " + args.registry;
  if (!reply->ok()) return ReportApiError(*reply, what, io);
  int64_t run_id = 0;
  Result<boost::json::value> queued = ParseJson(reply->body);
  if (queued.ok() && queued->is_object()) {
    const boost::json::value* id = queued->as_object().if_contains("run_id");
    if (id != nullptr && id->is_int64()) run_id = id->as_int64();
  }
  if (run_id <= 0) {
    io.err << "mirrorctl: mirrord did not name the push's run\n";
    return kExitFailed;
  }
  if (args.no_follow) {
    if (io.json) return PrintJson(io, *queued);
    io.out << name << ":" << tag << ": push to " << args.registry << " queued as run " << run_id
           << "\n";
    return kExitOk;
  }
  FollowedRun<PushRunView> run;
  run.run_path = "/api/v1/pushes/" + std::to_string(run_id);
  run.kind = "push";
  run.run_name = "push run " + std::to_string(run_id);
  run.api_context = what;
  run.from_json = PushRunViewFromJson;
  run.failed_what = [&what](const PushRunView&) { return what; };
  run.progress = FormatPushProgress;
  run.progress_phase = [](const PushRunView&) { return std::string("push"); };
  run.result = FormatPushResult;
  return FollowRun(client, run, io);
}

}  // namespace mirrord
