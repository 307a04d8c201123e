// The input of sync-entity-vectors, with PostHog's names and defaults.
//
//   {"domain": "action",                  required; a registered domain
//    "start_dt": "2025-01-15T00:00:00Z",  snapshot time; default: when the run starts
//    "summarize_batch_size": 96,           entities per sync-process; default 96 (PostHog's)
//                                          with a provider, 1000 with a local summarizer
//    "embed_batch_size": 96, "max_parallel_requests": 5,
//    "insert_batch_size": 10000, "delay_between_batches": 0 (seconds),
//    "embedding_version": 2,               default: the server's profile's (embedding_versions.h)
//    "team_ids": [2, 3], "entity_ids": ["12", "13"],
//    "mode": "incremental"}                 what the run looks at (SyncMode); default incremental
//
// Unknown keys and out-of-range values are INVALID_ARGUMENT naming the field.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_INPUT_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_INPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/common/json.h"

namespace vecsync::workflows {

// What a run looks at, besides the entities whose last attempt failed. Every mode tombstones
// what left the scope, re-embeds only what its hashes require, and pays for nothing twice.
enum class SyncMode {
  // The queued changes, the teams that entered or left the scope, and the rows changed since
  // the domain's watermark (less an overlap): what a schedule runs.
  kIncremental,
  // The queued changes and the teams that entered or left the scope only: what the change feed
  // starts, seconds after a commit.
  kChanges,
  // Every row of the source and every entity of the ledger, keyed walks of both, repairing any
  // divergence between them (a restored database, a dropped replication slot): the daily
  // backstop. Its cost grows with the domain; its provider calls only with what diverged.
  kReconcile,
};

// "incremental", "changes", "reconcile".
const char* SyncModeName(SyncMode mode);
// INVALID_ARGUMENT, naming the modes, for another name.
absl::StatusOr<SyncMode> SyncModeFromName(absl::string_view name);

struct SyncInput {
  std::string domain;
  SyncMode mode = SyncMode::kIncremental;
  std::optional<absl::Time> start_dt;
  // Unset: the workflow picks PostHog's 96 for a provider summarizer, and a larger batch for a
  // local one, whose summaries cost nothing but whose every activity costs claiming, queueing and
  // recording.
  std::optional<int> summarize_batch_size;
  int embed_batch_size = 96;
  int max_parallel_requests = 5;
  int insert_batch_size = 10000;
  int delay_between_batches = 0;
  // Unset: the version of the server's embedding profile (embedding_versions.h): the active one
  // while the profile is unchanged, a new one, built beside it, when it changed.
  std::optional<int> embedding_version;
  std::vector<int64_t> team_ids;
  std::vector<std::string> entity_ids;

  // A run restricted by team_ids or entity_ids syncs those only: it does not advance the
  // domain's watermark, nor take its queued changes.
  bool filtered() const { return !team_ids.empty() || !entity_ids.empty(); }

  // INVALID_ARGUMENT naming the field; a domain not in `domains` lists the known ones.
  static absl::StatusOr<SyncInput> Parse(const Json& input,
                                         const entities::EntityConfigRegistry& domains);

  // What only a start checks, against the clock of the server that starts the run (a replay,
  // on another worker's clock, does not check again): INVALID_ARGUMENT for a start_dt after
  // `now`, which would move the domain's watermark past edits not yet made, so that they were
  // never synced.
  absl::Status CheckStart(absl::Time now) const;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_INPUT_H_
