// What the sync of a domain looks like now, per team: how many entities should be searchable,
// how many are (as they are now), how many wait, failed or are quarantined, and what the last run
// did. `vecsync status`, the API's GetSyncStatus and the sync gauges read it.
//
// The counts are of one embedding version: the active one (what search answers from), else the
// newest. They judge each row as a reconcile run would (SourceRows::DivergedAfter), so a
// following reconcile run selects `stale + failed + to_remove` entities, given no edits between.
//
//   ASSIGN_OR_RETURN(DomainStatus status, ReadDomainStatus(conn, config, {}));
//
// Reading it walks the domain's source rows (the teams asked for only, by team_id) with their
// ledger entries: a query for operators, not for every request.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_STATUS_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "entities/entity_config.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "workflows/sync/embedding_versions.h"

namespace vecsync::workflows {

struct EntityCounts {
  int64_t in_scope = 0;     // Rows in scope and not deleted: what search should hold.
  int64_t synced = 0;       // Of those, held live as they were last updated.
  int64_t stale = 0;        // Of those, new or changed since (not failed or quarantined).
  int64_t failed = 0;       // Of those, whose last attempt failed: the next run retries them.
  int64_t quarantined = 0;  // Of those, failed too often: `vecsync entities failed --retry`.
  int64_t to_remove = 0;    // Held live, but deleted, gone or out of scope: to tombstone.
  // The earliest updated_at among the stale rows.
  std::optional<absl::Time> oldest_unsynced_change;

  void Add(const EntityCounts& other);
};

struct TeamStatus {
  int64_t team_id = 0;
  EntityCounts counts;
};

// A run of sync-entity-vectors for the domain.
struct SyncRunInfo {
  std::string workflow_id;
  std::string run_id;
  std::string status;  // RUNNING, COMPLETED, FAILED, …
  absl::Time start_time;
  std::optional<absl::Time> close_time;
  Json input;
  Json result;   // The run's counts (null until it completes).
  Json failure;  // Null unless it failed.
};

struct DomainStatus {
  std::string domain;
  int embedding_version = 0;  // The version counted; 0 before any.
  std::optional<EmbeddingVersion> version;
  std::optional<int> building_version;  // A newer version being built, if any.
  EntityCounts totals;
  std::vector<TeamStatus> teams;  // Teams with an entity in scope or to remove, by id.
  int64_t queued_changes = 0;     // Changes the change feed queued that no run took yet.
  std::optional<absl::Time> oldest_queued_change;
  std::optional<SyncRunInfo> last_run;  // The latest closed run.
  std::optional<SyncRunInfo> running;   // The run in progress.
};

// The status of `config`'s domain, of the teams `team_ids` (empty: every team).
absl::StatusOr<DomainStatus> ReadDomainStatus(PgConnection& conn,
                                              const entities::EntityConfig& config,
                                              const std::vector<int64_t>& team_ids);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_STATUS_H_
