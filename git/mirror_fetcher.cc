#include "git/mirror_fetcher.h"

#include <git2.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "common/log.h"
#include "git/curl_transport.h"
#include "git/libgit2_status.h"
#include "git/mirror_repository.h"
#include "git/mirror_staging.h"
#include "git/upload_pack_request.h"

namespace mirrord {
namespace {

// Everything the libgit2 callbacks of one fetch need; the callbacks' payload.
struct FetchContext {
  FetchContext(const FetchOptions& o, HttpTransportOptions http)
      : options(o), transport(std::move(http)) {}
  const FetchOptions& options;
  HttpTransportContext transport;  // also records cancellation and callback errors
};

bool CancelRequested(const FetchContext& ctx) { return ctx.transport.cancel_requested(); }

int OnTransferProgress(const git_indexer_progress* stats, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (CancelRequested(*ctx)) {
    ctx->transport.RecordError(Cancelled("fetch cancelled"));
    return -1;
  }
  if (ctx->options.on_progress) {
    FetchProgress p;
    p.received_objects = stats->received_objects;
    p.total_objects = stats->total_objects;
    p.indexed_objects = stats->indexed_objects;
    p.received_bytes = stats->received_bytes;
    ctx->options.on_progress(p);
  }
  return 0;
}

int OnSidebandProgress(const char*, int, void* payload) {
  auto* ctx = static_cast<FetchContext*>(payload);
  if (CancelRequested(*ctx)) {
    ctx->transport.RecordError(Cancelled("fetch cancelled"));
    return -1;
  }
  return 0;
}

int OnCreateTransport(git_transport** out, git_remote* owner, void* payload) {
  return CreateHttpTransport(out, owner, &static_cast<FetchContext*>(payload)->transport);
}

// The Status for a failed libgit2 call during the fetch: the transport's or a callback's own
// error when one was recorded (libgit2 tends to replace it with a generic message).
Status FetchError(FetchContext& ctx, int rc, std::string_view what) {
  Status from_libgit2 = Libgit2Status(rc, what);  // first: git_error_last() is fragile
  if (!ctx.transport.error().ok()) return ctx.transport.error();
  if (CancelRequested(ctx)) return Cancelled("fetch cancelled");
  return from_libgit2;
}

std::string OidHex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

// The fully peeled oid of an annotated tag; empty for other objects.
Result<std::string> PeeledOid(git_repository* repo, const git_oid& oid, const std::string& name) {
  git_object* raw = nullptr;
  int rc = git_object_lookup(&raw, repo, &oid, GIT_OBJECT_ANY);
  ObjectPtr object(raw);
  if (rc < 0) return Libgit2Status(rc, "look up " + OidHex(oid) + " of " + name);
  if (git_object_type(object.get()) != GIT_OBJECT_TAG) return std::string();
  raw = nullptr;
  rc = git_tag_peel(&raw, reinterpret_cast<git_tag*>(object.get()));
  ObjectPtr peeled(raw);
  if (rc < 0) return Libgit2Status(rc, "peel tag " + name);
  return OidHex(*git_object_id(peeled.get()));
}

std::string PublishedName(std::string_view staging_name) {
  return "refs/" + std::string(staging_name.substr(kStagingRefPrefix.size()));
}

struct ParsedRefspecs {
  std::vector<std::string> strings;  // staging refspecs, for git_remote_download
  std::vector<RefspecPtr> specs;
};

Result<ParsedRefspecs> ParseRefspecs(const std::vector<std::string>& configured) {
  if (configured.empty()) return InvalidArgument("no refspecs to fetch");
  ParsedRefspecs out;
  for (const std::string& c : configured) {
    ASSIGN_OR_RETURN(std::string staging, StagingRefspec(c));
    git_refspec* raw = nullptr;
    int rc = git_refspec_parse(&raw, staging.c_str(), /*is_fetch=*/1);
    RefspecPtr spec(raw);
    if (rc < 0) return Libgit2Status(rc, "refspec \"" + c + "\"");
    out.strings.push_back(std::move(staging));
    out.specs.push_back(std::move(spec));
  }
  return out;
}

// upstream ref name -> oid, from the advertisement (peeled "^{}" entries and HEAD skipped).
Result<std::map<std::string, git_oid>> Advertised(FetchContext& ctx, git_remote* remote) {
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  int rc = git_remote_ls(&heads, &count, remote);
  if (rc < 0) return FetchError(ctx, rc, "list upstream refs");
  std::map<std::string, git_oid> out;
  for (size_t i = 0; i < count; ++i) {
    std::string_view name = heads[i]->name;
    if (!name.starts_with("refs/") || name.ends_with("^{}")) continue;
    out.emplace(std::string(name), heads[i]->oid);
  }
  return out;
}

// staging ref name -> (oid, upstream name) for every advertised ref the refspecs select.
Result<std::map<std::string, std::pair<git_oid, std::string>>> ExpectedStaging(
    const ParsedRefspecs& specs, const std::map<std::string, git_oid>& advertised) {
  std::map<std::string, std::pair<git_oid, std::string>> out;
  for (const auto& [name, oid] : advertised) {
    for (const RefspecPtr& spec : specs.specs) {
      if (!git_refspec_src_matches(spec.get(), name.c_str())) continue;
      ScopedGitBuf dst;
      int rc = git_refspec_transform(dst.get(), spec.get(), name.c_str());
      if (rc < 0) return Libgit2Status(rc, "map upstream ref " + name);
      std::string staging(dst.view());
      // A pattern like refs/* must not smuggle refs into mirrord's private namespace.
      if (!staging.starts_with(kStagingRefPrefix) ||
          PublishedName(staging).starts_with(kMirrordRefPrefix)) {
        continue;
      }
      auto [it, inserted] = out.emplace(staging, std::make_pair(oid, name));
      if (!inserted && it->second.second != name) {
        return InvalidArgument("refspecs map both " + it->second.second + " and " + name + " to " +
                               PublishedName(staging));
      }
    }
  }
  return out;
}

// Deletes staging refs that no longer correspond to an upstream ref (deleted upstream, or
// no longer selected by the refspecs).
Status PruneStaging(git_repository* repo,
                    const std::map<std::string, std::pair<git_oid, std::string>>& expected) {
  git_reference_iterator* raw = nullptr;
  int rc = git_reference_iterator_new(&raw, repo);
  ReferenceIteratorPtr iter(raw);
  if (rc < 0) return Libgit2Status(rc, "list staging refs");
  std::vector<std::string> stale;
  const char* name = nullptr;
  while ((rc = git_reference_next_name(&name, iter.get())) == 0) {
    std::string_view n(name);
    if (n.starts_with(kStagingRefPrefix) && !expected.contains(std::string(n))) {
      stale.emplace_back(n);
    }
  }
  if (rc != GIT_ITEROVER) return Libgit2Status(rc, "list staging refs");
  for (const std::string& s : stale) {
    rc = git_reference_remove(repo, s.c_str());
    if (rc < 0 && rc != GIT_ENOTFOUND) return Libgit2Status(rc, "prune " + s);
  }
  return Status::Ok();
}

// The distinct targets of the direct refs of `repo` (branch tips first: they reach the most)
// that `odb` has, appended to `out` unless already in `seen`.
Status AppendTips(git_repository* repo, git_odb* odb, std::vector<std::string>& heads,
                  std::vector<std::string>& others, std::set<std::string>& seen) {
  git_reference_iterator* raw = nullptr;
  int rc = git_reference_iterator_new(&raw, repo);
  ReferenceIteratorPtr iter(raw);
  if (rc < 0) return Libgit2Status(rc, "list local refs");
  git_reference* ref_raw = nullptr;
  while ((rc = git_reference_next(&ref_raw, iter.get())) == 0) {
    ReferencePtr ref(ref_raw);
    const git_oid* target = git_reference_target(ref.get());
    if (target == nullptr) continue;  // symbolic
    std::string hex = OidHex(*target);
    if (seen.contains(hex) || !git_odb_exists(odb, target)) continue;
    seen.insert(hex);
    std::string_view name = git_reference_name(ref.get());
    bool is_head = name.starts_with("refs/heads/") ||
                   name.starts_with(std::string(kStagingRefPrefix) + "heads/");
    (is_head ? heads : others).push_back(std::move(hex));
  }
  if (rc != GIT_ITEROVER) return Libgit2Status(rc, "list local refs");
  return Status::Ok();
}

// The extra haves of the final negotiation request: the published tips (the mirror's refs),
// then what earlier fetches staged and did not publish, heads first, at most kMaxExtraHaves.
Result<std::vector<std::string>> CollectLocalTips(git_repository* mirror, git_repository* staging,
                                                  git_odb* staging_odb) {
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, mirror);
  OdbPtr mirror_odb(raw_odb);
  if (rc < 0) return Libgit2Status(rc, "open the mirror's object database");
  std::vector<std::string> heads, others;
  std::set<std::string> seen;
  RETURN_IF_ERROR(AppendTips(mirror, mirror_odb.get(), heads, others, seen));
  RETURN_IF_ERROR(AppendTips(staging, staging_odb, heads, others, seen));
  heads.insert(heads.end(), std::make_move_iterator(others.begin()),
               std::make_move_iterator(others.end()));
  if (heads.size() > kMaxExtraHaves) heads.resize(kMaxExtraHaves);
  return heads;
}

// Deletes staging refs whose target is gone: staged objects that were published and then
// dropped by a full repack after the upstream rewrote them away. libgit2's negotiation walks
// every local ref and would fail on them.
Status PruneDanglingStaging(git_repository* repo, git_odb* odb) {
  git_reference_iterator* raw = nullptr;
  int rc = git_reference_iterator_new(&raw, repo);
  ReferenceIteratorPtr iter(raw);
  if (rc < 0) return Libgit2Status(rc, "list staging refs");
  std::vector<std::string> dangling;
  git_reference* ref_raw = nullptr;
  while ((rc = git_reference_next(&ref_raw, iter.get())) == 0) {
    ReferencePtr ref(ref_raw);
    const git_oid* target = git_reference_target(ref.get());
    if (target != nullptr && !git_odb_exists(odb, target)) {
      dangling.emplace_back(git_reference_name(ref.get()));
    }
  }
  if (rc != GIT_ITEROVER) return Libgit2Status(rc, "list staging refs");
  for (const std::string& name : dangling) {
    rc = git_reference_remove(repo, name.c_str());
    if (rc < 0 && rc != GIT_ENOTFOUND) return Libgit2Status(rc, "prune " + name);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> StagingRefspec(std::string_view refspec) {
  std::string_view s = refspec;
  if (s.starts_with('+')) s.remove_prefix(1);
  auto bad = [&](std::string_view why) {
    return InvalidArgument("refspec \"" + std::string(refspec) + "\": " + std::string(why));
  };
  if (s.starts_with('^')) return bad("negative refspecs are not supported");
  size_t colon = s.find(':');
  std::string_view src = s.substr(0, colon);
  std::string_view dst = colon == std::string_view::npos ? src : s.substr(colon + 1);
  if (dst.find(':') != std::string_view::npos) return bad("more than one ':'");
  if (!src.starts_with("refs/")) return bad("the source must start with refs/");
  if (!dst.starts_with("refs/")) return bad("the destination must start with refs/");
  if (dst.starts_with(kMirrordRefPrefix) || dst == "refs/mirrord") {
    return bad("refs/mirrord/ is reserved for mirrord");
  }
  auto stars = [](std::string_view v) { return std::count(v.begin(), v.end(), '*'); };
  if (stars(src) > 1 || stars(src) != stars(dst)) {
    return bad("source and destination need the same single '*' or none");
  }
  // Always forced: a mirror follows the upstream, force pushes included.
  return "+" + std::string(src) + ":" + std::string(kStagingRefPrefix) + std::string(dst.substr(5));
}

Result<FetchResult> FetchMirror(const std::filesystem::path& dir, const FetchOptions& options) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  if (options.url.empty()) return InvalidArgument("no upstream URL");
  ASSIGN_OR_RETURN(ParsedRefspecs specs, ParseRefspecs(options.refspecs));
  std::string url_for_messages = RedactUrlCredentials(options.url);

  if (options.cancel != nullptr && options.cancel->load()) return Cancelled("fetch cancelled");
  // Fetched objects go to the staging repository, never into the object database that
  // upload-pack serves (mirror_staging.h); its alternates make the published history visible.
  ASSIGN_OR_RETURN(RepositoryPtr mirror, OpenBareRepository(dir.string()));
  ASSIGN_OR_RETURN(std::filesystem::path staging_dir, EnsureStagingRepository(dir));
  ASSIGN_OR_RETURN(RepositoryPtr repo, OpenBareRepository(staging_dir.string()));
  git_odb* raw_odb = nullptr;
  int rc = git_repository_odb(&raw_odb, repo.get());
  OdbPtr odb(raw_odb);
  if (rc < 0) return Libgit2Status(rc, "open the object database of " + staging_dir.string());
  RETURN_IF_ERROR(PruneDanglingStaging(repo.get(), odb.get()));
  // Objects an earlier, unpublished fetch staged: compacted below to what is still wanted.
  ASSIGN_OR_RETURN(std::vector<std::string> staged_before, StagedPacks(dir));

  HttpTransportOptions http;
  http.token = options.token;
  http.stall_timeout = options.stall_timeout;
  http.connect_timeout = options.connect_timeout;
  http.cancel = options.cancel;
  ASSIGN_OR_RETURN(http.extra_haves, CollectLocalTips(mirror.get(), repo.get(), odb.get()));
  mirror.reset();
  // Declared before the remote: the remote's transport uses it until the remote is freed.
  FetchContext ctx(options, std::move(http));
  git_remote* raw_remote = nullptr;
  // Anonymous (no name): nothing is written to the mirror's configuration. url.*.insteadOf
  // is skipped: the URL is used exactly as configured, and libgit2 1.5's insteadOf lookup
  // leaks PCRE2 match data for every configuration entry it scans.
  git_remote_create_options create_opts;
  git_remote_create_options_init(&create_opts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  create_opts.repository = repo.get();
  create_opts.name = nullptr;
  create_opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  rc = git_remote_create_with_opts(&raw_remote, options.url.c_str(), &create_opts);
  RemotePtr remote(raw_remote);
  if (rc < 0) return Libgit2Status(rc, "upstream " + url_for_messages);

  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.transfer_progress = OnTransferProgress;
  callbacks.sideband_progress = OnSidebandProgress;
  callbacks.transport = OnCreateTransport;
  callbacks.payload = &ctx;

  rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc < 0) return FetchError(ctx, rc, "connect to " + url_for_messages);

  ASSIGN_OR_RETURN(auto advertised, Advertised(ctx, remote.get()));
  std::string upstream_head;
  {
    ScopedGitBuf buf;
    rc = git_remote_default_branch(buf.get(), remote.get());
    if (rc == 0) {
      upstream_head = std::string(buf.view());
    } else if (rc != GIT_ENOTFOUND) {
      return FetchError(ctx, rc, "read the default branch of " + url_for_messages);
    }
  }
  ASSIGN_OR_RETURN(auto expected, ExpectedStaging(specs, advertised));

  std::vector<char*> spec_ptrs;
  for (std::string& s : specs.strings) spec_ptrs.push_back(s.data());
  git_strarray spec_array{spec_ptrs.data(), spec_ptrs.size()};
  git_fetch_options fetch_opts;
  git_fetch_options_init(&fetch_opts, GIT_FETCH_OPTIONS_VERSION);
  fetch_opts.callbacks = callbacks;
  fetch_opts.prune = GIT_FETCH_NO_PRUNE;  // pruned below, against the exact expected set
  fetch_opts.update_fetchhead = 0;
  fetch_opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // tags come through refspecs

  rc = git_remote_download(remote.get(), &spec_array, &fetch_opts);
  if (rc < 0) return FetchError(ctx, rc, "fetch from " + url_for_messages);
  if (CancelRequested(ctx)) return Cancelled("fetch cancelled");
  const git_indexer_progress* stats = git_remote_stats(remote.get());
  FetchResult result;
  result.received_bytes = stats->received_bytes;
  result.received_objects = stats->received_objects;
  result.total_objects = stats->total_objects;
  git_remote_disconnect(remote.get());

  rc = git_remote_update_tips(remote.get(), &callbacks, /*update_fetchhead=*/0,
                              GIT_REMOTE_DOWNLOAD_TAGS_NONE, "mirrord: fetch");
  if (rc < 0) return FetchError(ctx, rc, "update staging refs from " + url_for_messages);
  RETURN_IF_ERROR(PruneStaging(repo.get(), expected));

  std::set<std::string> published_names;
  for (const auto& [staging, value] : expected) {
    const auto& [oid, upstream_name] = value;
    git_oid local;
    rc = git_reference_name_to_id(&local, repo.get(), staging.c_str());
    if (rc < 0) return Libgit2Status(rc, "read " + staging);
    if (!git_oid_equal(&local, &oid)) {
      return Internal(staging + " is at " + OidHex(local) + " after the fetch, but " +
                      url_for_messages + " advertised " + OidHex(oid) + " for " + upstream_name);
    }
    std::string name = PublishedName(staging);
    ASSIGN_OR_RETURN(std::string peeled, PeeledOid(repo.get(), oid, name));
    published_names.insert(name);
    result.refs.push_back({std::move(name), OidHex(oid), std::move(peeled)});
  }
  std::sort(result.refs.begin(), result.refs.end(),
            [](const PublishedRef& a, const PublishedRef& b) { return a.name < b.name; });

  if (!staged_before.empty()) {
    std::vector<std::string> wanted, published;
    for (const PublishedRef& r : result.refs) wanted.push_back(r.oid);
    ASSIGN_OR_RETURN(std::vector<PublishedRef> current, ReadPublishedRefs(dir));
    for (const PublishedRef& r : current) published.push_back(r.oid);
    RETURN_IF_ERROR(CompactStagedObjects(dir, wanted, published));
  }

  if (!upstream_head.empty()) {
    for (const RefspecPtr& spec : specs.specs) {
      if (!git_refspec_src_matches(spec.get(), upstream_head.c_str())) continue;
      ScopedGitBuf dst;
      if (git_refspec_transform(dst.get(), spec.get(), upstream_head.c_str()) < 0) continue;
      std::string_view staging = dst.view();
      if (!staging.starts_with(kStagingRefPrefix)) continue;
      std::string name = PublishedName(staging);
      if (published_names.contains(name)) {
        result.head = name;
        break;
      }
    }
  }
  return result;
}

Result<std::vector<PublishedRef>> ListUpstreamRefs(const FetchOptions& options) {
  RETURN_IF_ERROR(EnsureLibgit2Initialized());
  if (options.url.empty()) return InvalidArgument("no upstream URL");
  ASSIGN_OR_RETURN(ParsedRefspecs specs, ParseRefspecs(options.refspecs));
  std::string url_for_messages = RedactUrlCredentials(options.url);
  HttpTransportOptions http;
  http.token = options.token;
  http.stall_timeout = options.stall_timeout;
  http.connect_timeout = options.connect_timeout;
  http.cancel = options.cancel;
  FetchContext ctx(options, std::move(http));
  if (CancelRequested(ctx)) return Cancelled("poll cancelled");
  git_remote* raw_remote = nullptr;
  int rc = git_remote_create_detached(&raw_remote, options.url.c_str());
  RemotePtr remote(raw_remote);
  if (rc < 0) return Libgit2Status(rc, "upstream " + url_for_messages);
  git_remote_callbacks callbacks;
  git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
  callbacks.transport = OnCreateTransport;
  callbacks.payload = &ctx;
  rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc < 0) return FetchError(ctx, rc, "connect to " + url_for_messages);
  ASSIGN_OR_RETURN(auto advertised, Advertised(ctx, remote.get()));
  git_remote_disconnect(remote.get());
  ASSIGN_OR_RETURN(auto expected, ExpectedStaging(specs, advertised));
  std::vector<PublishedRef> out;
  out.reserve(expected.size());
  for (const auto& [staging, value] : expected) {
    out.push_back({PublishedName(staging), OidHex(value.first), ""});
  }
  std::sort(out.begin(), out.end(),
            [](const PublishedRef& a, const PublishedRef& b) { return a.name < b.name; });
  return out;
}

}  // namespace mirrord
