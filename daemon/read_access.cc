#include "daemon/read_access.h"

#include "common/admin_token.h"
#include "common/log.h"
#include "common/read_token.h"
#include "common/repo_glob.h"

namespace mirrord {

Result<std::optional<ReadTokenRecord>> ReadAccess::Authenticate(
    const HttpCredentials& credentials) {
  if (!IsReadTokenFormat(credentials.secret)) return std::optional<ReadTokenRecord>();
  return FindByHash(HashReadToken(credentials.secret));
}

Result<std::optional<ReadTokenRecord>> ReadAccess::FindByHash(std::string_view token_hash) {
  ASSIGN_OR_RETURN(std::optional<ReadTokenRecord> found, catalog_.FindReadToken(token_hash));
  if (!found || !SecretsEqual(found->token_hash, token_hash)) {
    return std::optional<ReadTokenRecord>();
  }
  return found;
}

Result<bool> ReadAccess::IsPublic(std::string_view name) {
  Result<RepoRecord> repo = catalog_.GetRepo(name);
  if (!repo.ok()) {
    if (repo.status().code() == StatusCode::kNotFound) return false;
    return repo.status();
  }
  return !config_.Get()->RepoIsPrivate(name, repo->upstream);
}

bool ReadAccess::Grants(const ReadTokenRecord& token, std::string_view name) {
  for (const std::string& glob : token.repos) {
    if (RepoGlobMatches(glob, name)) return true;
  }
  return false;
}

bool ReadAccess::AnyPrivate() const {
  std::shared_ptr<const Config> config = config_.Get();
  for (const auto& [name, upstream] : config->upstreams) {
    if (upstream.is_private.value_or(!upstream.token_file.empty())) return true;
  }
  for (const RepoConfig& repo : config->repos) {
    if (repo.is_private.value_or(false)) return true;
  }
  return false;
}

Result<ReadAccess::Presented> ReadAccess::Present(
    const std::optional<HttpCredentials>& credentials) {
  Presented p;
  if (!credentials) return p;
  p.sent = true;
  ASSIGN_OR_RETURN(p.token, Authenticate(*credentials));
  return p;
}

Result<ReadDecision> ReadAccess::Decide(std::string_view name,
                                        const std::optional<HttpCredentials>& credentials,
                                        const std::string& client) {
  if (credentials) {
    // A client over its limit costs no token lookup.
    if (std::optional<std::chrono::seconds> wait = limiter_.Blocked(client)) {
      ReadDecision d;
      d.kind = ReadDecision::Kind::kRateLimited;
      d.retry_after = *wait;
      d.reason = "too many failed authentications";
      return d;
    }
  }
  ASSIGN_OR_RETURN(Presented presented, Present(credentials));
  return DecideFor(name, presented, client);
}

Result<ReadDecision> ReadAccess::DecideFor(std::string_view name, const Presented& presented,
                                           const std::string& client) {
  ReadDecision d;
  if (presented.sent) {
    if (std::optional<std::chrono::seconds> wait = limiter_.Blocked(client)) {
      d.kind = ReadDecision::Kind::kRateLimited;
      d.retry_after = *wait;
      d.reason = "too many failed authentications";
      return d;
    }
    if (presented.token && Grants(*presented.token, name)) {
      d.kind = ReadDecision::Kind::kAllow;
      d.token_name = presented.token->name;
      return d;
    }
    ASSIGN_OR_RETURN(bool is_public, IsPublic(name));
    if (is_public) {
      d.kind = ReadDecision::Kind::kAllow;
      return d;
    }
    limiter_.RecordFailure(client);
    d.kind = ReadDecision::Kind::kDeny;
    d.reason = presented.token
                   ? "token " + presented.token->name + " does not grant this repository"
                   : std::string("not a valid read token");
    return d;
  }
  ASSIGN_OR_RETURN(bool is_public, IsPublic(name));
  if (is_public) {
    d.kind = ReadDecision::Kind::kAllow;
  } else if (AnyPrivate()) {
    d.kind = ReadDecision::Kind::kChallenge;
  } else {
    d.kind = ReadDecision::Kind::kPassThrough;
  }
  return d;
}

Result<bool> ReadAccess::Visible(std::string_view name, const Presented& presented) {
  if (presented.token && Grants(*presented.token, name)) return true;
  if (!AnyPrivate()) return true;
  return IsPublic(name);
}

void LogAuthFailure(std::string_view client, std::string_view protocol, std::string_view what,
                    std::string_view reason) {
  MLOG(Warning) << "read access refused: client=" << client << " protocol=" << protocol
                << " repo=" << what << " reason=\"" << reason << "\"";
}

}  // namespace mirrord
