// mirrorctl queue [--json]
#include <vector>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {

std::string FormatQueue(const QueueView& queue, int64_t now) {
  std::string out;
  if (queue.jobs.empty()) {
    out += "nothing queued or running\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    rows.push_back(
        {"RUN", "KIND", "REPO/BUILD", "STATE", "TRIGGER", "WAITING", "NODE/NEXT", "HOST"});
    for (const QueueJobView& j : queue.jobs) {
      std::string trigger = j.trigger;
      if (j.attempt > 1) trigger += " (attempt " + std::to_string(j.attempt) + ")";
      std::string where = j.node;
      if (j.state == "queued") {
        where = j.not_before > now ? "in " + FormatEta(static_cast<double>(j.not_before - now))
                                   : "ready";
      }
      // A build shows its recipe and the ref it builds: "lab/glm-4 refs/heads/main"; a push
      // its image and registry: "lab/glm-4@sha256:... -> lab".
      std::string what = j.kind == "build"  ? j.build + " " + j.ref
                         : j.kind == "push" ? j.build + " -> " + j.ref
                                            : j.repo;
      rows.push_back({"#" + std::to_string(j.run_id), j.kind, what, j.state, trigger,
                      FormatAge(j.queued_at, now), where, j.host.empty() ? "-" : j.host});
    }
    out += FormatTable(rows);
  }
  for (const PausedHostView& p : queue.paused_hosts) {
    out += "paused: " + p.host + " for " + FormatEta(static_cast<double>(p.until - now)) + " (" +
           p.reason + ")\n";
  }
  return out;
}

int RunQueueCommand(ApiClient& client, CommandIo& io) {
  Result<ApiReply> reply = client.Get("/api/v1/queue");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "queue", io);
  Result<boost::json::value> v = ParseJson(reply->body);
  Result<QueueView> queue = v.ok() ? QueueViewFromJson(*v) : Result<QueueView>(v.error());
  if (!queue.ok()) {
    io.err << "mirrorctl: queue: unreadable answer from mirrord: " << queue.error().message()
           << "\n";
    return kExitFailed;
  }
  if (io.json) return PrintJson(io, boost::json::value_from(*queue));
  io.out << FormatQueue(*queue, ToUnixSeconds(io.clock.Now()));
  return kExitOk;
}

}  // namespace mirrord
