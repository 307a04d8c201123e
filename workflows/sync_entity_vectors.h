// sync-entity-vectors: finds the entities of one domain that changed, summarizes, embeds and
// writes them to ClickHouse (see sync_activities.h for the activities, sync_input.h for the
// input).
//
// The run selects pages of keys (failed entities first, then rows changed since the domain's
// watermark up to a fixed snapshot time, then, for domains whose rows are deleted outright,
// synced entities that disappeared) and keeps up to max_parallel_requests sync-process
// activities in flight; whenever insert_batch_size vectors are pending, a sync-flush moves them
// to ClickHouse while summarizing goes on. Progress counts are the run's progress document;
// the run checkpoints between pages, so its history stays bounded however many entities it
// syncs.
#ifndef VECSYNC_WORKFLOWS_SYNC_ENTITY_VECTORS_H_
#define VECSYNC_WORKFLOWS_SYNC_ENTITY_VECTORS_H_

#include "absl/status/status.h"
#include "src/engine/registry.h"
#include "workflows/sync_activities.h"

namespace vecsync::workflows {

inline constexpr char kSyncEntityVectorsWorkflow[] = "sync-entity-vectors";

// Registers the workflow (with its input validator) and its activities.
absl::Status RegisterSyncEntityVectors(engine::Registry* registry, SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_ENTITY_VECTORS_H_
