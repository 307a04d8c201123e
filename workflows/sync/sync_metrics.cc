#include "workflows/sync/sync_metrics.h"

#include "src/common/metrics.h"

namespace vecsync::workflows {

void CountStages(const std::string& domain,
                 std::initializer_list<std::pair<const char*, int64_t>> counts) {
  static metrics::Counter& entities = metrics::Counter::Get(
      "vecsync_sync_entities_total",
      "Entities through each sync stage: selected, summarized, embedded, refreshed, "
      "skipped_unchanged, failed, tombstoned, inserted, carried_over (queued by an earlier run, "
      "flushed by a later one)",
      {"domain", "stage"});
  for (const auto& [stage, n] : counts) entities.Add({domain, stage}, static_cast<double>(n));
}

}  // namespace vecsync::workflows
