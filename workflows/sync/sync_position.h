// Where a run of sync-entity-vectors is and what it has done: saved at every checkpoint, so a
// run resumed after a crash (or replayed) goes on from there with the same totals.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_POSITION_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_POSITION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "workflows/sync/flush.h"
#include "workflows/sync/process.h"
#include "workflows/sync/selection.h"

namespace vecsync::workflows {

// The run's totals: its result, and the counts of its progress. Every selected entity ends as
// exactly one of embedded, refreshed, skipped_unchanged, failed or tombstoned.
struct SyncCounts {
  int64_t selected = 0;
  int64_t summarized = 0;
  int64_t embedded = 0;
  int64_t refreshed = 0;  // Written again with the vector it had: only properties changed.
  int64_t skipped_unchanged = 0;
  int64_t failed = 0;
  int64_t tombstoned = 0;
  int64_t inserted = 0;
  // Queued by an earlier run that did not flush it (it failed or was cancelled), and inserted
  // or failed by this run's flushes; not among `selected`.
  int64_t carried_over = 0;
  // Tokens the providers reported: the summaries' prompts and completions, and the embeddings'.
  // (An attempt that failed and was retried is not counted.)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t embedding_tokens = 0;

  void Add(const ProcessResult& r);
  void Add(const FlushResult& r);

  Json ToJson() const;
  // A missing counter (a checkpoint of an older vecsync) is 0.
  static absl::StatusOr<SyncCounts> FromJson(const Json& json);
};

struct SyncPosition {
  SelectPhase phase = SelectPhase::kRetry;
  SelectCursor cursor;
  SyncCounts counters;
  // Set when the run starts (from sync-prepare's recorded result): a replay sees the same.
  std::optional<int64_t> snapshot_us;
  int64_t watermark_us = -1;  // -1: a full walk (a new embedding version or a first run).
  int64_t overlap_us = 0;     // The walk rechecks this long before the watermark.
  bool datetime64 = false;
  // Entities per sync-process. nullopt in a checkpoint of a vecsync from before local batches:
  // such a run keeps PostHog's 96 (or the input's size).
  std::optional<int> summarize_batch_size;
  // sync-flushes at once. nullopt until the run decides (runs that began before parallel
  // flushes keep one at a time, or their replay would diverge).
  std::optional<int> max_flushes;
  int64_t pending = 0;  // Rows queued that no flush has taken yet, at the checkpoint.
  // Keys the selection has returned so far. (A checkpoint of an older vecsync has none; every key
  // it had selected was processed then, so it is counters.selected.)
  int64_t listed = 0;
  // Whether the run converges to the desired state (takes queued changes and teams that entered
  // or left the scope, claims its domain). nullopt until the run decides; false in runs that
  // began before: they walk retry, changed and hard_deleted, as they were recorded.
  std::optional<bool> converges;
  int64_t changes_upto = 0;  // The queued changes the run syncs (sync-prepare's).
  // The embedding version the run syncs (sync-prepare's); nullopt in a checkpoint of an older
  // vecsync, whose runs synced their input's.
  std::optional<int> embedding_version;
  bool other_versions = true;  // The domain has versions besides the run's (sync-prepare's).
  std::vector<int64_t> changed_teams;  // The teams whose scope changed, walked whole.

  Json ToJson() const;
  static absl::StatusOr<SyncPosition> FromJson(const Json& json);
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_POSITION_H_
