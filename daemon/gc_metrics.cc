#include "daemon/gc_metrics.h"

namespace mirrord {

GcMetrics::GcMetrics(prometheus::Registry& registry) {
  auto& runs = prometheus::BuildCounter()
                   .Name("mirrord_gc_runs_total")
                   .Help("Garbage collections run (dry runs not counted), by outcome.")
                   .Register(registry);
  runs_ok_ = &runs.Add({{"outcome", "succeeded"}});
  runs_failed_ = &runs.Add({{"outcome", "failed"}});
  auto& reclaimed = prometheus::BuildCounter()
                        .Name("mirrord_gc_reclaimed_bytes_total")
                        .Help("Bytes freed by garbage collection, LFS store or git mirrors.")
                        .Register(registry);
  reclaimed_lfs_ = &reclaimed.Add({{"kind", "lfs"}});
  reclaimed_git_ = &reclaimed.Add({{"kind", "git"}});
  auto& swept = prometheus::BuildCounter()
                    .Name("mirrord_gc_swept_objects_total")
                    .Help("Objects removed by garbage collection, LFS store or git mirrors.")
                    .Register(registry);
  swept_lfs_ = &swept.Add({{"kind", "lfs"}});
  swept_git_ = &swept.Add({{"kind", "git"}});
  auto& objects = prometheus::BuildGauge()
                      .Name("mirrord_lfs_gc_objects")
                      .Help(
                          "LFS objects at the last collection: referenced, or unreferenced "
                          "and within the grace.")
                      .Register(registry);
  referenced_objects_ = &objects.Add({{"state", "referenced"}});
  unreferenced_objects_ = &objects.Add({{"state", "unreferenced"}});
  auto& bytes = prometheus::BuildGauge()
                    .Name("mirrord_lfs_gc_bytes")
                    .Help("Bytes of the LFS objects at the last collection, by state.")
                    .Register(registry);
  referenced_bytes_ = &bytes.Add({{"state", "referenced"}});
  unreferenced_bytes_ = &bytes.Add({{"state", "unreferenced"}});
  scrubbed_ = &prometheus::BuildCounter()
                   .Name("mirrord_verify_scrubbed_bytes_total")
                   .Help("LFS object bytes re-hashed at rest (background scrub and verify).")
                   .Register(registry)
                   .Add({});
  auto& corrupt = prometheus::BuildCounter()
                      .Name("mirrord_verify_corrupt_objects_total")
                      .Help(
                          "Objects found damaged at rest (LFS objects quarantined, git "
                          "mirrors failing fsck).")
                      .Register(registry);
  corrupt_lfs_ = &corrupt.Add({{"kind", "lfs"}});
  corrupt_git_ = &corrupt.Add({{"kind", "git"}});
  lost_ = &prometheus::BuildCounter()
               .Name("mirrord_verify_lost_objects_total")
               .Help("Corrupt LFS objects the upstream no longer has (reported, not served).")
               .Register(registry)
               .Add({});
}

void GcMetrics::RecordRun(bool ok) { (ok ? runs_ok_ : runs_failed_)->Increment(); }

void GcMetrics::RecordSwept(bool lfs, uint64_t objects, uint64_t bytes) {
  (lfs ? swept_lfs_ : swept_git_)->Increment(static_cast<double>(objects));
  (lfs ? reclaimed_lfs_ : reclaimed_git_)->Increment(static_cast<double>(bytes));
}

void GcMetrics::SetLfsStates(uint64_t referenced_objects, uint64_t referenced_bytes,
                             uint64_t in_grace_objects, uint64_t in_grace_bytes) {
  referenced_objects_->Set(static_cast<double>(referenced_objects));
  referenced_bytes_->Set(static_cast<double>(referenced_bytes));
  unreferenced_objects_->Set(static_cast<double>(in_grace_objects));
  unreferenced_bytes_->Set(static_cast<double>(in_grace_bytes));
}

void GcMetrics::AddScrubbedBytes(uint64_t bytes) {
  scrubbed_->Increment(static_cast<double>(bytes));
}

void GcMetrics::RecordCorrupt(bool lfs) { (lfs ? corrupt_lfs_ : corrupt_git_)->Increment(); }

void GcMetrics::RecordLost() { lost_->Increment(); }

}  // namespace mirrord
