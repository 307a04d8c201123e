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

#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

// Adds each (stage, count) to the domain's counters.
void CountStages(const std::string& domain,
                 std::initializer_list<std::pair<const char*, int64_t>> counts);

// Observes the commit → ClickHouse latency of changes of `domain` just synced.
void ObserveCommitToClickHouse(const std::string& domain, const std::vector<double>& seconds);

// Sets the change queue and replication slot gauges from the database (at each scrape).
void CollectSyncGauges(PgConnection& conn);

// How often the sync status gauges are read again: reading them walks every source row.
inline constexpr absl::Duration kSyncStatusGaugeInterval = absl::Seconds(60);

// Sets the sync status gauges (sync_status.h) of every domain of `domains`, per domain: teams
// would be a label of unbounded cardinality (`vecsync status` has them). Read again at a scrape
// at most every kSyncStatusGaugeInterval; a domain whose status cannot be read (its source table
// is missing) keeps no series.
void CollectSyncStatusGauges(PgConnection& conn, const entities::EntityConfigRegistry& domains);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_METRICS_H_
