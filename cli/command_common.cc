#include <algorithm>
#include <boost/json.hpp>
#include <ctime>

#include "cli/commands.h"

namespace mirrord {

#ifndef MIRRORD_VERSION
#define MIRRORD_VERSION "unknown"
#endif

std::string_view MirrorctlVersion() { return MIRRORD_VERSION; }

std::string ExitCodesHelp() {
  return "Exit codes:\n"
         "  0  success\n"
         "  1  the operation failed (a sync failed, mirrord refused the request, a removal "
         "was declined)\n"
         "  2  usage: bad arguments, unknown command, invalid name, remove without --yes and "
         "no terminal\n"
         "  3  mirrord cannot be reached, or the admin token is missing or refused\n"
         "  4  no such repository (on mirrord; for a new name, at the upstream), recipe, ref or "
         "image\n";
}

int RunWithClient(const CliFlags& flags, CommandIo& io,
                  const std::function<int(ApiClient&)>& command) {
  Result<CliContext> context = ResolveCliContext(flags, SystemEnvironment());
  if (!context.ok()) {
    io.err << "mirrorctl: " << context.error().message() << "\n";
    return kExitUsage;
  }
  Result<std::string> token = LoadAdminToken(*context);
  if (!token.ok()) {
    io.err << "mirrorctl: " << token.error().message() << "\n";
    return kExitUnreachable;
  }
  ApiClient client(context->server_url, std::move(*token), context->token_source);
  client.set_ca_file(context->ca_file);
  return command(client);
}

int PrintJson(CommandIo& io, const boost::json::value& v) {
  io.out << boost::json::serialize(v) << "\n";
  return kExitOk;
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kPermissionDenied:
      return kExitUnreachable;
    default:
      return kExitFailed;
  }
}

int ReportError(const Status& status, std::string_view context, CommandIo& io) {
  io.err << "mirrorctl: ";
  if (!context.empty()) io.err << context << ": ";
  io.err << status.message() << "\n";
  return ExitCodeFor(status);
}

int ReportUnreachable(const Status& status, CommandIo& io) {
  io.err << "mirrorctl: " << status.message() << "\n";
  return kExitUnreachable;
}

int ReportApiError(const ApiReply& reply, std::string_view context, CommandIo& io) {
  io.err << "mirrorctl: ";
  if (!context.empty()) io.err << context << ": ";
  io.err << reply.ErrorStatus().message() << "\n";
  if (reply.http_status == 404) return kExitNotFound;
  if (reply.http_status == 400) return kExitUsage;
  return kExitFailed;
}

namespace {

// Optimal string alignment distance (adjacent transpositions count as one edit).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string SuggestCommand(std::string_view typed, const std::vector<std::string>& known) {
  if (typed.empty() || typed.size() > 64) return "";
  std::string best;
  size_t best_distance = 3;
  for (const std::string& k : known) {
    size_t d = EditDistance(typed, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  if (!best.empty()) return best;
  std::string prefixed;
  for (const std::string& k : known) {
    if (k.starts_with(typed)) {
      if (!prefixed.empty()) return "";  // ambiguous
      prefixed = k;
    }
  }
  return prefixed;
}

std::string FormatAge(int64_t t, int64_t now) {
  if (t == 0) return "never";
  int64_t d = now - t;
  if (d < 5) return "just now";
  if (d < 60) return std::to_string(d) + "s ago";
  if (d < 3600) return std::to_string(d / 60) + "m ago";
  if (d < 86400) return std::to_string(d / 3600) + "h ago";
  return std::to_string(d / 86400) + "d ago";
}

std::string FormatTimestamp(int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string RepoApiPath(std::string_view name) { return "/api/v1/repos/" + std::string(name); }

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size());
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

uint64_t JsonCount(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(std::max<int64_t>(0, v->as_int64()));
  return 0;
}

std::string JsonText(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace mirrord
