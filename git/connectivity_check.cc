#include "git/connectivity_check.h"

#include <set>
#include <string>
#include <system_error>

#include "git/git_command.h"
#include "git/mirror_staging.h"

namespace mirrord {

Status CheckConnectivity(const std::filesystem::path& dir,
                         const std::vector<PublishedRef>& new_refs,
                         const std::vector<PublishedRef>& published_refs) {
  std::set<std::string> known;
  for (const PublishedRef& r : published_refs) known.insert(r.oid);
  std::string input;
  bool any_new = false;
  for (const PublishedRef& r : new_refs) {
    if (known.contains(r.oid)) continue;
    input += r.oid;
    input += '\n';
    any_new = true;
  }
  if (!any_new) return Status::Ok();
  // git 2.39 accepts no options in --stdin mode; "^oid" excludes what is already served.
  for (const std::string& oid : known) {
    input += '^';
    input += oid;
    input += '\n';
  }
  // The staging repository sees the staged objects and, through its alternates, the mirror's.
  std::filesystem::path git_dir = StagingDirectory(dir);
  std::error_code ec;
  if (!std::filesystem::is_directory(git_dir, ec)) git_dir = dir;
  Status s = RunGitCommand(
      {"git", "--git-dir=" + git_dir.string(), "rev-list", "--objects", "--quiet", "--stdin"},
      input);
  if (s.ok() || s.code() != StatusCode::kInternal) return s;
  return DataLoss("the fetched history is incomplete, refusing to publish it: " + s.message());
}

}  // namespace mirrord
