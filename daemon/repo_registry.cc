#include "daemon/repo_registry.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "common/admin_token.h"
#include "common/log.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// What follows "scheme://", or the whole URL without a scheme.
std::string_view AfterScheme(std::string_view url) {
  size_t scheme = url.find("://");
  return scheme == std::string_view::npos ? url : url.substr(scheme + 3);
}

bool SameSource(const RepoRecord& r, const RepoSpec& s) {
  return r.upstream == s.upstream && r.path == s.path && r.url == s.url;
}

}  // namespace

std::string UpstreamHost(std::string_view url) {
  std::string_view rest = AfterScheme(url);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  return Lower(std::string(rest));
}

std::string UpstreamIdentity(std::string_view url) {
  std::string_view rest = AfterScheme(url);
  size_t slash = rest.find('/');
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.ends_with(".git")) path.remove_suffix(4);
  return Lower(UpstreamHost(url) + std::string(path));
}

RepoRegistry::RepoRegistry(const LiveConfig& config, Catalog& catalog, const Clock& clock)
    : config_(config), catalog_(catalog), clock_(clock) {}

Result<RepoRegistry::Registered> RepoRegistry::Register(const RepoSpec& in,
                                                        std::string_view spec_origin) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(in.name));
  RepoSpec spec = in;
  spec.name = name;
  if (spec.url.empty() && spec.upstream.empty()) spec.upstream = "github";
  if (spec.url.empty() && spec.path.empty()) spec.path = name;
  if (!spec.url.empty() && spec.upstream.empty()) spec.path.clear();
  RETURN_IF_ERROR(ValidateRepoSource(*config_.Get(), spec.upstream, spec.path, spec.url));
  Result<RepoRecord> existing = catalog_.GetRepo(name);
  if (existing.ok()) {
    if (!SameSource(*existing, spec)) {
      return AlreadyExists("repository " + name + " is already mirrored from another source (" +
                           RedactUrlCredentials(UpstreamUrl(*existing).value_or("?")) + ")");
    }
    if (existing->retired_at != 0) {
      // Asked for again after it left the config: the API manages it from now on.
      RETURN_IF_ERROR(catalog_.SetRepoOrigin(existing->id, "api", 0));
      existing->origin = "api";
      existing->retired_at = 0;
      MLOG(Info) << name << " was removed from the config; mirrored again, now managed by the API";
    }
    return Registered{std::move(*existing), false};
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  RepoRecord record;
  record.name = name;
  record.upstream = spec.upstream;
  record.path = spec.path;
  record.url = spec.url;
  record.state = "new";
  record.origin = spec_origin;
  record.created_at = record.updated_at = ToUnixSeconds(clock_.Now());
  ASSIGN_OR_RETURN(RepoRecord inserted, catalog_.InsertRepo(record));
  MLOG(Info) << "registered " << name << " from "
             << RedactUrlCredentials(UpstreamUrl(inserted).value_or("?"));
  return Registered{std::move(inserted), true};
}

Result<RepoRecord> RepoRegistry::Get(std::string_view name_in) const {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(name_in));
  return catalog_.GetRepo(name);
}

Result<std::string> RepoRegistry::UpstreamUrl(const RepoRecord& repo) const {
  if (!repo.url.empty()) return repo.url;
  return ResolveUpstreamUrl(*config_.Get(), repo.upstream,
                            repo.path.empty() ? repo.name : repo.path);
}

std::string RepoRegistry::UpstreamToken(const RepoRecord& repo) const {
  const std::shared_ptr<const Config> config = config_.Get();
  auto it = config->upstreams.find(repo.upstream);
  if (repo.upstream.empty() || it == config->upstreams.end() || it->second.token_file.empty()) {
    return "";
  }
  Result<std::string> token = ReadTokenFile(it->second.token_file);
  if (!token.ok()) {
    MLOG(Warning) << "upstream " << repo.upstream << ": " << token.status().ToString()
                  << "; fetching anonymously";
    return "";
  }
  return *token;
}

std::vector<std::string> RepoRegistry::RefspecsFor(std::string_view name) const {
  const std::shared_ptr<const Config> config = config_.Get();
  for (const RepoConfig& rc : config->repos) {
    if (rc.name == name && !rc.refspecs.empty()) return rc.refspecs;
  }
  return config->refspecs;
}

Result<std::vector<std::string>> RepoRegistry::FindReposOfUpstream(
    const std::vector<std::string>& urls) const {
  std::set<std::string> wanted;
  for (const std::string& u : urls) {
    // ssh forms ("git@github.com:org/name.git") are not comparable; http(s) ones are.
    if (u.starts_with("http://") || u.starts_with("https://") || u.starts_with("git://")) {
      wanted.insert(UpstreamIdentity(u));
    }
  }
  std::vector<std::string> out;
  if (wanted.empty()) return out;
  ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, catalog_.ListRepos());
  for (const RepoRecord& r : repos) {
    if (r.retired_at != 0) continue;  // no longer mirrored: a push changes nothing
    Result<std::string> url = UpstreamUrl(r);
    if (url.ok() && wanted.contains(UpstreamIdentity(*url))) out.push_back(r.name);
  }
  return out;
}

Status RepoRegistry::RecordUpstreamEvent(std::string_view name, std::string_view event) {
  ASSIGN_OR_RETURN(RepoRecord repo, catalog_.GetRepo(name));
  return catalog_.SetUpstreamEvent(repo.id, event, ToUnixSeconds(clock_.Now()));
}

}  // namespace mirrord
