// The sync's Prometheus metrics:
//   vecsync_sync_entities_total{domain, stage}          entities through each stage, counted
//                                                       when the stage's transaction committed;
//   vecsync_sync_commit_to_clickhouse_seconds{domain}   from a source commit (as the change feed
//                                                       saw it) to the end of the run that put
//                                                       its row in ClickHouse;
//   vecsync_sync_change_queue_depth{domain},
//   vecsync_sync_change_queue_oldest_seconds{domain}    the changes waiting, and the age of the
//                                                       oldest;
//   vecsync_sync_replication_slot_lag_bytes             the WAL the change feed's slot holds
//                                                       back (absent without a slot).
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "src/common/pg.h"

namespace vecsync::workflows {

// Adds each (stage, count) to the domain's counters.
void CountStages(const std::string& domain,
                 std::initializer_list<std::pair<const char*, int64_t>> counts);

// Observes the commit → ClickHouse latency of changes of `domain` just synced.
void ObserveCommitToClickHouse(const std::string& domain, const std::vector<double>& seconds);

// Sets the change queue and replication slot gauges from the database (at each scrape).
void CollectSyncGauges(PgConnection& conn);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_
