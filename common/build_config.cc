#include "common/build_config.h"

#include <algorithm>
#include <set>

namespace mirrord {
namespace {

// Docker's --shm-size syntax as mirrord accepts it: digits, then an optional unit b/k/m/g.
bool IsShmSize(std::string_view v) {
  size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return false;
  std::string_view unit = v.substr(digits);
  return unit.empty() || unit == "b" || unit == "k" || unit == "m" || unit == "g";
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// One path component of a repository name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsValidNameComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    // A separator: ".", "_", "__" or a run of '-', followed by an alphanumeric.
    size_t j = i;
    if (c[i] == '.') {
      j = i + 1;
    } else if (c[i] == '_') {
      j = (i + 1 < c.size() && c[i + 1] == '_') ? i + 2 : i + 1;
    } else if (c[i] == '-') {
      while (j < c.size() && c[j] == '-') ++j;
    } else {
      return false;
    }
    if (j >= c.size() || !IsLowerAlnum(c[j])) return false;
    i = j;
  }
  return true;
}

// Reads the keys of one TOML table, remembering which were asked for so that leftovers are
// reported as unknown; every error is one line naming origin, section and key.
class Keys {
 public:
  Keys(const toml::table& t, std::string_view origin, std::string section)
      : t_(t), origin_(origin), section_(std::move(section)) {}

  Status Error(std::string_view key, std::string_view what) const {
    return InvalidArgument(origin_ + ": [" + section_ + "] " + std::string(key) + ": " +
                           std::string(what));
  }
  const toml::node* Get(std::string_view key) {
    seen_.insert(std::string(key));
    return t_.get(key);
  }
  Status String(std::string_view key, std::string* out, bool required = false) {
    const toml::node* n = Get(key);
    if (!n) return required ? Error(key, "is required") : Status::Ok();
    if (!n->is_string()) return Error(key, "expected a string");
    *out = *n->value<std::string>();
    if (required && out->empty()) return Error(key, "must not be empty");
    return Status::Ok();
  }
  Status Strings(std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    const toml::array* a = n->as_array();
    if (!a) return Error(key, "expected an array of strings");
    std::vector<std::string> v;
    for (const toml::node& e : *a) {
      if (!e.is_string()) return Error(key, "expected an array of strings");
      v.push_back(*e.value<std::string>());
    }
    *out = std::move(v);
    return Status::Ok();
  }
  Status StringTable(std::string_view key, std::map<std::string, std::string>* out) {
    const toml::node* n = Get(key);
    if (!n) return Status::Ok();
    const toml::table* t = n->as_table();
    if (!t) return Error(key, "expected a table of strings, e.g. { KEY = \"value\" }");
    for (const auto& [k, v] : *t) {
      if (!v.is_string())
        return Error(key, "value of " + std::string(k.str()) + " is not a string");
      (*out)[std::string(k.str())] = *v.value<std::string>();
    }
    return Status::Ok();
  }
  Status Unknown() const {
    for (const auto& [k, v] : t_) {
      if (!seen_.contains(std::string(k.str()))) return Error(k.str(), "unknown key");
    }
    return Status::Ok();
  }

