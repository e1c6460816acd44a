#include "deploy/image_builder.h"

#include <malloc.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <utility>

#include "common/log.h"
#include "common/sha256.h"
#include "deploy/image_retention.h"
#include "deploy/layer_digest.h"
#include "deploy/model_tree.h"
#include "deploy/oci_json.h"
#include "deploy/preflight_layers.h"
#include "deploy/tar_layer.h"

namespace mirrord {
namespace {

// "/models/org/repo/" -> "models/org/repo"; "/" -> "".
std::string RelativeDir(std::string_view dir) {
  while (dir.starts_with('/')) dir.remove_prefix(1);
  while (dir.ends_with('/')) dir.remove_suffix(1);
  return std::string(dir);
}

std::string JoinPath(const std::string& dir, const std::string& path) {
  return dir.empty() ? path : dir + "/" + path;
}

// Directory entries for every ancestor of the entries' paths, then the entries, each group
// sorted by path, so a layer extracts on its own and its bytes do not depend on input order.
std::vector<TarLayerEntry> WithParentDirs(std::vector<TarLayerEntry> files) {
  std::set<std::string> dirs;
  for (const TarLayerEntry& f : files) {
    std::string_view p = f.entry.path;
    for (size_t slash = p.find('/'); slash != std::string_view::npos;
         slash = p.find('/', slash + 1)) {
      dirs.insert(std::string(p.substr(0, slash + 1)));
    }
  }
  std::sort(files.begin(), files.end(), [](const TarLayerEntry& a, const TarLayerEntry& b) {
    return a.entry.path < b.entry.path;
  });
  std::vector<TarLayerEntry> out;
  for (const std::string& d : dirs) {
    TarLayerEntry e;
    e.entry.type = TarEntryType::kDirectory;
    e.entry.path = d;
    e.entry.mode = 0755;
    out.push_back(std::move(e));
  }
  for (TarLayerEntry& f : files) out.push_back(std::move(f));
  return out;
}

TarLayerEntry InlineEntry(std::string path, uint32_t mode, std::string content) {
  TarLayerEntry e;
  e.entry.path = std::move(path);
  e.entry.mode = mode;
  e.entry.size = content.size();
  e.inline_data = std::move(content);
  e.has_inline = true;
  return e;
}

// Builds a layer of inline or file-backed entries and streams it into the OciStore (at most
// 1 MiB of it in memory at a time). On failure, e.g. a pinned file whose bytes do not
// match, the partial blob is removed and nothing is stored.
Result<OciDescriptor> StoreLayer(std::vector<TarLayerEntry> files, BuildStores& stores) {
  ASSIGN_OR_RETURN(TarLayer layer, TarLayer::Create(WithParentDirs(std::move(files))));
  ASSIGN_OR_RETURN(OciStore::Writer writer, stores.oci.NewWriter());
  RETURN_IF_ERROR(ReadTarLayer(layer, stores.lfs, 0, layer.size(),
                               [&](std::string_view d) { return writer.Append(d); }));
  ASSIGN_OR_RETURN(std::string digest, writer.Commit());
  return OciDescriptor{kOciTarLayerType, digest, layer.size(), {}};
}

std::string_view RawMediaType(std::string_view path) {
  std::string_view base =
      path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  if (base.ends_with(".md") || base.ends_with(".txt") || base.starts_with("LICENSE") ||
      base.starts_with("README")) {
    return kModelDocType;
  }
  if (base.ends_with(".py") || base.ends_with(".sh")) return kModelCodeType;
  return kModelWeightConfigType;
}

bool IsTagChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Splits `n` items into `groups` contiguous runs whose lengths differ by at most one.
std::vector<std::pair<size_t, size_t>> EvenRuns(size_t n, size_t groups) {
  std::vector<std::pair<size_t, size_t>> runs;
  if (groups == 0) return runs;  // no weight files
  size_t base = n / groups, extra = n % groups, at = 0;
  for (size_t g = 0; g < groups; ++g) {
    size_t len = base + (g < extra ? 1 : 0);
    if (len > 0) runs.emplace_back(at, at + len);
    at += len;
  }
  return runs;
}

// What an image inherits from its base's config.
struct BaseConfig {
  std::string architecture;
  std::string os;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> ports;
  std::vector<std::string> diff_ids;
};

Result<BaseConfig> ParseBaseConfig(std::string_view bytes) {
  namespace json = boost::json;
  boost::system::error_code ec;
  json::value v = json::parse(bytes, ec);
  if (ec || !v.is_object()) return InvalidArgument("the base's config is not a JSON object");
  const json::object& o = v.as_object();
  BaseConfig b;
  auto str = [](const json::object& obj, std::string_view key) {
    const json::value* f = obj.if_contains(key);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  auto strings = [](const json::object& obj, std::string_view key) {
    std::vector<std::string> out;
    const json::value* f = obj.if_contains(key);
    if (f != nullptr && f->is_array()) {
      for (const json::value& e : f->as_array()) {
        if (e.is_string()) out.emplace_back(e.as_string());
      }
    }
    return out;
  };
  b.architecture = str(o, "architecture");
  b.os = str(o, "os");
  if (const json::value* c = o.if_contains("config"); c != nullptr && c->is_object()) {
    const json::object& co = c->as_object();
    for (const std::string& kv : strings(co, "Env")) {
      size_t eq = kv.find('=');
      if (eq != std::string::npos) b.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    b.entrypoint = strings(co, "Entrypoint");
    b.cmd = strings(co, "Cmd");
    b.working_dir = str(co, "WorkingDir");
    b.user = str(co, "User");
    if (const json::value* l = co.if_contains("Labels"); l != nullptr && l->is_object()) {
      for (const auto& kv : l->as_object()) {
        if (kv.value().is_string())
          b.labels[std::string(kv.key())] = std::string(kv.value().as_string());
      }
    }
    if (const json::value* p = co.if_contains("ExposedPorts"); p != nullptr && p->is_object()) {
      for (const auto& kv : p->as_object()) b.ports.emplace_back(kv.key());
    }
  }
  if (const json::value* r = o.if_contains("rootfs"); r != nullptr && r->is_object()) {
    b.diff_ids = strings(r->as_object(), "diff_ids");
  }
  return b;
}

}  // namespace

std::string ShortRefName(std::string_view ref) {
  for (std::string_view prefix : {"refs/heads/", "refs/tags/", "refs/"}) {
    if (ref.starts_with(prefix)) return std::string(ref.substr(prefix.size()));
  }
  return std::string(ref);
}

std::string ExpandTagTemplate(std::string_view tmpl, std::string_view ref,
                              std::string_view commit) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.substr(i).starts_with("{ref}")) {
      out += ShortRefName(ref);
      i += 5;
    } else if (tmpl.substr(i).starts_with("{commit}")) {
      out += commit;
      i += 8;
    } else {
      out += tmpl[i++];
    }
  }
  for (char& c : out) {
    if (!IsTagChar(c)) c = '-';
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '-')) out[0] = '_';
  if (out.size() > 128) out.resize(128);
  return out;
}

