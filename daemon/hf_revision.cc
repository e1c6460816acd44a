#include "daemon/hf_revision.h"

#include <ctime>
#include <utility>

#include "common/log.h"

namespace mirrord {

std::variant<HfRevisionView, HfFailure> OpenHfRevision(HfRepoLocator& locator, HfRepoType type,
                                                       std::string_view repo_id,
                                                       std::string_view revision) {
  Result<HfRepo> repo = locator.Find(type, repo_id);
  if (!repo.ok()) {
    if (repo.status().code() == StatusCode::kNotFound) {
      return HfFailure::RepoNotFound("Repository Not Found for " + std::string(repo_id));
    }
    MLOG(Error) << "hf " << repo_id << ": " << repo.status().ToString();
    return HfFailure::Internal("the mirror's catalog failed; see mirrord's log");
  }
  Result<PooledTreeReader> reader = locator.readers().Take(repo->dir);
  if (!reader.ok()) {
    MLOG(Error) << "hf " << repo_id << ": " << reader.status().ToString();
    return HfFailure::Internal("the mirror cannot be read; see mirrord's log");
  }
  Result<ResolvedCommit> commit = (*reader)->ResolveRevision(revision);
  if (!commit.ok()) {
    if (commit.status().code() == StatusCode::kNotFound) {
      return HfFailure::RevisionNotFound("Invalid rev id: " + std::string(revision));
    }
    MLOG(Error) << "hf " << repo_id << "@" << PrintableExcerpt(revision, 80) << ": "
                << commit.status().ToString();
    return HfFailure::Internal("the mirror cannot be read; see mirrord's log");
  }
  const bool pinned = commit->oid == revision;
  return HfRevisionView{std::move(*repo), std::move(*reader), std::move(*commit), pinned};
}

std::string HfTimestamp(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

}  // namespace mirrord
