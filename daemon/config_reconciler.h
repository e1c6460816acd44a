// ConfigReconciler: makes the catalog agree with the config's [[repos]] (the config is the
// source of truth for the repos it names, as in grokmirror). Run at start and on every
// reload (SIGHUP); each run compares the whole list, so a missed reload changes nothing.
//
//   in the config, not in the catalog      -> registered (origin "config"), first sync queued
//   in both, same source                   -> kept; an API-added repo is taken over by the
//                                             config; one retired earlier is mirrored again
//   in both, another source (upstream, path
//     or url changed)                      -> re-pointed, logged, and a sync queued from the
//                                             new source (it replaces the refs; clients keep
//                                             the last published state until it publishes)
//   managed by the config, no longer in it -> retired: no more syncs, polls or webhook syncs
//                                             (queued ones are dropped, a running one ends
//                                             normally); its mirror and LFS objects stay and
//                                             stay served until `mirrorctl remove NAME` or
//                                             [sync] retired_retention has passed
//   added through the API, not in config   -> left alone (origin "api")
//
// A repo the catalog cannot take is logged and skipped (never a failed start: the config
// parsed, so whatever went wrong is not something a restart would fix).
// Thread-safety: Reconcile() and PurgeExpired() may be called from any thread, not at once.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "daemon/repo_registry.h"
#include "storage/catalog.h"

namespace mirrord {

// What the reconciler asks of the scheduler.
struct ReconcileHooks {
  // A sync of `name` should run (added, re-pointed, or never synced).
  std::function<void(const std::string& name)> queue_sync;
  // `name` left the config: drop its queued syncs.
  std::function<void(const std::string& name)> stop;
  // `name` was retired longer than the retention: delete it and its mirror.
  std::function<Status(const std::string& name)> purge;
};

struct ReconcileReport {
  std::vector<std::string> added;
  std::vector<std::string> repointed;
  std::vector<std::string> retired;
  std::vector<std::string> unretired;  // back in the config, or taken over from the API
  std::vector<std::string> failed;     // logged; the rest was reconciled
  // "3 repos in the config: 1 added, 1 re-pointed, 1 removed (kept until ...)".
  std::string Summary(size_t configured) const;
};

class ConfigReconciler {
 public:
  // Everything must outlive the reconciler.
  ConfigReconciler(Catalog& catalog, RepoRegistry& registry, ReconcileHooks hooks,
                   const Clock& clock);

  // Brings the catalog in line with `config.repos` (see the table above). Fails only when
  // the catalog cannot be listed; per-repo failures are in the report.
  Result<ReconcileReport> Reconcile(const Config& config);

  // Deletes repos retired longer than `retention` ago. Returns their names.
  std::vector<std::string> PurgeExpired(std::chrono::seconds retention);

 private:
  Catalog& catalog_;
  RepoRegistry& registry_;
  ReconcileHooks hooks_;
  const Clock& clock_;
};

}  // namespace mirrord
