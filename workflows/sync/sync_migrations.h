// The sync's own tables in the `vecsync` schema (workflows/sync/migrations/*.sql): the ledger
// (entity_state), the hand-off (pending_batches), committed_steps and sync_watermarks. Applied
// by the engine's runner, after the engine's set, wherever the program is composed.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_MIGRATIONS_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_MIGRATIONS_H_

#include "src/engine/migrations.h"

namespace vecsync::workflows {

const engine::MigrationSet& SyncMigrations();

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_MIGRATIONS_H_
