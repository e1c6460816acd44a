// The JSON documents of an OCI image and of a CNCF ModelPack model artifact, written with
// a fixed key order (sorted, as the maps are) and no whitespace, so the same inputs give
// byte-identical documents (hence digests) on any machine.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mirrord {

inline constexpr char kOciManifestType[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kOciIndexType[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciConfigType[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kOciTarLayerType[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kOciGzipLayerType[] = "application/vnd.oci.image.layer.v1.tar+gzip";
// Docker image manifest, version 2, schema 2: the twin of an image manifest served to
// clients that accept only it.
inline constexpr char kDockerManifestType[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kDockerConfigType[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kDockerTarLayerType[] = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr char kDockerGzipLayerType[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr char kModelArtifactType[] = "application/vnd.cncf.model.manifest.v1+json";
inline constexpr char kModelConfigType[] = "application/vnd.cncf.model.config.v1+json";
inline constexpr char kModelWeightType[] = "application/vnd.cncf.model.weight.v1.raw";
inline constexpr char kModelWeightConfigType[] = "application/vnd.cncf.model.weight.config.v1.raw";
inline constexpr char kModelDocType[] = "application/vnd.cncf.model.doc.v1.raw";
inline constexpr char kModelCodeType[] = "application/vnd.cncf.model.code.v1.raw";
inline constexpr char kModelFilepathAnnotation[] = "org.cncf.model.filepath";

struct OciDescriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  uint64_t size = 0;
  std::map<std::string, std::string> annotations;
};

// The image configuration (application/vnd.oci.image.config.v1+json).
struct ImageConfigSpec {
  std::string architecture = "amd64";
  std::string os = "linux";
  std::string created;  // RFC 3339
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;            // "KEY=value", in order
  std::vector<std::string> exposed_ports;  // "8000/tcp"
  std::map<std::string, std::string> labels;
  std::string working_dir;
  std::string user;
  std::vector<std::string> diff_ids;
  std::vector<std::string> history;  // created_by of each layer (same count as diff_ids)
};

std::string ImageConfigJson(const ImageConfigSpec& spec);

// An image manifest; `artifact_type` empty for a runnable image.
std::string ManifestJson(const std::string& artifact_type, const OciDescriptor& config,
                         const std::vector<OciDescriptor>& layers,
                         const std::map<std::string, std::string>& annotations);

// The Docker schema 2 twin of an image manifest: the same config (as
// kDockerConfigType) and layers with Docker media types (tar, tar+gzip), no annotations,
// keys sorted and no whitespace (deterministic bytes). nullopt when a layer's media type
// has no Docker equivalent (zstd, say): such an image is served as OCI only.
std::optional<std::string> DockerManifestJson(const OciDescriptor& config,
                                              const std::vector<OciDescriptor>& layers);

// The ModelPack model configuration (application/vnd.cncf.model.config.v1+json).
struct ModelConfigSpec {
  std::string created;  // RFC 3339
  std::string name;
  std::string revision;
  std::string source_url;
  std::vector<std::string> diff_ids;
};

std::string ModelConfigJson(const ModelConfigSpec& spec);

// "2026-12-06T01:02:03Z" for Unix seconds (UTC).
std::string Rfc3339(int64_t unix_seconds);

}  // namespace mirrord
