#include "git/repo_maintenance.h"

#include <fstream>
#include <system_error>
#include <vector>

#include "git/git_command.h"

namespace mirrord {
namespace {

namespace fs = std::filesystem;

bool HasObjects(const fs::path& objects) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(objects / "pack", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().extension() == ".pack") return true;
  }
  for (auto it = fs::directory_iterator(objects, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() != 2 || !it->is_directory(ec)) continue;
    if (!fs::is_empty(it->path(), ec)) return true;
  }
  return false;
}

// True when a full repack is due; creates the marker (counting from now) when absent.
bool FullRepackDue(const fs::path& marker, std::chrono::seconds interval) {
  std::error_code ec;
  fs::file_time_type last = fs::last_write_time(marker, ec);
  if (ec) {
    std::ofstream(marker).flush();
    return interval.count() <= 0;
  }
  return fs::file_time_type::clock::now() - last >= interval;
}

}  // namespace

Status RunMaintenance(const std::filesystem::path& dir, const MaintenanceOptions& options) {
  std::error_code ec;
  const fs::path objects = dir / "objects";
  if (!fs::is_directory(objects, ec)) return NotFound(dir.string() + " is not a git repository");
  if (HasObjects(objects)) {
    const fs::path marker = objects / "info" / "mirrord-full-repack";
    bool full = FullRepackDue(marker, options.full_repack_interval);
    std::vector<std::string> repack = {options.git_binary, "-C", dir.string(), "repack"};
    if (full) {
      repack.push_back("-a");
    } else {
      repack.push_back("--geometric=2");
    }
    repack.insert(repack.end(), {"-d", "--write-midx", "--write-bitmap-index", "-q"});
    RETURN_IF_ERROR(RunGitCommand(repack));
    if (full) fs::last_write_time(marker, fs::file_time_type::clock::now(), ec);
  }
  return RunGitCommand({options.git_binary, "-C", dir.string(), "commit-graph", "write",
                        "--reachable", "--no-progress"});
}

Result<PruneReport> PruneUnreachable(const std::filesystem::path& dir, std::chrono::seconds grace,
                                     bool dry_run, const MaintenanceOptions& options) {
  std::error_code ec;
  const fs::path objects = dir / "objects";
  if (!fs::is_directory(objects, ec)) return NotFound(dir.string() + " is not a git repository");
  const std::string expire =
      grace.count() <= 0 ? "now" : std::to_string(grace.count()) + ".seconds.ago";
  std::vector<std::string> argv = {options.git_binary,  "-C", dir.string(), "prune", "-n",
                                   "--expire=" + expire};
  // The list first (dry or not): what it names is what a real prune then removes, measured
  // before it goes. A loose object that turns reachable in between is kept by git itself.
  std::string listed;
  RETURN_IF_ERROR(RunGitCommand(argv, {}, &listed));
  PruneReport report;
  size_t start = 0;
  while (start < listed.size()) {
    size_t end = listed.find('\n', start);
    if (end == std::string::npos) end = listed.size();
    std::string_view line(listed.data() + start, end - start);
    start = end + 1;
    std::string_view oid = line.substr(0, line.find(' '));
    if (oid.size() < 3) continue;
    const fs::path loose = objects / std::string(oid.substr(0, 2)) / std::string(oid.substr(2));
    const uintmax_t size = fs::file_size(loose, ec);
    if (ec) continue;  // packed, or gone meanwhile: nothing of it is freed here
    ++report.objects;
    report.bytes += size;
  }
  if (dry_run) return report;
  argv.erase(argv.begin() + 4);  // "-n"
  RETURN_IF_ERROR(RunGitCommand(argv));
  return report;
}

Status CheckMirrorIntegrity(const std::filesystem::path& dir, const MaintenanceOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir / "objects", ec)) {
    return NotFound(dir.string() + " is not a git repository");
  }
  Status s = RunGitCommand(
      {options.git_binary, "-C", dir.string(), "fsck", "--no-dangling", "--no-progress"});
  if (s.ok() || s.code() != StatusCode::kInternal) return s;
  return DataLoss("git fsck of " + dir.string() + " found damage: " + s.message());
}

}  // namespace mirrord
