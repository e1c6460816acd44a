#include "cli/follow_run.h"

#include <chrono>
#include <sstream>
#include <thread>

#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

// How often a followed run is asked for its progress.
constexpr std::chrono::milliseconds kPollInterval{500};

}  // namespace

template <typename View>
int FollowRun(ApiClient& client, const FollowedRun<View>& run, CommandIo& io) {
  // With --json no progress is drawn: the run's final JSON is the one document printed.
  std::ostringstream no_progress;
  ProgressDisplay display(io.json ? no_progress : io.out, io.out_is_tty && !io.json, io.clock);
  for (;;) {
    Result<ApiReply> got = client.Get(run.run_path);
    if (!got.ok()) {
      display.Finish();
      io.err << "mirrorctl: lost mirrord while following " << run.run_name << " (the " << run.kind
             << " carries on): " << got.error().message() << "\n";
      return kExitUnreachable;
    }
    if (!got->ok()) {
      display.Finish();
      return ReportApiError(*got, run.api_context, io);
    }
    Result<boost::json::value> v = ParseJson(got->body);
    Result<View> view = v.ok() ? run.from_json(*v) : Result<View>(v.error());
    if (!view.ok()) {
      display.Finish();
      io.err << "mirrorctl: mirrord sent an unreadable " << run.kind
             << " run: " << view.error().message() << "\n";
      return kExitFailed;
    }
    if (IsFinalRunState(view->state)) {
      display.Finish();
      if (io.json) {
        PrintJson(io, *v);
        return view->state == "succeeded" ? kExitOk : kExitFailed;
      }
      if (view->state != "succeeded") {
        std::string why = !view->error.empty() ? view->error : "the run was " + view->state;
        io.err << "mirrord: " << run.failed_what(*view) << " failed: " << why << "\n";
        if (view->failure && view->failure->retryable) {
          io.err << "mirrorctl: mirrord retries it on its own; `mirrorctl queue` shows when\n";
        }
        return kExitFailed;
      }
      io.out << run.result(*view);
      return kExitOk;
    }
    display.UpdateLine(run.progress_phase(*view), run.progress(*view));
    std::this_thread::sleep_for(kPollInterval);
  }
}

template int FollowRun<BuildRunView>(ApiClient&, const FollowedRun<BuildRunView>&, CommandIo&);
template int FollowRun<PushRunView>(ApiClient&, const FollowedRun<PushRunView>&, CommandIo&);

}  // namespace mirrord