namespace {

// BuildImage up to its publication, under the collector's lock (deploy/image_retention.h).
Result<BuildOutcome> BuildAndPublish(const BuildRecipe& recipe, const BuildInputs& inputs,
                                     BuildStores stores, int64_t now) {
  std::shared_lock collection_lock(stores.oci.collection_mutex());
  if (recipe.base != "scratch" && inputs.base == nullptr) {
    return InvalidArgument("build " + recipe.name + ": base " + recipe.base + " was not pulled");
  }
  const PulledBase* base = recipe.base == "scratch" ? nullptr : inputs.base;
  BaseConfig base_config;
  if (base != nullptr) {
    ASSIGN_OR_RETURN(base_config, ParseBaseConfig(base->config));
    if (base->layers.size() + 2 >= kMaxImageLayers) {
      return InvalidArgument("build " + recipe.name + ": base has " +
                             std::to_string(base->layers.size()) + " layers");
    }
  }
  BuildProgress progress;
  auto report = [&](std::string_view phase) {
    progress.phase = std::string(phase);
    if (inputs.on_progress) inputs.on_progress(progress);
  };
  auto cancelled = [&] { return inputs.cancel != nullptr && inputs.cancel->load(); };
  report("model");
  ASSIGN_OR_RETURN(LfsPathFilter filter, LfsPathFilter::Create(recipe.include, recipe.exclude));
  std::string rev = inputs.commit.empty() ? inputs.ref : inputs.commit;
  ASSIGN_OR_RETURN(ModelTree tree, ReadModelTree(inputs.mirror_dir, rev, filter));

  BuildOutcome outcome;
  outcome.commit = tree.commit;
  outcome.commit_time = tree.commit_time;
  const std::string created = Rfc3339(tree.commit_time);
  const std::string model_dir = RelativeDir(recipe.ModelDir());

  // Every object the revision needs must be verified in the store before anything is built.
  size_t missing = 0;
  std::string first_missing;
  for (const ModelFile& f : tree.files) {
    if (f.kind == ModelFile::Kind::kLfs && !stores.lfs.Contains(f.pointer.oid)) {
      if (missing++ == 0) first_missing = f.path;
    }
  }
  if (missing > 0) {
    return FailedPrecondition("build " + recipe.name + ": " + std::to_string(missing) +
                              " LFS object(s) of " + tree.commit +
                              " are not in the store yet "
                              "(first: " +
                              first_missing + ")");
  }

  std::vector<OciDescriptor> layers;
  std::vector<std::string> history;
  if (base != nullptr) {
    // A collection between the pull and this lock may have removed a base blob.
    for (const std::string& digest : [&] {
           std::vector<std::string> all{base->config_digest};
           for (const OciDescriptor& l : base->layers) all.push_back(l.digest);
           return all;
         }()) {
      if (!stores.oci.Contains(digest)) {
        return Unavailable("build " + recipe.name + ": base blob " + digest +
                           " was collected after the pull; pull again");
      }
    }
    for (const OciDescriptor& l : base->layers) {
      layers.push_back({l.media_type, l.digest, l.size, {}});
      history.push_back("base " + recipe.base);
    }
  }
  const size_t base_layers = layers.size();

  // The extra files, streamed into their layer from the descriptors opened here, each
  // hashed as it is read and checked against its pinned SHA-256 (no copy in memory, and
  // what is checked is what the layer holds).
  if (!recipe.files.empty()) {
    std::vector<TarLayerEntry> extras;
    for (const BuildFile& f : recipe.files) {
      std::string dest = RelativeDir(f.dest);
      if (dest.empty() || !f.dest.starts_with('/')) {
        return InvalidArgument("build " + recipe.name + ": builds.files dest " + f.dest +
                               " is not an absolute file path");
      }
      Result<TarLayerEntry> entry = FileBackedTarEntry(dest, f.mode, f.source, f.sha256);
      if (!entry.ok()) {
        return entry.status().WithContext("build " + recipe.name + ": builds.files source");
      }
      extras.push_back(std::move(*entry));
    }
    Result<OciDescriptor> d = StoreLayer(std::move(extras), stores);
    if (!d.ok()) return d.status().WithContext("build " + recipe.name + ": extra files layer");
    layers.push_back(std::move(*d));
    history.push_back("mirrord: extra files");
  }

  // The preflight bundle: the same layer in every image this mirrord builds.
  const bool preflight = recipe.PreflightEnabled() && !inputs.preflight_bundle.empty();
  if (preflight) {
    ASSIGN_OR_RETURN(std::vector<TarLayerEntry> bundle,
                     PreflightBundleEntries(inputs.preflight_bundle));
    ASSIGN_OR_RETURN(OciDescriptor d, StoreLayer(std::move(bundle), stores));
    layers.push_back(std::move(d));
    history.push_back("mirrord: preflight");
  }

  // The model's small files and symlinks.
  std::vector<TarLayerEntry> small;
  std::vector<const ModelFile*> weights;
  for (const ModelFile& f : tree.files) {
    if (f.kind == ModelFile::Kind::kLfs) {
      weights.push_back(&f);
    } else if (f.kind == ModelFile::Kind::kSmall) {
      small.push_back(InlineEntry(JoinPath(model_dir, f.path), f.mode, f.content));
    } else {
      TarLayerEntry e;
      e.entry.type = TarEntryType::kSymlink;
      e.entry.path = JoinPath(model_dir, f.path);
      e.entry.mode = 0777;
      e.entry.link_target = f.content;
      small.push_back(std::move(e));
    }
  }
  if (!small.empty()) {
    ASSIGN_OR_RETURN(OciDescriptor d, StoreLayer(std::move(small), stores));
    layers.push_back(std::move(d));
    history.push_back("mirrord: model files in git");
  }
  if (preflight) {
    std::vector<PreflightWeight> checked;
    for (const ModelFile* w : weights) {
      checked.push_back({"/" + JoinPath(model_dir, w->path), w->pointer.oid, w->pointer.size});
    }
    ASSIGN_OR_RETURN(std::string manifest, PreflightManifestFor(recipe, checked, stores.lfs));
    std::vector<TarLayerEntry> files;
    files.push_back(
        InlineEntry(std::string(kPreflightManifestPath).substr(1), 0644, std::move(manifest)));
    ASSIGN_OR_RETURN(OciDescriptor d, StoreLayer(std::move(files), stores));
    layers.push_back(std::move(d));
    history.push_back("mirrord: preflight manifest");
  }

  // One generated layer per weight file, merged into runs beyond the layer cap.
  outcome.weight_files = weights.size();
  size_t budget = kMaxImageLayers - layers.size();
  outcome.merged_weights = weights.size() > budget;
  const auto runs = EvenRuns(weights.size(), std::min(budget, weights.size()));
  progress.layers_total = runs.size();
  for (const ModelFile* w : weights) progress.bytes_total += w->pointer.size;
  report("layers");
  for (auto [begin, end] : runs) {
    if (cancelled()) return Cancelled("build " + recipe.name + " was cancelled");
    std::vector<TarLayerEntry> files;
    std::string what;
    for (size_t i = begin; i < end; ++i) {
      TarLayerEntry e;
      e.entry.path = JoinPath(model_dir, weights[i]->path);
      e.entry.mode = weights[i]->mode;
      e.entry.size = weights[i]->pointer.size;
      e.oid = weights[i]->pointer.oid;
      files.push_back(std::move(e));
      what += (what.empty() ? "" : " ") + weights[i]->path;
    }
    ASSIGN_OR_RETURN(TarLayer layer, TarLayer::Create(WithParentDirs(std::move(files))));
    ASSIGN_OR_RETURN(LayerDigest digest,
                     CachedTarLayerDigest(layer, stores.lfs, stores.catalog, now));
    if (!digest.cached) ++outcome.hashed_layers;
    layers.push_back({kOciTarLayerType, digest.digest, digest.size, {}});
    ++progress.layers_done;
    progress.hashed_layers = outcome.hashed_layers;
    for (size_t i = begin; i < end; ++i) progress.bytes_done += weights[i]->pointer.size;
    report("layers");
    history.push_back("mirrord: " + what);
  }
  outcome.layers = layers.size();

  report("manifests");
  // The image configuration.
  ImageConfigSpec config;
  config.created = created;
  config.entrypoint = base_config.entrypoint;
  config.cmd = base_config.cmd;
  if (!recipe.entrypoint.empty()) {
    config.entrypoint = recipe.entrypoint;
    config.cmd.clear();  // as a Dockerfile's ENTRYPOINT resets the base's CMD
  }
  if (!recipe.cmd.empty()) config.cmd = recipe.cmd;
  if (preflight) {
    std::vector<std::string> wrapped = PreflightEntrypoint();
    wrapped.insert(wrapped.end(), config.entrypoint.begin(), config.entrypoint.end());
    config.entrypoint = std::move(wrapped);
  }
  if (!base_config.architecture.empty()) config.architecture = base_config.architecture;
  if (!base_config.os.empty()) config.os = base_config.os;
  std::vector<std::pair<std::string, std::string>> env = base_config.env;
  bool has_path = false;
  for (const auto& kv : env) has_path = has_path || kv.first == "PATH";
  if (!has_path) {
    env.insert(env.begin(),
               {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
  }
  auto set_env = [&env](const std::string& k, const std::string& v) {
    for (auto& kv : env) {
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    }
    env.emplace_back(k, v);
  };
  set_env("MODEL_DIR", recipe.ModelDir());
  for (const auto& [k, v] : recipe.env) set_env(k, v);
  if (!recipe.nvidia_visible_devices.empty()) {
    set_env("NVIDIA_VISIBLE_DEVICES", recipe.nvidia_visible_devices);
  }
  if (!recipe.nvidia_driver_capabilities.empty()) {
    set_env("NVIDIA_DRIVER_CAPABILITIES", recipe.nvidia_driver_capabilities);
  }
  if (!recipe.require_cuda.empty()) set_env("NVIDIA_REQUIRE_CUDA", "cuda" + recipe.require_cuda);
  for (const auto& [k, v] : env) config.env.push_back(k + "=" + v);
  std::set<std::string> ports(base_config.ports.begin(), base_config.ports.end());
  for (const std::string& p : recipe.ports) {
    ports.insert(p.find('/') == std::string::npos ? p + "/tcp" : p);
  }
  config.exposed_ports.assign(ports.begin(), ports.end());
  config.labels = base_config.labels;
  for (const auto& [k, v] : recipe.labels) config.labels[k] = v;
  config.working_dir = recipe.workdir.empty() ? base_config.working_dir : recipe.workdir;
  config.user = recipe.user.empty() ? base_config.user : recipe.user;
  config.diff_ids = base_config.diff_ids;
  if (config.diff_ids.size() != base_layers) {
    return InvalidArgument("build " + recipe.name + ": the base's config lists " +
                           std::to_string(config.diff_ids.size()) + " diff_ids for " +
                           std::to_string(base_layers) + " layers");
  }
  for (size_t i = base_layers; i < layers.size(); ++i) config.diff_ids.push_back(layers[i].digest);
  config.history = history;
  std::string config_json = ImageConfigJson(config);
  ASSIGN_OR_RETURN(std::string config_digest, stores.oci.Put(config_json));

  std::map<std::string, std::string> annotations = {
      {"org.opencontainers.image.created", created},
      {"org.opencontainers.image.revision", tree.commit},
      {"org.opencontainers.image.ref.name", ShortRefName(inputs.ref)},
      {"org.opencontainers.image.base.name", recipe.base},
  };
  if (base != nullptr) annotations["org.opencontainers.image.base.digest"] = base->manifest_digest;
  if (!inputs.upstream_url.empty()) {
    annotations["org.opencontainers.image.source"] = inputs.upstream_url;
  }
  std::string manifest = ManifestJson("", {kOciConfigType, config_digest, config_json.size(), {}},
                                      layers, annotations);
  ASSIGN_OR_RETURN(outcome.image.digest, stores.oci.Put(manifest));
  if (std::optional<std::string> docker =
          DockerManifestJson({kOciConfigType, config_digest, config_json.size(), {}}, layers)) {
    ASSIGN_OR_RETURN(outcome.image.docker_digest, stores.oci.Put(*docker));
  }
  outcome.image.size = manifest.size() + config_json.size();
  for (const OciDescriptor& l : layers) outcome.image.size += l.size;

  // The model artifact: raw files, the LFS ones by their oid.
  std::vector<OciDescriptor> raw;
  for (const ModelFile& f : tree.files) {
    if (f.kind == ModelFile::Kind::kLfs) {
      raw.push_back({kModelWeightType,
                     "sha256:" + f.pointer.oid,
                     f.pointer.size,
                     {{kModelFilepathAnnotation, f.path}}});
    } else if (f.kind == ModelFile::Kind::kSmall) {
      ASSIGN_OR_RETURN(std::string digest, stores.oci.Put(f.content));
      raw.push_back({std::string(RawMediaType(f.path)),
                     digest,
                     f.content.size(),
                     {{kModelFilepathAnnotation, f.path}}});
    }
  }
  ModelConfigSpec model_config;
  model_config.created = created;
  model_config.name = recipe.name;
  model_config.revision = tree.commit;
  model_config.source_url = inputs.upstream_url;
  for (const OciDescriptor& d : raw) model_config.diff_ids.push_back(d.digest);
  std::string model_config_json = ModelConfigJson(model_config);
  ASSIGN_OR_RETURN(std::string model_config_digest, stores.oci.Put(model_config_json));
  std::map<std::string, std::string> model_annotations = annotations;
  model_annotations.erase("org.opencontainers.image.base.name");
  model_annotations.erase("org.opencontainers.image.base.digest");
  std::string model_manifest = ManifestJson(
      kModelArtifactType, {kModelConfigType, model_config_digest, model_config_json.size(), {}},
      raw, model_annotations);
  ASSIGN_OR_RETURN(outcome.model.digest, stores.oci.Put(model_manifest));
  outcome.model.size = model_manifest.size() + model_config_json.size();
  for (const OciDescriptor& d : raw) outcome.model.size += d.size;

  // Publish every tag at once.
  std::vector<ImageRecord> records;
  std::set<std::string> seen;
  for (const std::string& tmpl : recipe.tags) {
    std::string tag = ExpandTagTemplate(tmpl, inputs.ref, tree.commit);
    if (!IsValidImageTag(tag)) {
      return InvalidArgument("build " + recipe.name + ": tags template \"" + tmpl +
                             "\" gives no valid tag for " + inputs.ref);
    }
    if (!seen.insert(tag).second) continue;
    std::string model_tag = tag.substr(0, 128 - 6) + "-model";
    outcome.image.tags.push_back(tag);
    outcome.model.tags.push_back(model_tag);
    records.push_back({recipe.name, tag, outcome.image.digest, kOciManifestType, "image",
                       recipe.name, inputs.ref, tree.commit, outcome.image.size, tree.commit_time,
                       now, outcome.image.docker_digest});
    records.push_back({recipe.name, model_tag, outcome.model.digest, kOciManifestType, "model",
                       recipe.name, inputs.ref, tree.commit, outcome.model.size, tree.commit_time,
                       now, ""});
  }
  std::vector<std::pair<std::string, std::string>> blobs;
  blobs.emplace_back(outcome.image.digest, config_digest);
  // The Docker twin as a blob of the OCI manifest: retention collects it with it.
  if (!outcome.image.docker_digest.empty()) {
    blobs.emplace_back(outcome.image.digest, outcome.image.docker_digest);
  }
  for (const OciDescriptor& l : layers) blobs.emplace_back(outcome.image.digest, l.digest);
  blobs.emplace_back(outcome.model.digest, model_config_digest);
  for (const OciDescriptor& d : raw) blobs.emplace_back(outcome.model.digest, d.digest);
  if (cancelled()) return Cancelled("build " + recipe.name + " was cancelled");
  report("publishing");
  if (inputs.before_publish) RETURN_IF_ERROR(inputs.before_publish());
  RETURN_IF_ERROR(stores.catalog.PutImages(records, blobs));
  MLOG(Info) << "built " << recipe.name << " from " << inputs.repo << " " << inputs.ref << " at "
             << tree.commit << ": image " << outcome.image.digest << " (" << layers.size()
             << " layers, " << outcome.hashed_layers << " hashed), model " << outcome.model.digest;
  return outcome;
}

}  // namespace

Result<BuildOutcome> BuildImage(const BuildRecipe& recipe, const BuildInputs& inputs,
                                BuildStores stores, int64_t now) {
  // A build's buffers are freed as it ends, but the allocator keeps the pages of the arena
  // of the thread that ran it; the next build may run on another thread and touch another
  // arena, so the daemon's RSS would ratchet up build after build. Hand them back.
  struct TrimAtEnd {
    ~TrimAtEnd() { ::malloc_trim(0); }
  } trim_at_end;
  ASSIGN_OR_RETURN(BuildOutcome outcome, BuildAndPublish(recipe, inputs, stores, now));
  // The build is served; a failing retention only delays collection (the next one, or the
  // next start, finishes it).
  Result<RetentionOutcome> retention =
      ApplyRetention(recipe, inputs.ref, stores.catalog, stores.oci);
  if (retention.ok()) {
    outcome.dropped_commits = retention->dropped_commits;
  } else {
    MLOG(Warning) << "retention of " << recipe.name << " " << inputs.ref << ": "
                  << retention.status().ToString();
  }
  return outcome;
}

}  // namespace mirrord
