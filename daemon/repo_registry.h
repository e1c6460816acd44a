// RepoRegistry: which repositories are mirrored and where each comes from. Registers repos
// (validating names and sources), resolves a repo's upstream URL, token and refspecs, names
// the upstream host a repo's syncs count against (per-host limits, rate-limit pauses), and
// matches the URLs of a webhook payload to the mirrored repos.
// Thread-safety: all methods are thread-safe (the catalog serialises its own access).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/api_types.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "storage/catalog.h"

namespace mirrord {

// The host[:port] of an upstream URL, lower case, without credentials: the unit of per-host
// limits and rate-limit pauses.
std::string UpstreamHost(std::string_view url);

// An upstream URL reduced to what identifies the repository, e.g. "github.com/org/name":
// without scheme, credentials, query, ".git" suffix or trailing '/', lower case (GitHub
// names are case-insensitive).
std::string UpstreamIdentity(std::string_view url);

class RepoRegistry {
 public:
  // `config`, `catalog` and `clock` must outlive the registry. Upstreams, tokens and
  // refspecs are read from `config`'s current snapshot on each call (reloadable).
  RepoRegistry(const LiveConfig& config, Catalog& catalog, const Clock& clock);

  struct Registered {
    RepoRecord repo;
    bool created = false;  // false: it existed with the same source
  };
  // Adds the repo to the catalog, managed by `origin` ("api" or "config"). A repo of that
  // name with the same source is returned unchanged (one retired from the config is taken
  // over by the API); with a different source: AlreadyExists. Bad name, unknown upstream,
  // a url that is not http(s) or both an upstream and a url: InvalidArgument
  // (ValidateRepoSource).
  Result<Registered> Register(const RepoSpec& spec, std::string_view origin = "api");

  // The repo `name` (validated); NotFound when it is not mirrored.
  Result<RepoRecord> Get(std::string_view name) const;

  // The clone URL of `repo` (may hold credentials the operator wrote into an explicit url).
  Result<std::string> UpstreamUrl(const RepoRecord& repo) const;
  // The token of the repo's upstream ([upstreams.NAME] token_file); "" for anonymous access
  // (also when the file cannot be read: logged).
  std::string UpstreamToken(const RepoRecord& repo) const;
  // The refspecs mirrored for `name` ([[repos]] refspecs, else [sync] refspecs).
  std::vector<std::string> RefspecsFor(std::string_view name) const;

  // The mirrored repos whose upstream is any of `urls` (a webhook payload's clone_url,
  // html_url, ...), compared by UpstreamIdentity; ssh forms never match; repos retired
  // from the config are left out.
  Result<std::vector<std::string>> FindReposOfUpstream(const std::vector<std::string>& urls) const;

  // Records what the upstream said about the repository `name` (webhooks).
  Status RecordUpstreamEvent(std::string_view name, std::string_view event);

 private:
  const LiveConfig& config_;
  Catalog& catalog_;
  const Clock& clock_;
};

}  // namespace mirrord
