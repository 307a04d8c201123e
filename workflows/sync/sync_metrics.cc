#include "workflows/sync/sync_metrics.h"

#include "absl/time/clock.h"
#include "src/common/metrics.h"
#include "src/common/mutex.h"
#include "workflows/sync/change_feed.h"
#include "workflows/sync/sync_status.h"

namespace vecsync::workflows {
namespace {

// When the sync status gauges were last read.
Mutex g_status_gauges_mu;
absl::Time g_status_gauges_read ABSL_GUARDED_BY(g_status_gauges_mu) = absl::InfinitePast();

}  // namespace

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

void CollectSyncStatusGauges(PgConnection& conn, const entities::EntityConfigRegistry& domains) {
  static metrics::Gauge& entities = metrics::Gauge::Get(
      "vecsync_sync_entities",
      "Entities of the counted embedding version by state: in_scope (should be searchable), "
      "synced, stale, failed, quarantined, to_remove (held live, but deleted, gone or out of "
      "scope); read every minute",
      {"domain", "state"});
  static metrics::Gauge& oldest = metrics::Gauge::Get(
      "vecsync_sync_oldest_unsynced_change_seconds",
      "Age of the oldest change to an entity not yet synced (0 when none)", {"domain"});
  static metrics::Gauge& version = metrics::Gauge::Get(
      "vecsync_sync_active_embedding_version",
      "The embedding version search answers from (0 before one completes)", {"domain"});
  static metrics::Gauge& last_end =
      metrics::Gauge::Get("vecsync_sync_last_run_end_timestamp_seconds",
                          "When the domain's latest closed sync run ended (Unix time)", {"domain"});
  static metrics::Gauge& last_ok = metrics::Gauge::Get(
      "vecsync_sync_last_run_completed",
      "1 when the domain's latest closed sync run completed, 0 when it failed or was stopped",
      {"domain"});
  MutexLock lock(&g_status_gauges_mu);
  const absl::Time now = absl::Now();
  if (now - g_status_gauges_read < kSyncStatusGaugeInterval) return;
  g_status_gauges_read = now;
  for (metrics::Gauge* g : {&entities, &oldest, &version, &last_end, &last_ok}) g->Clear();
  for (const std::string& domain : domains.Domains()) {
    absl::StatusOr<DomainStatus> status = ReadDomainStatus(conn, **domains.Find(domain), {});
    if (!status.ok()) continue;
    const EntityCounts& c = status->totals;
    for (const auto& [state, n] : {std::pair<const char*, int64_t>{"in_scope", c.in_scope},
                                   {"synced", c.synced},
                                   {"stale", c.stale},
                                   {"failed", c.failed},
                                   {"quarantined", c.quarantined},
                                   {"to_remove", c.to_remove}}) {
      entities.Set({domain, state}, static_cast<double>(n));
    }
    oldest.Set({domain}, c.oldest_unsynced_change
                             ? absl::ToDoubleSeconds(now - *c.oldest_unsynced_change)
                             : 0.0);
    version.Set({domain},
                status->version && status->version->active ? status->version->version : 0);
    if (status->last_run && status->last_run->close_time) {
      last_end.Set({domain},
                   absl::ToDoubleSeconds(*status->last_run->close_time - absl::UnixEpoch()));
      last_ok.Set({domain}, status->last_run->status == "COMPLETED" ? 1 : 0);
    }
  }
}

}  // namespace vecsync::workflows
