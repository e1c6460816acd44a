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

}  // namespace mirrord
