// HfRepoLocator: which mirrored repository answers to a Hugging Face repo id.
//
// A repo mirrored from the `hf` upstream answers under its Hub id, i.e. its upstream path:
// "org/model" for a model, "datasets/org/data" (the Hub's git path) for the dataset
// "org/data". Any other repo answers, as a model, under its mirror name. Nothing else
// answers: there is no on-demand mirroring here.
//
// Lookups by mirror name are one catalog query. Hub ids come from an index of the catalog's
// `hf` repos, rebuilt on a miss at most once per second (so unknown ids from anonymous
// clients cannot make every request list the whole catalog); a repo registered in that
// second is found by the next rebuild.
// Thread-safety: Find() may be called from any number of threads (it blocks: call it on the
// blocking pool).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "daemon/hf_answer_cache.h"
#include "daemon/hf_paths.h"
#include "daemon/hf_reader_pool.h"
#include "storage/catalog.h"

namespace mirrord {

inline constexpr std::string_view kHfUpstreamName = "hf";

struct HfRepo {
  RepoRecord record;
  std::filesystem::path dir;  // the servable bare mirror
};

class HfRepoLocator {
 public:
  // The directory git clients are served from, or nullopt while the repo has none.
  using ServableDir = std::function<std::optional<std::filesystem::path>(std::string_view name)>;

  // `catalog` must outlive the locator.
  HfRepoLocator(Catalog& catalog, ServableDir servable_dir);

  // NotFound when no repo answers to `id`, or it has never been published; other codes when
  // the catalog fails.
  Result<HfRepo> Find(HfRepoType type, std::string_view id);

  // Opened readers of the mirrors found here, shared by every request (hf_reader_pool.h).
  HfReaderPool& readers() { return readers_; }

  // Answers already worked out, shared by every request (hf_answer_cache.h). Whoever
  // publishes or forgets a mirror calls cache().Invalidate() (main.cc wires the serving gate).
  HfAnswerCache& cache() { return cache_; }

 private:
  // The mirror name of the `hf` repo whose upstream path is `path`, if any.
  Result<std::optional<std::string>> NameForHubPath(const std::string& path);

  Catalog& catalog_;
  ServableDir servable_dir_;
  std::mutex mu_;
  std::map<std::string, std::string> hub_index_;  // upstream path -> mirror name
  std::chrono::steady_clock::time_point built_at_{};
  bool built_ = false;
  HfReaderPool readers_;
  HfAnswerCache cache_;
};

}  // namespace mirrord
