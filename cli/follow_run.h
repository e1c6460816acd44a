// FollowRun: how mirrorctl follows a queued job's run (a build, a push) until it ends, the
// part `mirrorctl build` and `mirrorctl push` share once mirrord has named the run. The
// command says what kind of run it is (FollowedRun: the run's status URL, how its view is
// read and shown, the wording of its messages); FollowRun polls, draws the progress and
// reports the end the same way for every kind.
#pragma once

#include <boost/json/value.hpp>
#include <functional>
#include <string>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "common/api_types.h"
#include "common/status.h"

namespace mirrord {

// One kind of run, as FollowRun polls and shows it. `View` has the fields every run view
// has: `state` (IsFinalRunState ends the follow), `error` and `failure` (RunFailure).
template <typename View>
struct FollowedRun {
  std::string run_path;  // GET answers the run as JSON, e.g. "/api/v1/pushes/7"
  std::string kind;      // "push", "build": "mirrord sent an unreadable <kind> run"
  // "push run 7", "build run 7 of NAME":
  // "lost mirrord while following <run_name> (the <kind> carries on)".
  std::string run_name;
  // ReportApiError's context for an error answer to a poll, e.g. "build NAME".
  std::string api_context;
  std::function<Result<View>(const boost::json::value&)> from_json;
  // What failed, e.g. "push of NAME:TAG to REGISTRY": "mirrord: <failed_what> failed: <why>".
  std::function<std::string(const View&)> failed_what;
  // The progress line of a running run, and its ProgressDisplay phase (a line of a new
  // phase always prints).
  std::function<std::string(const View&)> progress;
  std::function<std::string(const View&)> progress_phase;
  // What a succeeded run prints on io.out (newline-terminated).
  std::function<std::string(const View&)> result;
};

// Polls run.run_path (every 500 ms) until the run reaches a final state, drawing
// run.progress on io.out meanwhile (ProgressDisplay; nothing with io.json). Then:
//   - succeeded: prints run.result (with io.json the run's JSON as mirrord sent it) and
//     returns kExitOk;
//   - failed or interrupted: "mirrord: <failed_what> failed: <error, or 'the run was
//     <state>'>" on io.err, plus the hint that mirrord retries it when the failure is
//     retryable (with io.json only the run's JSON, on io.out); kExitFailed.
// Ends early with kExitUnreachable when mirrord cannot be asked ("lost mirrord while
// following ..."; the run carries on), with ReportApiError's code for an error answer, and
// kExitFailed for an answer that is not a readable run.
template <typename View>
int FollowRun(ApiClient& client, const FollowedRun<View>& run, CommandIo& io);

extern template int FollowRun<BuildRunView>(ApiClient&, const FollowedRun<BuildRunView>&,
                                            CommandIo&);
extern template int FollowRun<PushRunView>(ApiClient&, const FollowedRun<PushRunView>&, CommandIo&);

}  // namespace mirrord
