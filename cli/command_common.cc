#include <algorithm>
#include <ctime>

#include "cli/commands.h"

namespace mirrord {

int ReportUnreachable(const Status& status, CommandIo& io) {
  io.err << "mirrorctl: " << status.message() << "\n";
  return kExitUnreachable;
}

int ReportApiError(const ApiReply& reply, std::string_view context, CommandIo& io) {
  io.err << "mirrorctl: ";
  if (!context.empty()) io.err << context << ": ";
  io.err << reply.ErrorStatus().message() << "\n";
  return kExitFailed;
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

}  // namespace mirrord