 private:
  const toml::table& t_;
  std::string origin_;
  std::string section_;
  std::set<std::string> seen_;
};

// An absolute path without empty, "." or ".." components (a trailing '/' is allowed).
bool IsCleanAbsolutePath(std::string_view p) {
  if (!p.starts_with('/') || p.find('\0') != std::string_view::npos) return false;
  std::string_view rest = p.substr(1);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty()) return true;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view c = rest.substr(0, slash);
    if (c.empty() || c == "." || c == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

bool IsEnvName(std::string_view k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

bool IsPort(std::string_view p) {
  std::string_view num = p.substr(0, p.find('/'));
  if (p.find('/') != std::string_view::npos) {
    std::string_view proto = p.substr(p.find('/') + 1);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") return false;
  }
  if (num.empty() || num.size() > 5) return false;
  if (!std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int v = std::stoi(std::string(num));
  return v >= 1 && v <= 65535;
}

// ">=12.1", "=12", "<13.0.1": an operator and a dotted version.
bool IsCudaConstraint(std::string_view s) {
  for (std::string_view op : {">=", "<=", "=", ">", "<"}) {
    if (!s.starts_with(op)) continue;
    std::string_view v = s.substr(op.size());
    if (v.empty() || v.front() == '.' || v.back() == '.' ||
        v.find("..") != std::string_view::npos) {
      return false;
    }
    return std::all_of(v.begin(), v.end(),
                       [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
  }
  return false;
}

// A tag template: tag characters and the placeholders {ref} and {commit}.
bool IsTagTemplate(std::string_view t) {
  if (t.empty()) return false;
  for (size_t i = 0; i < t.size();) {
    if (t[i] == '{') {
      std::string_view rest = t.substr(i);
      if (rest.starts_with("{ref}")) {
        i += 5;
      } else if (rest.starts_with("{commit}")) {
        i += 8;
      } else {
        return false;
      }
      continue;
    }
    char c = t[i++];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "scratch", or REGISTRY/NAME[:TAG][@sha256:HEX] with a valid name.
bool IsBaseReference(std::string_view base) {
  if (base == "scratch") return true;
  std::string_view rest = base;
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    if (!digest.starts_with("sha256:") || !IsHex64(digest.substr(7))) return false;
    rest = rest.substr(0, at);
  }
  size_t slash = rest.find('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    if (!IsValidImageTag(rest.substr(colon + 1))) return false;
    rest = rest.substr(0, colon);
  } else if (at == std::string_view::npos) {
    return false;  // neither tag nor digest: say which image exactly
  }
  // An optional registry host (with '.' or ':' or "localhost") before the name.
  if (slash != std::string_view::npos) {
    std::string_view host = rest.substr(0, slash);
    if (host.find('.') != std::string_view::npos || host.find(':') != std::string_view::npos ||
        host == "localhost") {
      rest = rest.substr(slash + 1);
    }
  }
  return IsValidImageName(rest);
}

Status ParseFile(const toml::table& t, std::string_view origin, const std::string& section,
                 BuildFile* f) {
  Keys k(t, origin, section);
  std::string source, mode;
  RETURN_IF_ERROR(k.String("source", &source, true));
  if (!IsCleanAbsolutePath(source) || source.ends_with('/')) {
    return k.Error("source", "expected an absolute file path");
  }
  f->source = source;
  RETURN_IF_ERROR(k.String("dest", &f->dest, true));
  if (!IsCleanAbsolutePath(f->dest) || f->dest.ends_with('/') || f->dest == "/") {
    return k.Error("dest", "expected an absolute file path in the image");
  }
  const toml::node* m = k.Get("mode");
  if (m) {
    if (!m->is_string()) return k.Error("mode", "expected an octal string such as \"0755\"");
    mode = *m->value<std::string>();
    if (mode.empty() || mode.size() > 5 ||
        !std::all_of(mode.begin(), mode.end(), [](char c) { return c >= '0' && c <= '7'; })) {
      return k.Error("mode", "expected an octal string such as \"0755\"");
    }
    f->mode = static_cast<uint32_t>(std::stoul(mode, nullptr, 8));
    if (f->mode > 07777) return k.Error("mode", "beyond 07777");
  }
  RETURN_IF_ERROR(k.String("sha256", &f->sha256, true));
  if (!IsHex64(f->sha256)) return k.Error("sha256", "expected 64 lowercase hex digits");
  return k.Unknown();
}

// { registry = "lab", repository = "models/{name}", tags = ["{commit}"] }
Status ParsePushTarget(const toml::table& t, std::string_view origin, const std::string& section,
                       PushTarget* p) {
  Keys k(t, origin, section);
  RETURN_IF_ERROR(k.String("registry", &p->registry, true));
  RETURN_IF_ERROR(k.String("repository", &p->repository));
  // Any valid image name stands for {name}: the template is valid when "a" in its place is.
  std::string probe = p->repository;
  for (size_t at = probe.find("{name}"); at != std::string::npos; at = probe.find("{name}")) {
    probe.replace(at, 6, "a");
  }
  if (!IsValidImageName(probe)) {
    return k.Error("repository", "\"" + p->repository +
                                     "\" is not a repository name template (image name "
                                     "grammar, {name} for the image's name)");
  }
  RETURN_IF_ERROR(k.Strings("tags", &p->tags));
  for (const std::string& tag : p->tags) {
    if (!IsTagTemplate(tag)) {
      return k.Error("tags", "\"" + tag +
                                 "\" is not a tag template (tag characters "
                                 "A-Za-z0-9_.- and {ref}, {commit})");
    }
  }
  return k.Unknown();
}

Status ParseRecipe(const toml::table& t, std::string_view origin, const std::string& section,
                   const std::vector<std::string>& repo_names,
                   const std::map<std::string, RegistryConfig>& registries, BuildRecipe* r) {
  Keys k(t, origin, section);
  RETURN_IF_ERROR(k.String("name", &r->name, true));
  if (!IsValidImageName(r->name)) {
    return k.Error("name", "\"" + r->name +
                               "\" is not a valid image name (lowercase letters, "
                               "digits and . _ __ - separators, '/' between components)");
  }
  RETURN_IF_ERROR(k.String("repo", &r->repo, true));
  if (std::find(repo_names.begin(), repo_names.end(), r->repo) == repo_names.end()) {
    return k.Error("repo", "\"" + r->repo + "\" is not a mirrored repo ([[repos]] name)");
  }
  RETURN_IF_ERROR(k.Strings("refs", &r->refs));
  for (const std::string& ref : r->refs) {
    if (!ref.starts_with("refs/")) return k.Error("refs", "\"" + ref + "\" must start with refs/");
  }
  RETURN_IF_ERROR(k.Strings("include", &r->include));
  RETURN_IF_ERROR(k.Strings("exclude", &r->exclude));
  for (const auto* list : {&r->include, &r->exclude}) {
    for (const std::string& p : *list) {
      if (p.find('\0') != std::string::npos) {
        return k.Error(list == &r->include ? "include" : "exclude", "pattern has a NUL byte");
      }
    }
  }
  RETURN_IF_ERROR(k.String("model_dir", &r->model_dir));
  if (!r->model_dir.empty() && !IsCleanAbsolutePath(r->model_dir)) {
    return k.Error("model_dir", "expected an absolute path without . or .. components");
  }
  RETURN_IF_ERROR(k.String("base", &r->base));
  if (!IsBaseReference(r->base)) {
    return k.Error("base", "\"" + r->base +
                               "\" is neither scratch nor an image reference "
                               "REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:...");
  }
  if (const toml::node* files = k.Get("files")) {
    const toml::array* a = files->as_array();
    if (!a || !a->is_array_of_tables())
      return k.Error("files", "expected [[builds.files]] entries");
    std::set<std::string> dests;
    for (size_t i = 0; i < a->size(); ++i) {
      BuildFile f;
      RETURN_IF_ERROR(ParseFile(*a->get(i)->as_table(), origin,
                                section + " files #" + std::to_string(i + 1), &f));
      if (!dests.insert(f.dest).second) {
        return k.Error("files", "dest " + f.dest + " appears twice");
      }
      r->files.push_back(std::move(f));
    }
  }
  RETURN_IF_ERROR(k.Strings("entrypoint", &r->entrypoint));
  RETURN_IF_ERROR(k.Strings("cmd", &r->cmd));
  RETURN_IF_ERROR(k.StringTable("env", &r->env));
  for (const auto& [name, v] : r->env) {
    if (!IsEnvName(name)) return k.Error("env", "\"" + name + "\" is not a variable name");
  }
  RETURN_IF_ERROR(k.Strings("ports", &r->ports));
  for (const std::string& p : r->ports) {
    if (!IsPort(p)) return k.Error("ports", "\"" + p + "\" is not PORT or PORT/tcp|udp|sctp");
  }
  RETURN_IF_ERROR(k.String("workdir", &r->workdir));
  if (!r->workdir.empty() && !IsCleanAbsolutePath(r->workdir)) {
    return k.Error("workdir", "expected an absolute path");
  }
  RETURN_IF_ERROR(k.String("user", &r->user));
  RETURN_IF_ERROR(k.StringTable("labels", &r->labels));
  RETURN_IF_ERROR(k.String("require_cuda", &r->require_cuda));
  if (!r->require_cuda.empty() && !IsCudaConstraint(r->require_cuda)) {
    return k.Error("require_cuda", "expected a constraint such as \">=12.1\"");
  }
  RETURN_IF_ERROR(k.String("nvidia_visible_devices", &r->nvidia_visible_devices));
  RETURN_IF_ERROR(k.String("nvidia_driver_capabilities", &r->nvidia_driver_capabilities));
  if (const toml::node* n = k.Get("preflight")) {
    if (!n->is_boolean()) return k.Error("preflight", "expected true or false");
    r->preflight = *n->value<bool>();
  }
  if (const toml::node* n = k.Get("gpu_count")) {
    if (!n->is_integer()) return k.Error("gpu_count", "expected an integer");
    int64_t v = *n->value<int64_t>();
    if (v < 0 || v > 64) return k.Error("gpu_count", "must be between 0 and 64");
    r->gpu_count = static_cast<int>(v);
  }
  if (const toml::node* n = k.Get("min_gpu_memory")) {
    if (!n->is_integer()) return k.Error("min_gpu_memory", "expected a number of bytes");
    int64_t v = *n->value<int64_t>();
    if (v < 0) return k.Error("min_gpu_memory", "must not be negative");
    r->min_gpu_memory = static_cast<uint64_t>(v);
  }
  RETURN_IF_ERROR(k.String("shm_size", &r->shm_size));
  if (!r->shm_size.empty() && !IsShmSize(r->shm_size)) {
    return k.Error("shm_size", "expected a size such as \"16g\" (digits, then b, k, m or g)");
  }
  RETURN_IF_ERROR(k.Strings("tags", &r->tags));
  if (r->tags.empty()) return k.Error("tags", "must name at least one tag template");
  for (const std::string& tag : r->tags) {
    if (!IsTagTemplate(tag)) {
      return k.Error("tags", "\"" + tag +
                                 "\" is not a tag template (tag characters "
                                 "A-Za-z0-9_.- and {ref}, {commit})");
    }
  }
  if (const toml::node* keep = k.Get("keep")) {
    if (!keep->is_integer()) return k.Error("keep", "expected an integer");
    int64_t v = *keep->value<int64_t>();
    if (v < 1 || v > 1000) return k.Error("keep", "must be between 1 and 1000");
    r->keep = static_cast<int>(v);
  }
  if (const toml::node* push = k.Get("push")) {
    const toml::array* a = push->as_array();
    if (!a) return k.Error("push", "expected an array of [registries] names or tables");
    for (size_t i = 0; i < a->size(); ++i) {
      PushTarget target;
      const toml::node& e = *a->get(i);
      if (e.is_string()) {
        target.registry = *e.value<std::string>();
      } else if (const toml::table* entry = e.as_table()) {
        RETURN_IF_ERROR(
            ParsePushTarget(*entry, origin, section + " push #" + std::to_string(i + 1), &target));
      } else {
        return k.Error("push", "expected an array of [registries] names or tables");
      }
      if (!registries.contains(target.registry)) {
        return k.Error("push", "\"" + target.registry + "\" is not a [registries] name");
      }
      for (const PushTarget& other : r->push) {
        if (other.registry == target.registry) {
          return k.Error("push", "registry \"" + target.registry + "\" appears twice");
        }
      }
      r->push.push_back(std::move(target));
    }
  }
  return k.Unknown();
}

Status ParseRegistry(const toml::table& t, std::string_view origin, const std::string& name,
                     RegistryConfig* r) {
  Keys k(t, origin, "registries." + name);
  r->name = name;
  RETURN_IF_ERROR(k.String("url", &r->url, true));
  bool https = r->url.starts_with("https://");
  bool http = r->url.starts_with("http://");
  if (!https && !http) return k.Error("url", "must start with http:// or https://");
  {
    std::string_view rest = std::string_view(r->url).substr(https ? 8 : 7);
    while (rest.ends_with('/')) rest.remove_suffix(1);
    const bool bad_char = std::any_of(r->url.begin(), r->url.end(), [](char c) {
      auto u = static_cast<unsigned char>(c);
      return u <= 0x20 || u == 0x7f;
    });
    if (rest.empty() || bad_char || rest.find_first_of("/?#@") != std::string_view::npos) {
      return k.Error("url",
                     "expected http(s)://HOST[:PORT] (no path, credentials or spaces), "
                     "got \"" +
                         r->url + "\"");
    }
    r->url.resize(r->url.size() -
                  (std::string_view(r->url).substr(https ? 8 : 7).size() - rest.size()));
  }
  RETURN_IF_ERROR(k.String("username", &r->username));
  std::string path;
  for (auto [key, out] :
       {std::pair{"password_file", &r->password_file}, std::pair{"token_file", &r->token_file},
        std::pair{"ca_file", &r->ca_file}}) {
    path.clear();
    RETURN_IF_ERROR(k.String(key, &path));
    if (k.Get(key) && path.empty()) return k.Error(key, "must not be empty");
    *out = path;
  }
  if (!r->password_file.empty() && r->username.empty()) {
    return k.Error("password_file", "needs username");
  }
  if (!r->username.empty() && r->password_file.empty()) {
    return k.Error("username", "needs password_file");
  }
  if (!r->token_file.empty() && !r->password_file.empty()) {
    return k.Error("token_file", "set either username + password_file or token_file, not both");
  }
  if (const toml::node* n = k.Get("insecure")) {
    if (!n->is_boolean()) return k.Error("insecure", "expected true or false");
    r->insecure = *n->value<bool>();
  }
  if (http && !r->insecure) {
    return k.Error("url", "plain http:// needs insecure = true");
  }
  return k.Unknown();
}

}  // namespace

std::string PushTarget::RepositoryFor(std::string_view name) const {
  std::string out = repository;
  for (size_t at = out.find("{name}"); at != std::string::npos; at = out.find("{name}", at)) {
    out.replace(at, 6, name);
    at += name.size();
  }
  return out;
}

bool IsValidImageName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  while (true) {
    size_t slash = name.find('/');
    if (!IsValidNameComponent(name.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    name.remove_prefix(slash + 1);
  }
}

bool IsValidImageTag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (size_t i = 0; i < tag.size(); ++i) {
    char c = tag[i];
    bool word =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && (i == 0 || (c != '.' && c != '-'))) return false;
  }
  return true;
}

Status ParseBuildConfig(const toml::table& root, std::string_view origin,
                        const std::vector<std::string>& repo_names,
                        std::vector<BuildRecipe>* builds,
                        std::map<std::string, RegistryConfig>* registries) {
  std::string org(origin);
  if (const toml::node* regs = root.get("registries")) {
    const toml::table* t = regs->as_table();
    if (!t) return InvalidArgument(org + ": registries: expected [registries.NAME] tables");
    for (const auto& [name, node] : *t) {
      const toml::table* entry = node.as_table();
      if (!entry) {
        return InvalidArgument(org + ": [registries] " + std::string(name.str()) +
                               ": expected a table [registries." + std::string(name.str()) + "]");
      }
      RegistryConfig r;
      RETURN_IF_ERROR(ParseRegistry(*entry, origin, std::string(name.str()), &r));
      (*registries)[r.name] = std::move(r);
    }
  }
  if (const toml::node* b = root.get("builds")) {
    const toml::array* a = b->as_array();
    if (!a || !a->is_array_of_tables()) {
      return InvalidArgument(org + ": builds: expected [[builds]] entries");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < a->size(); ++i) {
      BuildRecipe r;
      std::string section = "builds #" + std::to_string(i + 1);
      RETURN_IF_ERROR(
          ParseRecipe(*a->get(i)->as_table(), origin, section, repo_names, *registries, &r));
      if (!names.insert(r.name).second) {
        return InvalidArgument(org + ": [" + section + "] name: \"" + r.name + "\" appears twice");
      }
      builds->push_back(std::move(r));
    }
  }
  return Status::Ok();
}

}  // namespace mirrord
