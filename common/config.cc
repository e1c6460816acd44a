#include "common/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <limits>
#include <set>

#include "common/file_util.h"
#include "common/repo_name.h"

namespace mirrord {
namespace {

// Walks one TOML table, remembering which keys were read so leftovers can be reported.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string origin, std::string section)
      : table_(table), origin_(std::move(origin)), section_(std::move(section)) {}

  Status Error(std::string_view key, std::string_view what) const {
    std::string m = origin_ + ": ";
    if (!section_.empty()) m += "[" + section_ + "] ";
    m += std::string(key) + ": " + std::string(what);
    return InvalidArgument(std::move(m));
  }

  const toml::node* Get(std::string_view key) {
    seen_.insert(std::string(key));
    return table_.get(key);
  }

  bool Has(std::string_view key) const { return table_.get(key) != nullptr; }

  // Each Read* leaves `out` unchanged when the key is absent.
  Status ReadString(std::string_view key, std::string* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    auto v = n->value<std::string>();
    if (!n->is_string() || !v) return Error(key, "expected a string");
    *out = *v;
    return Status::Ok();
  }

  Status ReadPath(std::string_view key, std::filesystem::path* out) {
    std::string s;
    const toml::node* n = table_.get(key);
    if (!n) {
      seen_.insert(std::string(key));
      return Status::Ok();
    }
    RETURN_IF_ERROR(ReadString(key, &s));
    if (s.empty()) return Error(key, "must not be empty");
    *out = s;
    return Status::Ok();
  }

  Status ReadBool(std::string_view key, bool* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    if (!n->is_boolean()) return Error(key, "expected true or false");
    *out = *n->value<bool>();
    return Status::Ok();
  }

  Status ReadInt(std::string_view key, int64_t min, int64_t max, int64_t* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    if (!n->is_integer()) return Error(key, "expected an integer");
    int64_t v = *n->value<int64_t>();
    if (v < min || v > max) {
      return Error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    *out = v;
    return Status::Ok();
  }

  Status ReadDuration(std::string_view key, std::chrono::seconds* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    if (n->is_integer()) {
      int64_t v = *n->value<int64_t>();
      if (v <= 0) return Error(key, "must be positive");
      *out = std::chrono::seconds(v);
      return Status::Ok();
    }
    if (!n->is_string()) return Error(key, "expected a duration such as \"90s\" or \"10m\"");
    auto d = ParseDuration(*n->value<std::string>());
    if (!d) return Error(key, d.error().message());
    *out = *d;
    return Status::Ok();
  }

  Status ReadStringList(std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    const toml::array* arr = n->as_array();
    if (!arr) return Error(key, "expected an array of strings");
    std::vector<std::string> values;
    for (const toml::node& e : *arr) {
      if (!e.is_string()) return Error(key, "expected an array of strings");
      values.push_back(*e.value<std::string>());
    }
    *out = std::move(values);
    return Status::Ok();
  }

  // Fails on the first key that no Read*/Get asked for.
  Status RejectUnknownKeys() const {
    for (const auto& [k, v] : table_) {
      if (!seen_.contains(std::string(k.str()))) return Error(k.str(), "unknown key");
    }
    return Status::Ok();
  }

 private:
  const toml::table& table_;
  std::string origin_;
  std::string section_;
  std::set<std::string> seen_;
};

Status ParseListen(TableReader& r, Config* c) {
  std::string listen;
  RETURN_IF_ERROR(r.ReadString("listen", &listen));
  if (listen.empty()) return Status::Ok();
  size_t colon = listen.rfind(':');
  auto bad = [&] { return r.Error("listen", "expected HOST:PORT, got \"" + listen + "\""); };
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return bad();
  std::string host = listen.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port);
  if (ec != std::errc() || p != listen.data() + listen.size() || port > 65535) return bad();
  c->listen_host = host;
  c->listen_port = static_cast<uint16_t>(port);
  return Status::Ok();
}

// An optional listener address (common/listen_address.h).
Status ReadListenAddress(TableReader& r, std::string_view key, std::optional<ListenAddress>* out) {
  std::string text;
  RETURN_IF_ERROR(r.ReadString(key, &text));
  if (text.empty()) return Status::Ok();
  Result<ListenAddress> address = ParseListenAddress(text);
  if (!address.ok()) return r.Error(key, address.error().message());
  *out = std::move(*address);
  return Status::Ok();
}

// [server] tls_cert, tls_key, plain_listen, access_log (issue 13). The files are read when
// mirrord starts (and tls_* on SIGHUP), not here.
Status ParseTlsAndAccessLog(TableReader& r, Config* c) {
  RETURN_IF_ERROR(r.ReadPath("tls_cert", &c->tls_cert));
  RETURN_IF_ERROR(r.ReadPath("tls_key", &c->tls_key));
  if (c->tls_cert.empty() != c->tls_key.empty()) {
    return r.Error(c->tls_cert.empty() ? "tls_cert" : "tls_key",
                   "tls_cert and tls_key go together");
  }
  RETURN_IF_ERROR(ReadListenAddress(r, "plain_listen", &c->plain_listen));
  if (c->plain_listen && c->tls_cert.empty()) {
    return r.Error("plain_listen",
                   "is the plain HTTP listener beside an HTTPS listen: "
                   "set tls_cert and tls_key too");
  }
  RETURN_IF_ERROR(r.ReadPath("access_log", &c->access_log));
  return Status::Ok();
}

Status ValidateRefspec(TableReader& r, std::string_view key, const std::string& spec) {
  std::string_view s = spec;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::string_view src = s.substr(0, s.find(':'));
  if (src.rfind("refs/", 0) != 0 || src.find("..") != std::string_view::npos ||
      src.find_first_of(" \t\n\\^~?[") != std::string_view::npos) {
    return r.Error(key, "invalid refspec \"" + spec + "\" (expected e.g. \"+refs/heads/*\")");
  }
  if (src.rfind("refs/mirrord/", 0) == 0) {
    return r.Error(key, "refspec \"" + spec + "\" reaches into mirrord's own namespace");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> NormalizePublicUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("expected an http:// or https:// URL (" + std::string(why) +
                           "), got \"" + std::string(url) + "\"");
  };
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else {
    return bad("scheme");
  }
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad("whitespace or control characters");
  }
  if (url.find_first_of("?#") != std::string_view::npos) return bad("query or fragment");
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty()) return bad("no host");
  if (authority.find('@') != std::string_view::npos) return bad("user information");
  std::string out(url);
  while (out.back() == '/') out.pop_back();
  return out;
}

