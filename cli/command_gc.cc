// mirrorctl gc [--dry-run] [--grace DURATION]: garbage collection of the LFS store and the
// mirrors (daemon/gc_api.h).
#include <string>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {

namespace json = boost::json;

std::string FormatGcOutcome(const json::value& answer) {
  if (!answer.is_object()) return "mirrord answered something other than a JSON object\n";
  const json::object& o = answer.as_object();
  const bool dry = o.contains("dry_run") && o.at("dry_run").is_bool() && o.at("dry_run").as_bool();
  std::string out;
  if (const std::string purged = JsonText(o, "purged"); !purged.empty()) {
    out += "removed " + purged + "\n";
  }
  const json::object empty;
  const json::value* lfs_v = o.if_contains("lfs");
  const json::object& lfs = lfs_v != nullptr && lfs_v->is_object() ? lfs_v->as_object() : empty;
  out += std::string(dry ? "would remove " : "removed ") +
         std::to_string(JsonCount(lfs, "swept_objects")) + " LFS objects (" +
         FormatBytes(JsonCount(lfs, "swept_bytes")) + ")\n";
  if (const json::value* list = lfs.if_contains("objects"); list != nullptr && list->is_array()) {
    for (const json::value& e : list->as_array()) {
      if (!e.is_object()) continue;
      const json::object& c = e.as_object();
      out += "  " + JsonText(c, "oid") + "  " + FormatBytes(JsonCount(c, "size")) +
             "  unreferenced since " +
             FormatTimestamp(static_cast<int64_t>(JsonCount(c, "unreferenced_since"))) + "\n";
    }
    if (lfs.contains("objects_truncated") && lfs.at("objects_truncated").is_bool() &&
        lfs.at("objects_truncated").as_bool()) {
      out += "  ... (list truncated; every object is counted above)\n";
    }
  }
  if (const json::value* git_v = o.if_contains("git"); git_v != nullptr && git_v->is_object()) {
    const json::object& git = git_v->as_object();
    out += std::string(dry ? "would prune " : "pruned ") +
           std::to_string(JsonCount(git, "objects")) + " unreachable git objects (" +
           FormatBytes(JsonCount(git, "bytes")) + ")";
    std::string notes;
    if (const json::value* repos = git.if_contains("repos");
        repos != nullptr && repos->is_array()) {
      size_t mirrors = 0;
      for (const json::value& r : repos->as_array()) {
        if (!r.is_object()) continue;
        ++mirrors;
        const json::object& m = r.as_object();
        if (const std::string skipped = JsonText(m, "skipped"); !skipped.empty()) {
          notes += "  " + JsonText(m, "name") + ": skipped (" + skipped + ")\n";
        }
        if (const std::string error = JsonText(m, "error"); !error.empty()) {
          notes += "  " + JsonText(m, "name") + ": failed: " + error + "\n";
        }
      }
      out += " in " + std::to_string(mirrors) + " mirrors";
    }
    out += "\n" + notes;
  }
  if (JsonText(o, "purged").empty()) {
    const uint64_t grace = JsonCount(o, "grace_seconds");
    out += "kept " + std::to_string(JsonCount(lfs, "referenced_objects")) +
           " referenced LFS objects (" + FormatBytes(JsonCount(lfs, "referenced_bytes")) +
           ") and " + std::to_string(JsonCount(lfs, "in_grace_objects")) +
           " unreferenced ones within the grace of " + std::to_string(grace) + "s (" +
           FormatBytes(JsonCount(lfs, "in_grace_bytes")) + ")\n";
  }
  return out;
}

int RunGcCommand(ApiClient& client, const GcArgs& args, CommandIo& io) {
  std::string path = "/api/v1/gc";
  char sep = '?';
  if (args.dry_run) {
    path += "?dry_run=1";
    sep = '&';
  }
  if (!args.grace.empty()) {
    // Durations are digits and one unit letter; anything else is refused by mirrord, and
    // nothing in them needs escaping once checked here.
    for (char c : args.grace) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        io.err << "mirrorctl: --grace: expected a duration such as \"7d\", \"12h\" or \"0\"\n";
        return kExitUsage;
      }
    }
    path += sep;
    path += "grace=" + args.grace;
  }
  Result<ApiReply> reply = client.Post(path, "");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "gc", io);
  Result<json::value> answer = ParseJson(reply->body);
  if (!answer.ok()) return ReportError(answer.status(), "gc: mirrord's answer", io);
  if (io.json) return PrintJson(io, *answer);
  io.out << FormatGcOutcome(*answer);
  return kExitOk;
}

}  // namespace mirrord
