#include "deploy/oci_json.h"

#include <boost/json.hpp>
#include <ctime>

namespace mirrord {
namespace {

namespace json = boost::json;

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.emplace_back(s);
  return a;
}

json::object StringMap(const std::map<std::string, std::string>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

// Keys are inserted in sorted order: boost::json keeps insertion order when serializing.
json::object Descriptor(const OciDescriptor& d) {
  json::object o;
  if (!d.annotations.empty()) o["annotations"] = StringMap(d.annotations);
  o["digest"] = d.digest;
  o["mediaType"] = d.media_type;
  o["size"] = d.size;
  return o;
}

}  // namespace

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ImageConfigJson(const ImageConfigSpec& spec) {
  json::object config;
  if (!spec.cmd.empty()) config["Cmd"] = Strings(spec.cmd);
  if (!spec.entrypoint.empty()) config["Entrypoint"] = Strings(spec.entrypoint);
  if (!spec.env.empty()) config["Env"] = Strings(spec.env);
  if (!spec.exposed_ports.empty()) {
    json::object ports;
    for (const std::string& p : spec.exposed_ports) ports[p] = json::object();
    config["ExposedPorts"] = std::move(ports);
  }
  if (!spec.labels.empty()) config["Labels"] = StringMap(spec.labels);
  if (!spec.user.empty()) config["User"] = spec.user;
  if (!spec.working_dir.empty()) config["WorkingDir"] = spec.working_dir;

  json::array history;
  for (const std::string& h : spec.history) {
    json::object e;
    e["created"] = spec.created;
    e["created_by"] = h;
    history.push_back(std::move(e));
  }
  json::object rootfs;
  rootfs["diff_ids"] = Strings(spec.diff_ids);
  rootfs["type"] = "layers";

  json::object o;
  o["architecture"] = spec.architecture;
  o["config"] = std::move(config);
  o["created"] = spec.created;
  if (!history.empty()) o["history"] = std::move(history);
  o["os"] = spec.os;
  o["rootfs"] = std::move(rootfs);
  return json::serialize(o);
}

std::string ManifestJson(const std::string& artifact_type, const OciDescriptor& config,
                         const std::vector<OciDescriptor>& layers,
                         const std::map<std::string, std::string>& annotations) {
  json::object o;
  if (!annotations.empty()) o["annotations"] = StringMap(annotations);
  if (!artifact_type.empty()) o["artifactType"] = artifact_type;
  o["config"] = Descriptor(config);
  json::array l;
  for (const OciDescriptor& d : layers) l.push_back(Descriptor(d));
  o["layers"] = std::move(l);
  o["mediaType"] = kOciManifestType;
  o["schemaVersion"] = 2;
  return json::serialize(o);
}

std::optional<std::string> DockerManifestJson(const OciDescriptor& config,
                                              const std::vector<OciDescriptor>& layers) {
  json::array l;
  for (const OciDescriptor& d : layers) {
    OciDescriptor docker{d.media_type, d.digest, d.size, {}};
    if (d.media_type == kOciTarLayerType || d.media_type == kDockerTarLayerType) {
      docker.media_type = kDockerTarLayerType;
    } else if (d.media_type == kOciGzipLayerType || d.media_type == kDockerGzipLayerType) {
      docker.media_type = kDockerGzipLayerType;
    } else {
      return std::nullopt;
    }
    l.push_back(Descriptor(docker));
  }
  json::object o;
  o["config"] = Descriptor({kDockerConfigType, config.digest, config.size, {}});
  o["layers"] = std::move(l);
  o["mediaType"] = kDockerManifestType;
  o["schemaVersion"] = 2;
  return json::serialize(o);
}

std::string ModelConfigJson(const ModelConfigSpec& spec) {
  json::object descriptor;
  descriptor["createdAt"] = spec.created;
  descriptor["name"] = spec.name;
  descriptor["revision"] = spec.revision;
  if (!spec.source_url.empty()) descriptor["sourceURL"] = spec.source_url;
  json::object modelfs;
  modelfs["diffIds"] = Strings(spec.diff_ids);
  modelfs["type"] = "layers";
  json::object o;
  o["config"] = json::object();
  o["descriptor"] = std::move(descriptor);
  o["modelfs"] = std::move(modelfs);
  return json::serialize(o);
}

}  // namespace mirrord
