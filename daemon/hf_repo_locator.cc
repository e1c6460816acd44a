#include "daemon/hf_repo_locator.h"

#include <utility>
#include <vector>

namespace mirrord {

namespace {
constexpr std::chrono::seconds kIndexMinAge{1};
}  // namespace

HfRepoLocator::HfRepoLocator(Catalog& catalog, ServableDir servable_dir)
    : catalog_(catalog), servable_dir_(std::move(servable_dir)) {}

Result<std::optional<std::string>> HfRepoLocator::NameForHubPath(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = hub_index_.find(path);
  if (it != hub_index_.end()) return std::optional<std::string>(it->second);
  const auto now = std::chrono::steady_clock::now();
  if (built_ && now - built_at_ < kIndexMinAge) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  hub_index_.clear();
  for (const RepoRecord& r : repos) {
    if (r.upstream == kHfUpstreamName && r.url.empty()) hub_index_.emplace(r.path, r.name);
  }
  built_ = true;
  built_at_ = now;
  it = hub_index_.find(path);
  if (it == hub_index_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Result<HfRepo> HfRepoLocator::Find(HfRepoType type, std::string_view id) {
  // A dataset's upstream path starts with "datasets/": it is never a model id.
  if (type == HfRepoType::kModel && id.starts_with("datasets/")) {
    return NotFound("repository " + std::string(id) + " is not mirrored here");
  }
  const std::string hub_path =
      type == HfRepoType::kDataset ? "datasets/" + std::string(id) : std::string(id);
  std::optional<RepoRecord> record;
  // The common case: the repo is mirrored under its Hub id as its name.
  Result<RepoRecord> by_name = catalog_.GetRepo(hub_path);
  if (by_name.ok()) {
    const bool from_hub = by_name->upstream == kHfUpstreamName && by_name->url.empty();
    if ((from_hub && by_name->path == hub_path) || (!from_hub && type == HfRepoType::kModel)) {
      record = std::move(*by_name);
    }
  } else if (by_name.status().code() != StatusCode::kNotFound &&
             by_name.status().code() != StatusCode::kInvalidArgument) {
    return by_name.status();
  }
  if (!record) {
    ASSIGN_OR_RETURN(std::optional<std::string> name, NameForHubPath(hub_path));
    if (!name) return NotFound("repository " + std::string(id) + " is not mirrored here");
    Result<RepoRecord> r = catalog_.GetRepo(*name);
    if (!r.ok()) return r.status();
    if (r->upstream != kHfUpstreamName || r->path != hub_path) {
      return NotFound("repository " + std::string(id) + " is not mirrored here");
    }
    record = std::move(*r);
  }
  std::optional<std::filesystem::path> dir = servable_dir_(record->name);
  if (!dir) return NotFound("repository " + std::string(id) + " has not been published yet");
  return HfRepo{std::move(*record), std::move(*dir)};
}

}  // namespace mirrord
