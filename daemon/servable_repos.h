// ServableRepos: the serving gate. A mirror is served once it has been published at least
// once (by this node or another sharing the store); until then a clone gets 404.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/config.h"
#include "storage/catalog.h"

namespace mirrord {

class ServableRepos {
 public:
  // `config` and `catalog` must outlive this.
  ServableRepos(const Config& config, Catalog& catalog) : config_(config), catalog_(catalog) {}

  // The bare mirror to serve for `name`, if it has been published at least once. A name not
  // known here is looked up in the catalog (another node may have published it).
  std::optional<std::filesystem::path> Lookup(std::string_view name) const;
  void MarkServable(std::string_view name);
  void Forget(std::string_view name);

 private:
  const Config& config_;
  Catalog& catalog_;
  mutable std::mutex mu_;
  mutable std::set<std::string, std::less<>> servable_;  // cache of "published at least once"
};

}  // namespace mirrord
