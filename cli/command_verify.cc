// mirrorctl verify [NAME]: verification at rest (daemon/verify_api.h).
#include <string>

#include "cli/commands.h"
#include "cli/progress_display.h"
#include "common/api_json.h"
#include "common/repo_name.h"

namespace mirrord {

namespace json = boost::json;

std::string FormatVerifyOutcome(const json::value& answer) {
  if (!answer.is_object()) return "mirrord answered something other than a JSON object\n";
  const json::object& o = answer.as_object();
  std::string out;
  if (const json::value* mirrors = o.if_contains("mirrors"); mirrors && mirrors->is_array()) {
    for (const json::value& v : mirrors->as_array()) {
      if (!v.is_object()) continue;
      const json::object& m = v.as_object();
      const bool ok = m.contains("ok") && m.at("ok").is_bool() && m.at("ok").as_bool();
      out += "mirror " + JsonText(m, "name") + ": " +
             (ok ? std::string("git fsck ok") : "DAMAGED: " + JsonText(m, "error")) + "\n";
    }
  }
  size_t corrupt = 0;
  const json::value* list = o.if_contains("corrupt");
  if (list != nullptr && list->is_array()) corrupt = list->as_array().size();
  out += "LFS: " + std::to_string(JsonCount(o, "objects_checked")) + " objects (" +
         FormatBytes(JsonCount(o, "bytes_checked")) + ") re-hashed, " + std::to_string(corrupt) +
         " corrupt";
  if (const uint64_t absent = JsonCount(o, "objects_absent"); absent > 0) {
    out += ", " + std::to_string(absent) + " referenced but not in the store";
  }
  out += "\n";
  if (list != nullptr && list->is_array()) {
    for (const json::value& v : list->as_array()) {
      if (!v.is_object()) continue;
      const json::object& c = v.as_object();
      out += "  " + JsonText(c, "oid") + "  " + FormatBytes(JsonCount(c, "size")) + "  " +
             JsonText(c, "outcome");
      if (const std::string repo = JsonText(c, "repo"); !repo.empty()) out += " (" + repo + ")";
      if (const std::string error = JsonText(c, "error"); !error.empty()) out += ": " + error;
      out += "\n";
    }
  }
  return out;
}

namespace {

// Something the operator must act on: a damaged mirror, or an object not fetched again.
bool NeedsAttention(const json::value& answer) {
  if (!answer.is_object()) return true;
  const json::object& o = answer.as_object();
  if (const json::value* mirrors = o.if_contains("mirrors"); mirrors && mirrors->is_array()) {
    for (const json::value& v : mirrors->as_array()) {
      if (v.is_object() && v.as_object().contains("ok") && v.as_object().at("ok").is_bool() &&
          !v.as_object().at("ok").as_bool()) {
        return true;
      }
    }
  }
  if (const json::value* list = o.if_contains("corrupt"); list && list->is_array()) {
    for (const json::value& v : list->as_array()) {
      if (!v.is_object() || JsonText(v.as_object(), "outcome") != "refetched") return true;
    }
  }
  return false;
}

}  // namespace

int RunVerifyCommand(ApiClient& client, const VerifyArgs& args, CommandIo& io) {
  std::string path = "/api/v1/verify";
  if (!args.name.empty()) {
    Result<std::string> name = ValidateRepoName(args.name);
    if (!name.ok()) {
      io.err << "mirrorctl: " << name.error().message() << "\n";
      return kExitUsage;
    }
    path += "?repo=" + *name;
  }
  Result<ApiReply> reply = client.Post(path, "");
  if (!reply.ok()) return ReportUnreachable(reply.error(), io);
  if (!reply->ok()) return ReportApiError(*reply, "verify", io);
  Result<json::value> answer = ParseJson(reply->body);
  if (!answer.ok()) return ReportError(answer.status(), "verify: mirrord's answer", io);
  const int rc = NeedsAttention(*answer) ? kExitFailed : kExitOk;
  if (io.json) {
    PrintJson(io, *answer);
    return rc;
  }
  io.out << FormatVerifyOutcome(*answer);
  return rc;
}

}  // namespace mirrord
