// ReadAccess: who may read which repository. A repository is public (anyone on the LAN)
// or private (Config::RepoIsPrivate: by default those whose upstream needs a token); a
// private one is read with a read token (common/read_token.h) whose globs
// (common/repo_glob.h) match its name.
//
// No existence leak: Decide() answers for an absent name exactly as for a private one, so a
// protocol that turns the decision into its answer before looking at the repository (the
// gates below) cannot tell them apart:
//   kAllow      public and mirrored, or the token grants the name (the protocol's own
//               handler then answers, 404 included when it is absent)
//   kChallenge  no credentials, and the mirror has private repositories: the protocol's
//               "authenticate" answer (401 + WWW-Authenticate) so that clients prompt
//   kDeny       credentials that are no read token, or a token that does not grant the
//               name: the protocol's "not found" answer
//   kPassThrough no credentials and no private repositories at all: the name cannot be a
//               private repository, so the handler answers as it always did (404)
// Failed authentications (kDeny) are counted per client by an AuthFailureLimiter; a client
// over its limit gets kRateLimited for any request carrying credentials.
//
// Thread-safety: all methods are thread-safe. Decide() reads SQLite: call it on the
// blocking pool.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/http_credentials.h"
#include "common/status.h"
#include "daemon/auth_failure_limiter.h"
#include "storage/catalog.h"

namespace mirrord {

struct ReadDecision {
  enum class Kind { kAllow, kPassThrough, kChallenge, kDeny, kRateLimited };
  Kind kind = Kind::kDeny;
  std::string token_name;               // kAllow by a token: its name
  std::chrono::seconds retry_after{0};  // kRateLimited
  std::string reason;                   // kDeny/kRateLimited: for the log (never the token)
};

class ReadAccess {
 public:
  // Everything passed must outlive this.
  ReadAccess(const LiveConfig& config, Catalog& catalog, AuthFailureLimiter& limiter)
      : config_(config), catalog_(catalog), limiter_(limiter) {}

  // Whether `credentials` (nullopt: none sent) may read the repository `name` (canonical),
  // asked by `client` (ClientKeyOfPeer). Counts a kDeny against the client. Blocking.
  // Fails only when the catalog cannot be read.
  Result<ReadDecision> Decide(std::string_view name,
                              const std::optional<HttpCredentials>& credentials,
                              const std::string& client);

  // What a request presented: any credentials at all, and the read token they carried if
  // valid. For protocols that resolve credentials once for several names (the registry's
  // catalog) or carry them in another form (registry tokens).
  struct Presented {
    bool sent = false;
    std::optional<ReadTokenRecord> token;
  };
  // Presented for `credentials` (Authenticate). Blocking.
  Result<Presented> Present(const std::optional<HttpCredentials>& credentials);
  // Decide, given what was presented (a client over its limit is refused when it sent any).
  Result<ReadDecision> DecideFor(std::string_view name, const Presented& presented,
                                 const std::string& client);
  // Whether `presented` may see `name` in a listing: public, or granted. Blocking.
  Result<bool> Visible(std::string_view name, const Presented& presented);

  // The token `credentials` carry, if they carry a valid one (the hash is looked up, then
  // compared in constant time). Blocking.
  Result<std::optional<ReadTokenRecord>> Authenticate(const HttpCredentials& credentials);

  // The token whose stored hash is `token_hash`, if it still exists. Blocking.
  Result<std::optional<ReadTokenRecord>> FindByHash(std::string_view token_hash);

  // Whether `name` (canonical) is mirrored and public. Blocking.
  Result<bool> IsPublic(std::string_view name);

  // Whether `token` grants `name`.
  static bool Grants(const ReadTokenRecord& token, std::string_view name);

  // Whether the configuration makes any repository private (an upstream with a token_file
  // or private = true, a [[repos]] private = true).
  bool AnyPrivate() const;

  AuthFailureLimiter& limiter() { return limiter_; }

 private:
  const LiveConfig& config_;
  Catalog& catalog_;
  AuthFailureLimiter& limiter_;
};

// The one log line of a refused authentication: client, protocol, repo or path, reason.
void LogAuthFailure(std::string_view client, std::string_view protocol, std::string_view what,
                    std::string_view reason);

}  // namespace mirrord
