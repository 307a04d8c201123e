// Where a run of a domain starts and where it leaves the domain: the domain's watermark (every
// source row updated up to it is synced, per embedding version; vecsync.sync_watermarks).
//
//   sync-prepare  PrepareInput → PrepareResult: creates the vector table when missing, reads
//                 the run's watermark, refuses an embedding version older than one a sync of
//                 the domain has completed, and forgets what attempts of ended runs recorded.
//   sync-finish   FinishInput → NoResult: advances the watermark to the run's snapshot.
#ifndef VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_
#define VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

struct PrepareInput {
  std::string domain;
  int embedding_version = 1;

  Json ToJson() const;
  static absl::StatusOr<PrepareInput> FromJson(const Json& json);
};

struct PrepareResult {
  // Rows updated after it are the run's to sync; nullopt: none synced yet at this version.
  std::optional<int64_t> watermark_us;
  bool datetime64 = false;        // The vector table's timestamp is DateTime64(6).
  bool summarizer_local = false;  // The summarizer runs in-process (summaries cost nothing).

  Json ToJson() const;
  static absl::StatusOr<PrepareResult> FromJson(const Json& json);
};

struct FinishInput {
  std::string domain;
  int embedding_version = 1;
  int64_t snapshot_us = 0;  // Every row updated up to it is synced now.

  Json ToJson() const;
  static absl::StatusOr<FinishInput> FromJson(const Json& json);
};

inline constexpr engine::ActivityType<PrepareInput, PrepareResult> kPrepareActivity{"sync-prepare"};
inline constexpr engine::ActivityType<FinishInput, engine::NoResult> kFinishActivity{"sync-finish"};

// INVALID_ARGUMENT, saying why, when `embedding_version` is older than one a sync of `domain`
// has completed: ClickHouse keeps the newer version's rows and would discard the run's. The
// start of a run checks it, and sync-prepare again (a sync may complete in between).
absl::Status CheckEmbeddingVersion(PgConnection& conn, const std::string& domain,
                                   int embedding_version);

// Registers sync-prepare and sync-finish. `env` must outlive the registry's users.
absl::Status RegisterWatermarkActivities(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_WATERMARK_H_
