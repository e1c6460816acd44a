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

RepoRegistry::RepoRegistry(const Config& config, Catalog& catalog, const Clock& clock)
    : config_(config), catalog_(catalog), clock_(clock) {}

Result<RepoRegistry::Registered> RepoRegistry::Register(const RepoSpec& in) {
  ASSIGN_OR_RETURN(std::string name, ValidateRepoName(in.name));
  RepoSpec spec = in;
  spec.name = name;
  if (!spec.url.empty() && !spec.upstream.empty()) {
    return InvalidArgument("give either an upstream or a url, not both");
  }
  if (spec.url.empty()) {
    if (spec.upstream.empty()) spec.upstream = "github";
    if (spec.path.empty()) spec.path = name;
    // Resolving validates the upstream name and the path.
    RETURN_IF_ERROR(ResolveUpstreamUrl(config_, spec.upstream, spec.path).status());
  } else {
    if (!spec.url.starts_with("http://") && !spec.url.starts_with("https://")) {
      return InvalidArgument("url must start with http:// or https://");
    }
    if (spec.url.find_first_of(" \t\r\n") != std::string::npos) {
      return InvalidArgument("url must not contain whitespace");
    }
    spec.path.clear();
  }
  Result<RepoRecord> existing = catalog_.GetRepo(name);
  if (existing.ok()) {
    if (!SameSource(*existing, spec)) {
      return AlreadyExists("repository " + name + " is already mirrored from another source (" +
                           RedactUrlCredentials(UpstreamUrl(*existing).value_or("?")) + ")");
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
  return ResolveUpstreamUrl(config_, repo.upstream, repo.path.empty() ? repo.name : repo.path);
}

std::string RepoRegistry::UpstreamToken(const RepoRecord& repo) const {
  auto it = config_.upstreams.find(repo.upstream);
  if (repo.upstream.empty() || it == config_.upstreams.end() || it->second.token_file.empty()) {
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

const std::vector<std::string>& RepoRegistry::RefspecsFor(std::string_view name) const {
  for (const RepoConfig& rc : config_.repos) {
    if (rc.name == name && !rc.refspecs.empty()) return rc.refspecs;
  }
  return config_.refspecs;
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
