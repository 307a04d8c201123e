// Where a run of a domain starts and where it leaves the domain.
//
//   sync-prepare  PrepareInput → PrepareResult: claims the domain for the run (runs of a domain
//                 take turns: domain_claim.h), creates the vector table when missing, decides the
//                 embedding version the run syncs (embedding_versions.h), fixes the
//                 run's snapshot on the database's clock and the start of its walk by change
//                 time (the domain's watermark, less a safety overlap), queues the teams that
//                 entered or left the domain's scope (scope_teams.h), and reads how far the
//                 change queue goes (change_queue.h).
//   sync-finish   FinishInput → NoResult: advances the watermark to the run's snapshot (a run
//                 that walked by change time), completes and activates a version a run walked
//                 whole, removes the queued changes the run synced, and releases the domain.
//
// The watermark (vecsync.sync_watermarks, per domain and embedding version): every source row
// updated up to it is synced. The snapshot is the database's clock, held back to the start of
// the oldest transaction that has written and not yet committed (its rows may carry an
// updated_at from before the snapshot, and appear only after it), when the role may see other
// sessions' transactions. A run then also walks the kWatermarkOverlap before the watermark, for
// what the snapshot cannot see: updated_at set by an application's clock, and a row stamped
// before its transaction wrote anything. Of those rows it selects only the ones the ledger does
// not hold as they are, so a rerun with nothing changed selects nothing.
#ifndef VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_
#define VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/json.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/sync_environment.h"
#include "workflows/sync/sync_input.h"

namespace vecsync::workflows {

// How far behind the watermark a walk by change time starts.
inline constexpr absl::Duration kWatermarkOverlap = absl::Minutes(5);

struct PrepareInput {
  std::string domain;
  // The version the run's input asks for; nullopt: the server's profile's.
  std::optional<int> embedding_version;
  // Also look at the change queue and the domain's scope (a run restricted to some teams or
  // entities does not: it syncs those only).
  bool take_changes = false;
  // A run that walks every row anyway (reconcile, or a first incremental one) needs no walk of
  // the teams that entered the scope.
  SyncMode mode = SyncMode::kIncremental;

  Json ToJson() const;
  static absl::StatusOr<PrepareInput> FromJson(const Json& json);
};

struct PrepareResult {
  // Another run holds the domain (its run id): this run waits its turn, and prepares again.
  // Nothing else is set.
  std::optional<std::string> held_by;
  // The embedding version the run syncs; absent from an older vecsync's result (its input's).
  std::optional<int> embedding_version;
  // The domain has versions besides it (true in an older vecsync's result).
  bool other_versions = true;
  // Rows updated after it are the run's to sync; nullopt: none synced yet at this version.
  std::optional<int64_t> watermark_us;
  // And rows updated up to this long before it that the ledger does not hold as they are
  // (kWatermarkOverlap); 0 in an older vecsync's result.
  int64_t overlap_us = 0;
  // The run's snapshot, from the database's clock; absent from an older vecsync's result.
  std::optional<int64_t> snapshot_us;
  // The run syncs the queued changes up to this sequence number (0: none), and walks the teams
  // in `changed_teams` (whose scope changed, up to it).
  int64_t changes_upto = 0;
  std::vector<int64_t> changed_teams;
  bool datetime64 = false;        // The vector table's timestamp is DateTime64(6).
  bool summarizer_local = false;  // The summarizer runs in-process (summaries cost nothing).

  Json ToJson() const;
  static absl::StatusOr<PrepareResult> FromJson(const Json& json);
};

struct FinishInput {
  std::string domain;
  int embedding_version = 1;
  // Every row updated up to it is synced now; nullopt: the watermark stays (the run did not walk
  // by change time).
  std::optional<int64_t> snapshot_us;
  int64_t changes_upto = 0;  // The queued changes up to it are synced.
  // The run walked every source row at its version: a version being built is complete, and
  // becomes active.
  bool completes_version = false;

  Json ToJson() const;
  static absl::StatusOr<FinishInput> FromJson(const Json& json);
};

inline constexpr engine::ActivityType<PrepareInput, PrepareResult> kPrepareActivity{"sync-prepare"};
inline constexpr engine::ActivityType<FinishInput, engine::NoResult> kFinishActivity{"sync-finish"};

// INVALID_ARGUMENT, saying why, when `embedding_version` is older than the version search answers
// from for `domain`: what the run made would never be searched. The start of a run checks it,
// and sync-prepare again (a version may be made active in between).
absl::Status CheckEmbeddingVersion(PgConnection& conn, const std::string& domain,
                                   int embedding_version);

// Registers sync-prepare and sync-finish. `env` must outlive the registry's users.
absl::Status RegisterWatermarkActivities(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_