Result<std::chrono::seconds> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument("expected a duration such as \"90s\", \"10m\", \"2h\", \"1d\", got \"" +
                           std::string(text) + "\"");
  };
  if (text.empty()) return bad();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n <= 0) return bad();
  std::string_view unit(p, static_cast<size_t>(text.data() + text.size() - p));
  int64_t mult;
  if (unit.empty() || unit == "s")
    mult = 1;
  else if (unit == "m")
    mult = 60;
  else if (unit == "h")
    mult = 3600;
  else if (unit == "d")
    mult = 86400;
  else
    return bad();
  if (n > (int64_t{1} << 40) / mult) return bad();
  return std::chrono::seconds(n * mult);
}

Result<std::chrono::seconds> ParseDurationOrZero(std::string_view text) {
  if (text == "0" || text == "0s" || text == "0m" || text == "0h" || text == "0d") {
    return std::chrono::seconds(0);
  }
  return ParseDuration(text);
}

namespace {

// A duration key that 0 turns off (integer 0 or a zero duration string).
Status ReadDurationOrZero(TableReader& r, std::string_view key, std::chrono::seconds* out) {
  const toml::node* n = r.Get(key);
  if (n != nullptr &&
      ((n->is_integer() && *n->value<int64_t>() == 0) ||
       (n->is_string() && ParseDurationOrZero(*n->value<std::string>()).ok() &&
        *ParseDurationOrZero(*n->value<std::string>()) == std::chrono::seconds(0)))) {
    *out = std::chrono::seconds(0);
    return Status::Ok();
  }
  return r.ReadDuration(key, out);
}

// The LFS policy keys: in [lfs] (`prefix` "") enabled/history/include/exclude, in [[repos]]
// (`prefix` "lfs_") lfs/lfs_history/lfs_include/lfs_exclude. Absent keys keep `policy`'s.
Status ReadLfsPolicy(TableReader& r, std::string_view prefix, LfsPolicy* policy) {
  const std::string p(prefix);
  RETURN_IF_ERROR(r.ReadBool(p.empty() ? "enabled" : "lfs", &policy->enabled));
  std::string history;
  RETURN_IF_ERROR(r.ReadString(p + "history", &history));
  if (history == "all") {
    policy->all_history = true;
  } else if (history == "tips") {
    policy->all_history = false;
  } else if (!history.empty()) {
    return r.Error(p + "history", "expected \"tips\" or \"all\", got \"" + history + "\"");
  }
  for (const char* key : {"include", "exclude"}) {
    std::vector<std::string>* globs =
        std::string_view(key) == "include" ? &policy->include : &policy->exclude;
    RETURN_IF_ERROR(r.ReadStringList(p + key, globs));
    for (const std::string& g : *globs) {
      if (g.empty() || g.find('\0') != std::string::npos) {
        return r.Error(p + key, "path globs must not be empty");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const LfsPolicy& Config::LfsPolicyFor(std::string_view name) const {
  for (const RepoConfig& r : repos) {
    if (r.name == name && r.lfs) return *r.lfs;
  }
  return lfs.policy;
}

bool Config::RepoIsPrivate(std::string_view name, std::string_view upstream) const {
  for (const RepoConfig& r : repos) {
    if (r.name == name && r.is_private) return *r.is_private;
  }
  if (upstream.empty()) return false;
  auto it = upstreams.find(std::string(upstream));
  if (it == upstreams.end()) return false;
  if (it->second.is_private) return *it->second.is_private;
  return !it->second.token_file.empty();
}

Config DefaultConfig() {
  Config c;
  c.upstreams["github"] =
      UpstreamConfig{"github", "https://github.com/{repo}.git", {}, std::nullopt};
  c.upstreams["hf"] = UpstreamConfig{"hf", "https://huggingface.co/{repo}", {}, std::nullopt};
  c.admin_token_file = c.storage_root / "admin.token";
  return c;
}

Result<Config> ParseConfig(std::string_view toml_text, std::string_view origin) {
  std::string org(origin);
  toml::table root;
  try {
    root = toml::parse(toml_text, org);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return InvalidArgument(org + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) + ": " + std::string(e.description()));
  }
  Config c = DefaultConfig();
  bool token_file_set = false;
  TableReader top(root, org, "");

  auto section = [&](std::string_view name) -> Result<const toml::table*> {
    const toml::node* n = top.Get(name);
    if (!n) return static_cast<const toml::table*>(nullptr);
    if (!n->is_table()) return top.Error(name, "expected a table [" + std::string(name) + "]");
    return n->as_table();
  };

  ASSIGN_OR_RETURN(const toml::table* server, section("server"));
  if (server) {
    TableReader r(*server, org, "server");
    RETURN_IF_ERROR(ParseListen(r, &c));
    RETURN_IF_ERROR(ParseTlsAndAccessLog(r, &c));
    RETURN_IF_ERROR(r.ReadDuration("read_timeout", &c.read_timeout));
    RETURN_IF_ERROR(r.ReadString("public_url", &c.public_url));
    if (!c.public_url.empty()) {
      Result<std::string> url = NormalizePublicUrl(c.public_url);
      if (!url.ok()) return r.Error("public_url", url.error().message());
      c.public_url = std::move(*url);
    }
    int64_t v = static_cast<int64_t>(c.max_connections);
    RETURN_IF_ERROR(r.ReadInt("max_connections", 1, 1000000, &v));
    c.max_connections = static_cast<size_t>(v);
    v = static_cast<int64_t>(c.max_connections_per_client);
    RETURN_IF_ERROR(r.ReadInt("max_connections_per_client", 1, 1000000, &v));
    c.max_connections_per_client = static_cast<size_t>(v);
    if (c.max_connections_per_client > c.max_connections) {
      return r.Error("max_connections_per_client", "must not exceed max_connections");
    }
    RETURN_IF_ERROR(r.ReadDuration("request_timeout", &c.request_timeout));
    v = static_cast<int64_t>(c.min_transfer_rate);
    RETURN_IF_ERROR(r.ReadInt("min_transfer_rate", 0, int64_t{1} << 40, &v));
    c.min_transfer_rate = static_cast<uint64_t>(v);
    v = static_cast<int64_t>(c.body_memory_budget);
    RETURN_IF_ERROR(r.ReadInt("body_memory_budget", int64_t{1} << 20, int64_t{1} << 40, &v));
    c.body_memory_budget = static_cast<uint64_t>(v);
    std::string level;
    RETURN_IF_ERROR(r.ReadString("log_level", &level));
    if (!level.empty() && !ParseLogLevel(level, &c.log_level)) {
      return r.Error("log_level", "expected debug, info, warning or error");
    }
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* storage, section("storage"));
  if (storage) {
    TableReader r(*storage, org, "storage");
    RETURN_IF_ERROR(r.ReadPath("root", &c.storage_root));
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* admin, section("admin"));
  if (admin) {
    TableReader r(*admin, org, "admin");
    std::filesystem::path before = c.admin_token_file;
    RETURN_IF_ERROR(r.ReadPath("token_file", &c.admin_token_file));
    token_file_set = c.admin_token_file != before;
    RETURN_IF_ERROR(ReadListenAddress(r, "listen", &c.admin_listen));
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }
  if (!token_file_set) c.admin_token_file = c.storage_root / "admin.token";

  ASSIGN_OR_RETURN(const toml::table* sync, section("sync"));
  if (sync) {
    TableReader r(*sync, org, "sync");
    RETURN_IF_ERROR(r.ReadDuration("stall_timeout", &c.stall_timeout));
    int64_t conc = c.sync_concurrency;
    RETURN_IF_ERROR(r.ReadInt("concurrency", 1, 256, &conc));
    c.sync_concurrency = static_cast<int>(conc);
    RETURN_IF_ERROR(r.ReadStringList("refspecs", &c.refspecs));
    if (c.refspecs.empty()) return r.Error("refspecs", "must name at least one refspec");
    for (const auto& spec : c.refspecs) RETURN_IF_ERROR(ValidateRefspec(r, "refspecs", spec));
    RETURN_IF_ERROR(r.ReadBool("maintenance", &c.maintenance));
    RETURN_IF_ERROR(r.ReadDuration("default_poll_interval", &c.default_poll_interval));
    if (c.default_poll_interval.count() < 1) {
      return r.Error("default_poll_interval", "must be at least 1s");
    }
    int64_t v = c.per_host_concurrency;
    RETURN_IF_ERROR(r.ReadInt("per_host_concurrency", 1, 256, &v));
    c.per_host_concurrency = static_cast<int>(v);
    v = c.retry_attempts;
    RETURN_IF_ERROR(r.ReadInt("retry_attempts", 1, 100, &v));
    c.retry_attempts = static_cast<int>(v);
    RETURN_IF_ERROR(r.ReadDuration("retry_backoff", &c.retry_backoff));
    RETURN_IF_ERROR(r.ReadDuration("retry_backoff_max", &c.retry_backoff_max));
    if (c.retry_backoff_max < c.retry_backoff) {
      return r.Error("retry_backoff_max", "must not be shorter than retry_backoff");
    }
    RETURN_IF_ERROR(r.ReadDuration("retired_retention", &c.retired_retention));
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* queue, section("queue"));
  if (queue) {
    TableReader r(*queue, org, "queue");
    RETURN_IF_ERROR(r.ReadString("backend", &c.queue_backend));
    if (c.queue_backend != "sqlite" && c.queue_backend != "redis") {
      return r.Error("backend", "expected \"sqlite\" or \"redis\"");
    }
    RETURN_IF_ERROR(r.ReadString("redis_url", &c.redis_url));
    if (c.queue_backend == "redis" && c.redis_url.empty()) {
      return r.Error("redis_url", "is required with backend = \"redis\"");
    }
    RETURN_IF_ERROR(r.ReadString("redis_key_prefix", &c.redis_key_prefix));
    RETURN_IF_ERROR(r.ReadString("node_id", &c.node_id));
    RETURN_IF_ERROR(r.ReadDuration("lease", &c.lease));
    if (c.lease.count() < 3) return r.Error("lease", "must be at least 3s");
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* webhooks, section("webhooks"));
  if (webhooks) {
    TableReader w(*webhooks, org, "webhooks");
    if (const toml::node* gh = w.Get("github")) {
      if (!gh->is_table()) return w.Error("github", "expected a table [webhooks.github]");
      TableReader r(*gh->as_table(), org, "webhooks.github");
      RETURN_IF_ERROR(r.ReadPath("secret_file", &c.github_webhook_secret_file));
      RETURN_IF_ERROR(r.RejectUnknownKeys());
    }
    RETURN_IF_ERROR(w.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* lfs, section("lfs"));
  if (lfs) {
    TableReader r(*lfs, org, "lfs");
    RETURN_IF_ERROR(ReadLfsPolicy(r, "", &c.lfs.policy));
    int64_t v = c.lfs.connections;
    RETURN_IF_ERROR(r.ReadInt("connections", 1, 64, &v));
    c.lfs.connections = static_cast<int>(v);
    v = c.lfs.concurrent_objects;
    RETURN_IF_ERROR(r.ReadInt("concurrent_objects", 1, 64, &v));
    c.lfs.concurrent_objects = static_cast<int>(v);
    v = c.lfs.per_host_connections;
    RETURN_IF_ERROR(r.ReadInt("per_host_connections", 1, 1024, &v));
    c.lfs.per_host_connections = static_cast<int>(v);
    v = c.lfs.verify_retries;
    RETURN_IF_ERROR(r.ReadInt("verify_retries", 0, 10, &v));
    c.lfs.verify_retries = static_cast<int>(v);
    RETURN_IF_ERROR(r.ReadDuration("pull_through_timeout", &c.lfs.pull_through_timeout));
    v = c.lfs.download_threads;
    RETURN_IF_ERROR(r.ReadInt("download_threads", 1, 1024, &v));
    c.lfs.download_threads = static_cast<int>(v);
    v = static_cast<int64_t>(c.lfs.quarantine_budget);
    RETURN_IF_ERROR(r.ReadInt("quarantine_budget", 0, std::numeric_limits<int64_t>::max(), &v));
    c.lfs.quarantine_budget = static_cast<uint64_t>(v);
    v = c.lfs.quarantine_per_object;
    RETURN_IF_ERROR(r.ReadInt("quarantine_per_object", 0, 100, &v));
    c.lfs.quarantine_per_object = static_cast<int>(v);
    RETURN_IF_ERROR(r.ReadDuration("corrupt_backoff", &c.lfs.corrupt_backoff));
    RETURN_IF_ERROR(r.ReadDuration("corrupt_backoff_max", &c.lfs.corrupt_backoff_max));
    if (c.lfs.corrupt_backoff.count() < 1 || c.lfs.corrupt_backoff_max < c.lfs.corrupt_backoff) {
      return r.Error("corrupt_backoff", "must be at least 1s and at most corrupt_backoff_max");
    }
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* gc, section("gc"));
  if (gc) {
    TableReader r(*gc, org, "gc");
    RETURN_IF_ERROR(r.ReadDuration("grace", &c.gc.grace));
    RETURN_IF_ERROR(ReadDurationOrZero(r, "interval", &c.gc.interval));
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }
  ASSIGN_OR_RETURN(const toml::table* verify, section("verify"));
  if (verify) {
    TableReader r(*verify, org, "verify");
    int64_t v = static_cast<int64_t>(c.verify.rate);
    RETURN_IF_ERROR(r.ReadInt("rate", 0, int64_t{1} << 40, &v));
    c.verify.rate = static_cast<uint64_t>(v);
    RETURN_IF_ERROR(ReadDurationOrZero(r, "interval", &c.verify.interval));
    RETURN_IF_ERROR(r.RejectUnknownKeys());
  }

  ASSIGN_OR_RETURN(const toml::table* upstreams, section("upstreams"));
  if (upstreams) {
    for (const auto& [key, node] : *upstreams) {
      std::string name(key.str());
      std::string sect = "upstreams." + name;
      if (!node.is_table()) return top.Error(sect, "expected a table [" + sect + "]");
      TableReader r(*node.as_table(), org, sect);
      UpstreamConfig u = c.upstreams.contains(name) ? c.upstreams[name] : UpstreamConfig{};
      u.name = name;
      RETURN_IF_ERROR(r.ReadString("url", &u.url_template));
      if (u.url_template.empty()) return r.Error("url", "is required");
      if (u.url_template.find("{repo}") == std::string::npos) {
        return r.Error("url", "must contain {repo}, e.g. \"https://example.com/{repo}.git\"");
      }
      if (u.url_template.rfind("http://", 0) != 0 && u.url_template.rfind("https://", 0) != 0) {
        return r.Error("url", "must start with http:// or https://");
      }
      RETURN_IF_ERROR(r.ReadPath("token_file", &u.token_file));
      if (r.Has("private")) {
        bool is_private = false;
        RETURN_IF_ERROR(r.ReadBool("private", &is_private));
        u.is_private = is_private;
      }
      RETURN_IF_ERROR(r.RejectUnknownKeys());
      c.upstreams[name] = std::move(u);
    }
  }

  if (const toml::node* repos = top.Get("repos")) {
    const toml::array* arr = repos->as_array();
    if (!arr || !arr->is_array_of_tables()) {
      return top.Error("repos", "expected [[repos]] entries");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < arr->size(); ++i) {
      TableReader r(*arr->get(i)->as_table(), org, "repos #" + std::to_string(i + 1));
      RepoConfig rc;
      RETURN_IF_ERROR(r.ReadString("name", &rc.name));
      auto valid = ValidateRepoName(rc.name);
      if (!valid) return r.Error("name", valid.error().message());
      rc.name = *valid;
      if (!names.insert(rc.name).second)
        return r.Error("name", "\"" + rc.name + "\" appears twice");
      RETURN_IF_ERROR(r.ReadString("upstream", &rc.upstream));
      RETURN_IF_ERROR(r.ReadString("path", &rc.path));
      RETURN_IF_ERROR(r.ReadString("url", &rc.url));
      if (!rc.url.empty() && !rc.upstream.empty()) {
        return r.Error("url", "set either upstream or url, not both");
      }
      if (rc.url.empty() && rc.upstream.empty()) rc.upstream = "github";
      if (!rc.upstream.empty() && !c.upstreams.contains(rc.upstream)) {
        return r.Error("upstream", "unknown upstream \"" + rc.upstream + "\"");
      }
      if (rc.path.empty()) rc.path = rc.name;
      // What registering it would refuse is refused here, so that --check-config and a
      // reload catch it (a start must never fail on a [[repos]] entry that parsed).
      if (Status s = ValidateRepoSource(c, rc.upstream, rc.url.empty() ? rc.path : "", rc.url);
          !s.ok()) {
        return r.Error(rc.url.empty() ? "path" : "url", s.message());
      }
      std::chrono::seconds poll{0};
      RETURN_IF_ERROR(r.ReadDuration("poll_interval", &poll));
      if (poll.count() > 0) rc.poll_interval = poll;
      RETURN_IF_ERROR(r.ReadStringList("refspecs", &rc.refspecs));
      for (const auto& spec : rc.refspecs) RETURN_IF_ERROR(ValidateRefspec(r, "refspecs", spec));
      if (r.Has("lfs") || r.Has("lfs_history") || r.Has("lfs_include") || r.Has("lfs_exclude")) {
        LfsPolicy policy = c.lfs.policy;
        RETURN_IF_ERROR(ReadLfsPolicy(r, "lfs_", &policy));
        rc.lfs = std::move(policy);
      }
      if (r.Has("private")) {
        bool is_private = false;
        RETURN_IF_ERROR(r.ReadBool("private", &is_private));
        rc.is_private = is_private;
      }
      RETURN_IF_ERROR(r.RejectUnknownKeys());
      c.repos.push_back(std::move(rc));
    }
  }
  // [[builds]] and [registries.*]: common/build_config.h.
  top.Get("builds");
  top.Get("registries");
  {
    std::vector<std::string> repo_names;
    for (const RepoConfig& rc : c.repos) repo_names.push_back(rc.name);
    RETURN_IF_ERROR(ParseBuildConfig(root, org, repo_names, &c.builds, &c.registries));
  }
  RETURN_IF_ERROR(top.RejectUnknownKeys());
  return c;
}

Result<Config> LoadConfigFile(const std::filesystem::path& file) {
  auto text = ReadFileToString(file);
  if (!text) return text.error().WithContext("cannot read config");
  return ParseConfig(*text, file.string());
}

Result<std::string> ResolveUpstreamUrl(const Config& config, std::string_view upstream,
                                       std::string_view path) {
  auto it = config.upstreams.find(std::string(upstream));
  if (it == config.upstreams.end()) {
    return InvalidArgument("unknown upstream \"" + std::string(upstream) + "\"");
  }
  if (path.empty() || path.front() == '/' || path.find("..") != std::string_view::npos ||
      path.find_first_of(" \t\r\n?#") != std::string_view::npos) {
    return InvalidArgument("invalid upstream path \"" + std::string(path) + "\"");
  }
  std::string url = it->second.url_template;
  size_t pos = url.find("{repo}");
  url.replace(pos, 6, path);
  return url;
}

Status ValidateRepoSource(const Config& config, std::string_view upstream, std::string_view path,
                          std::string_view url) {
  if (!url.empty() && !upstream.empty()) {
    return InvalidArgument("give either an upstream or a url, not both");
  }
  if (url.empty()) return ResolveUpstreamUrl(config, upstream, path).status();
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return InvalidArgument("url must start with http:// or https://");
  }
  if (url.find_first_of(" \t\r\n") != std::string_view::npos) {
    return InvalidArgument("url must not contain whitespace");
  }
  return Status::Ok();
}

Result<std::string> ResolveUpstreamUrl(const Config& config, const RepoConfig& repo) {
  if (!repo.url.empty()) return repo.url;
  return ResolveUpstreamUrl(config, repo.upstream, repo.path.empty() ? repo.name : repo.path);
}

}  // namespace mirrord
