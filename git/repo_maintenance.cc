#include "git/repo_maintenance.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/file_util.h"
#include "common/log.h"
#include "git/git_command.h"

extern char** environ;

namespace mirrord {
namespace {

namespace fs = std::filesystem;

struct PackCensus {
  int packs = 0;
  int bitmaps = 0;
};

PackCensus CountPacks(const fs::path& pack_dir) {
  PackCensus c;
  std::error_code ec;
  for (auto it = fs::directory_iterator(pack_dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.starts_with("pack-")) continue;
    if (name.ends_with(".pack")) ++c.packs;
    if (name.ends_with(".bitmap")) ++c.bitmaps;
  }
  return c;
}

bool HasLooseObjects(const fs::path& objects) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(objects, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() != 2 || !it->is_directory(ec)) continue;
    if (!fs::is_empty(it->path(), ec)) return true;
  }
  return false;
}

}  // namespace

Status RunMaintenance(const std::filesystem::path& dir, const std::string& git_binary) {
  std::error_code ec;
  if (!fs::is_directory(dir / "objects", ec)) {
    return NotFound(dir.string() + " is not a git repository");
  }
  PackCensus census = CountPacks(dir / "objects" / "pack");
  bool repack = !(census.packs == 1 && census.bitmaps >= 1) &&
                (census.packs > 0 || HasLooseObjects(dir / "objects"));
  if (repack) {
    RETURN_IF_ERROR(
        RunGitCommand({git_binary, "-C", dir.string(), "repack", "-a", "-d", "-b", "-q"}));
  }
  return RunGitCommand(
      {git_binary, "-C", dir.string(), "commit-graph", "write", "--reachable", "--no-progress"});
}

}  // namespace mirrord
