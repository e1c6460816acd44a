// mirrorctl build NAME [--ref R] [--no-follow]
#include <boost/json/serialize.hpp>
#include <chrono>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

// How often a followed build is asked for its progress.
constexpr std::chrono::milliseconds kPollInterval{500};

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
  const std::string run_path = path.substr(0, path.find('?')) + "/runs/" + std::to_string(run_id);
  // With --json no progress is drawn: the run's final JSON is the one document printed.
  std::ostringstream no_progress;
  ProgressDisplay display(io.json ? no_progress : io.out, io.out_is_tty && !io.json, io.clock);
  for (;;) {
    Result<ApiReply> got = client.Get(run_path);
    if (!got.ok()) {
      display.Finish();
      io.err << "mirrorctl: lost mirrord while following build run " << run_id << " of "
             << args.name << " (the build carries on): " << got.error().message() << "\n";
      return kExitUnreachable;
    }
    if (!got->ok()) {
      display.Finish();
      return ReportApiError(*got, "build " + args.name, io);
    }
    Result<boost::json::value> v = ParseJson(got->body);
    Result<BuildRunView> run = v.ok() ? BuildRunViewFromJson(*v) : Result<BuildRunView>(v.error());
    if (!run.ok()) {
      display.Finish();
      io.err << "mirrorctl: mirrord sent an unreadable build run: " << run.error().message()
             << "\n";
      return kExitFailed;
    }
    if (IsFinalRunState(run->state)) {
      display.Finish();
      if (io.json) {
        PrintJson(io, *v);
        return run->state == "succeeded" ? kExitOk : kExitFailed;
      }
      if (run->state != "succeeded") {
        std::string why = !run->error.empty() ? run->error : "the run was " + run->state;
        io.err << "mirrord: build " << args.name << " of " << run->ref << " failed: " << why
               << "\n";
        if (run->failure && run->failure->retryable) {
          io.err << "mirrorctl: mirrord retries it on its own; `mirrorctl queue` shows when\n";
        }
        return kExitFailed;
      }
      io.out << FormatBuildResult(*run);
      return kExitOk;
    }
    display.UpdateLine(run->phase, FormatBuildProgress(*run));
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace mirrord
