// The sync's Prometheus counters: vecsync_sync_entities_total{domain, stage}, entities through
// each stage, counted when the stage's transaction committed.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

namespace vecsync::workflows {

// Adds each (stage, count) to the domain's counters.
void CountStages(const std::string& domain,
                 std::initializer_list<std::pair<const char*, int64_t>> counts);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_
