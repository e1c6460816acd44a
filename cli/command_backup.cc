// mirrorctl backup DIR: a consistent backup of the daemon's catalog, mirrors and stores into
// DIR on mirrord's host (POST /api/v1/backup, daemon/backup_api.h), with progress until it
// is complete.
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"

namespace mirrord {
namespace {

namespace json = boost::json;

uint64_t Count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() > 0) return static_cast<uint64_t>(v->as_int64());
  return 0;
}

std::string Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::string FormatBackupProgress(const boost::json::object& line) {
  std::string phase = Text(line, "phase");
  std::string out = "[" + phase + "]";
  if (phase == "mirrors") {
    out += " " + std::to_string(Count(line, "repos_done")) + "/" +
           std::to_string(Count(line, "repos_total")) + " mirrors";
  }
  if (uint64_t files = Count(line, "files"); files > 0) {
    out += "  " + std::to_string(files) + " files  " + FormatBytes(Count(line, "bytes"));
  }
  return out;
}

int RunBackupCommand(ApiClient& client, const BackupArgs& args, CommandIo& io) {
  if (args.dir.empty()) {
    io.err << "mirrorctl: backup: DIR is required\n";
    return kExitUsage;
  }
  // mirrord resolves nothing relative to its own working directory: an absolute path is
  // what the user meant when both run on one host.
  std::string dir = std::filesystem::absolute(args.dir).lexically_normal().string();
  std::ostringstream no_progress;
  ProgressDisplay display(io.json ? no_progress : io.err, io.err_is_tty && !io.json, io.clock);
  std::optional<json::object> last;
  Result<ApiReply> reply = client.PostStream(
      "/api/v1/backup", json::serialize(json::object{{"dir", dir}}), [&](std::string_view line) {
        Result<json::value> v = ParseJson(line);
        if (!v.ok() || !v->is_object()) return true;
        const json::object& o = v->as_object();
        if (o.contains("done") || o.contains("error")) {
          last = o;
          return true;
        }
        display.UpdateLine(Text(o, "phase"), FormatBackupProgress(o));
        return true;
      });
  display.Finish();
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "backup", io);
  if (!last) {
    io.err << "mirrorctl: backup: the connection ended before mirrord said how the backup went "
              "(it may still be running; see mirrord's log)\n";
    return kExitFailed;
  }
  if (last->contains("error")) {
    std::optional<Status> s = StatusFromErrorJson(json::value(*last));
    return ReportError(s ? *s : Internal("backup failed"), "backup", io);
  }
  if (io.json) return PrintJson(io, *last);
  io.out << "backup written to " << Text(*last, "dir") << ": " << Count(*last, "repos")
         << " mirrors (" << Count(*last, "refs") << " refs), " << Count(*last, "lfs_objects")
         << " LFS objects, " << Count(*last, "oci_blobs") << " image blobs, "
         << FormatBytes(Count(*last, "bytes")) << " (" << Count(*last, "linked") << " of "
         << Count(*last, "files") << " files hard-linked)\n";
  return kExitOk;
}

}  // namespace mirrord
