#include "workflows/sync/sync_metrics.h"

#include "src/common/metrics.h"
#include "workflows/sync/change_feed.h"

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

void ObserveCommitToClickHouse(const std::string& domain, const std::vector<double>& seconds) {
  static metrics::Histogram& latency = metrics::Histogram::Get(
      "vecsync_sync_commit_to_clickhouse_seconds",
      "From a source commit, as the change feed saw it, to the end of the run that put the "
      "entity's row in ClickHouse",
      {"domain"});
  for (double s : seconds) latency.Observe({domain}, s);
}

void CollectSyncGauges(PgConnection& conn) {
  static metrics::Gauge& depth = metrics::Gauge::Get(
      "vecsync_sync_change_queue_depth",
      "Changes waiting to be synced (an entity, or every entity of a team)", {"domain"});
  static metrics::Gauge& oldest = metrics::Gauge::Get(
      "vecsync_sync_change_queue_oldest_seconds", "Age of the oldest change waiting", {"domain"});
  static metrics::Gauge& lag = metrics::Gauge::Get(
      "vecsync_sync_replication_slot_lag_bytes",
      "WAL the change feed's replication slot holds back: from its confirmed position to the "
      "server's current one");
  if (auto r = conn.Query("SELECT domain, count(*), "
                          "  EXTRACT(EPOCH FROM clock_timestamp() - min(queued_at))::float8 "
                          "FROM vecsync.entity_changes GROUP BY domain");
      r.ok()) {
    depth.Clear();
    oldest.Clear();
    for (int i = 0; i < r->rows(); ++i) {
      depth.Set({r->GetString(i, 0)}, r->GetDouble(i, 1));
      oldest.Set({r->GetString(i, 0)}, r->GetDouble(i, 2));
    }
  }
  lag.Clear();
  if (auto db = conn.Query("SELECT current_database()"); db.ok()) {
    if (auto r = conn.Query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), "
                            "  confirmed_flush_lsn)::float8 FROM pg_replication_slots "
                            "WHERE slot_name = $1 AND confirmed_flush_lsn IS NOT NULL",
                            SlotName(db->GetString(0, 0)));
        r.ok() && r->rows() == 1) {
      lag.Set({}, r->GetDouble(0, 0));
    }
  }
}

}  // namespace vecsync::workflows
