// What the sync's activities work with, composed once where the server (or a test) is built.
// Nothing here is owned; everything must outlive the worker that runs the activities.
#ifndef VECSYNC_WORKFLOWS_SYNC_SYNC_ENVIRONMENT_H_
#define VECSYNC_WORKFLOWS_SYNC_SYNC_ENVIRONMENT_H_

#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/clients/embedder.h"
#include "src/clients/summarizer.h"
#include "src/common/pg_pool.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::workflows {

struct SyncEnvironment {
  // vecsync's database, where the source tables are readable too.
  PgPool* pool = nullptr;
  // The domains that may be synced.
  const entities::EntityConfigRegistry* domains = nullptr;
  // Where the vectors go (ClickHouse).
  VectorTable* vectors = nullptr;
  clients::Summarizer* summarizer = nullptr;
  clients::Embedder* embedder = nullptr;
  // How often an activity heartbeats from a thread of its own while it waits on the provider:
  // well inside the activities' 5-minute heartbeat timeout.
  absl::Duration keep_alive_interval = absl::Seconds(30);
  // How long a flush's lease on its batches lasts unless renewed (it is, at every keep-alive):
  // how soon another flush may take over the batches of one that died.
  absl::Duration batch_lease = absl::Minutes(5);
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SYNC_ENVIRONMENT_H_
