// sync-entity-vectors: finds the entities of one domain that changed, summarizes, embeds and
// writes them to ClickHouse. The workflow only orchestrates; the parts it drives:
//
//   sync_input.h      the run's input (PostHog's names and defaults)
//   watermark.h       sync-prepare / sync-finish: where the run starts, where it leaves the domain
//   selection.h       sync-select: pages of keys (retry, changed, hard_deleted)
//   process.h         sync-process: summarize a batch and queue what ClickHouse should get
//   flush.h           sync-flush: embed queued rows, insert them, record them in the ledger
//   ledger.h          what vecsync made of each entity and what ClickHouse holds
//   vector_table.h    the ClickHouse table: schema, rows, search
//
// The run selects pages of keys and keeps up to max_parallel_requests sync-process activities
// in flight; whenever insert_batch_size rows are queued, a sync-flush (up to two at once) moves
// them to ClickHouse while summarizing goes on. Progress counts are the run's progress
// document; the run checkpoints between pages (sync_position.h), so its history stays bounded
// however many entities it syncs.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_ENTITY_VECTORS_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_ENTITY_VECTORS_H_

#include "absl/status/status.h"
#include "src/engine/registry.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

inline constexpr char kSyncEntityVectorsWorkflow[] = "sync-entity-vectors";

// Registers the workflow (with its input validator) and its activities. `env` (and what it
// points to) must outlive the registry's users.
absl::Status RegisterSyncEntityVectors(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_ENTITY_VECTORS_H_
