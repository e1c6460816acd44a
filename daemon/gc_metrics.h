// GcMetrics: the Prometheus instruments of garbage collection and of verification at rest.
//
//   mirrord_gc_reclaimed_bytes_total{kind="lfs"|"git"}   bytes freed by collections
//   mirrord_gc_swept_objects_total{kind="lfs"|"git"}     objects removed
//   mirrord_gc_runs_total{outcome="succeeded"|"failed"}  collections (dry runs not counted)
//   mirrord_lfs_gc_objects{state="referenced"|"unreferenced"} and mirrord_lfs_gc_bytes{...}:
//     the LFS objects by state at the last mark ("unreferenced": within the grace, not yet
//     swept, since the sweep that followed the mark removed the others)
//   mirrord_verify_scrubbed_bytes_total                  LFS bytes re-hashed (scrub + verify)
//   mirrord_verify_corrupt_objects_total{kind="lfs"|"git"} damage found at rest
//   mirrord_verify_lost_objects_total                    corrupt objects upstream lacks too
// Thread-safety: all methods are thread-safe (prometheus-cpp instruments are atomic).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>

#include "storage/catalog.h"

namespace mirrord {

class GcMetrics {
 public:
  explicit GcMetrics(prometheus::Registry& registry);

  void RecordRun(bool ok);
  void RecordSwept(bool lfs, uint64_t objects, uint64_t bytes);
  // The LFS objects by state after a collection: referenced, and unreferenced within grace.
  void SetLfsStates(uint64_t referenced_objects, uint64_t referenced_bytes,
                    uint64_t in_grace_objects, uint64_t in_grace_bytes);

  void AddScrubbedBytes(uint64_t bytes);
  void RecordCorrupt(bool lfs);
  void RecordLost();

 private:
  prometheus::Counter* runs_ok_;
  prometheus::Counter* runs_failed_;
  prometheus::Counter* reclaimed_lfs_;
  prometheus::Counter* reclaimed_git_;
  prometheus::Counter* swept_lfs_;
  prometheus::Counter* swept_git_;
  prometheus::Gauge* referenced_objects_;
  prometheus::Gauge* unreferenced_objects_;
  prometheus::Gauge* referenced_bytes_;
  prometheus::Gauge* unreferenced_bytes_;
  prometheus::Counter* scrubbed_;
  prometheus::Counter* corrupt_lfs_;
  prometheus::Counter* corrupt_git_;
  prometheus::Counter* lost_;
};

}  // namespace mirrord
