// ImagesApi: what the build stage has published, for `mirrorctl images` (bearer token as
// the rest of /api/v1/):
//
//   GET /api/v1/images          -> 200 {"registry": "HOST:PORT", "images": [ImageEntry...]}
//   GET /api/v1/images/<name>   -> the same with that one entry; 404 when <name> is neither a
//                                  [[builds]] name nor a repository with tags
//
// ImageEntry (field names are a contract; `null` where a value does not apply):
//   {"name", "build": bool (a recipe of that name is configured), "repo",
//    "ports": ["8000/tcp"...], "gpu": null | {"count", "min_memory" (bytes, the recipe's or
//    the weights' total + 20%), "require_cuda" ("" none), "preflight"}, "shm_size",
//    "pull": "docker pull HOST:PORT/NAME:TAG" | null, "run": "docker run ..." | null,
//    "tags": [{"tag", "kind" ("image"|"model"), "digest", "docker_digest", "size", "ref",
//              "commit", "created_at", "built_at"}...]   (newest build first, then by tag)}
// HOST:PORT is the authority of BaseUrl::For (daemon/base_url.h), i.e. [server] public_url
// when set. The pull/run lines name the newest image tag that is not a bare commit id (the
// {ref} tag), else the newest one; `run` adds `--gpus all` and `--shm-size` for GPU images
// and `-p PORT:PORT[/udp]` for each of the recipe's ports.
// Thread-safety: Handle may run concurrently; catalog and store reads go to the pool.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/live_value.h"
#include "daemon/base_url.h"
#include "daemon/http_exchange.h"
#include "deploy/oci_store.h"
#include "storage/catalog.h"

namespace mirrord {

// The usage lines of image NAME:TAG served at `registry` ("host:port"); `recipe` null when
// no recipe of that name is configured (only the pull line then).
struct ImageUsage {
  std::string pull;
  std::string run;  // "" without a recipe
};
ImageUsage ImageUsageFor(std::string_view registry, std::string_view name, std::string_view tag,
                         const BuildRecipe* recipe);
// The free GPU memory the recipe's images need: min_gpu_memory, else weights + 20% (what
// the preflight checks), 0 when the recipe asks for no GPU.
uint64_t GpuMemoryNeed(const BuildRecipe& recipe, uint64_t weight_bytes);

class ImagesApi {
 public:
  // Everything passed must outlive the ImagesApi. An empty `admin_token` refuses every call.
  ImagesApi(const Config& config, Catalog& catalog, const OciStore& oci, BaseUrl base_url,
            boost::asio::thread_pool& blocking, std::string admin_token)
      : config_(config),
        catalog_(catalog),
        oci_(oci),
        base_url_(std::move(base_url)),
        blocking_(blocking),
        admin_token_(std::move(admin_token)) {}

  boost::asio::awaitable<void> Handle(HttpExchange& ex);
  // Replaces the admin token (a reload). Thread-safe.
  void SetToken(std::string admin_token) { admin_token_.Set(std::move(admin_token)); }

 private:
  const Config& config_;
  Catalog& catalog_;
  const OciStore& oci_;
  const BaseUrl base_url_;
  boost::asio::thread_pool& blocking_;
  LiveValue<std::string> admin_token_;
};

}  // namespace mirrord
