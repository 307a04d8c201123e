// The activities of sync-entity-vectors. New vectors never pass through the engine's history
// nor PostgreSQL: sync-process queues what changed as one batch in vecsync.pending_batches (its
// entities encoded together with their summaries, see queued_rows.h), and sync-flush embeds the
// summaries right before inserting them into ClickHouse in large RowBinary inserts. (A row whose
// properties alone changed carries the vector ClickHouse already holds.) Every activity is
// idempotent: one that committed its work returns the recorded result when retried.
//
//   sync-prepare  {domain, embedding_version}        → {watermark_us|null}; creates the
//                                                      ClickHouse table when missing; forgets
//                                                      the committed_steps of ended runs
//   sync-select   {domain, phase, cursor, limit, …}  → {keys: [[team_id, id]…], cursor, done}
//   sync-process  {domain, keys, embedding_version,  → counts, and "queued"; summarizes what
//                  insert_batch_size}                  changed, queues what needs a vector,
//                                                      reuses the vector in ClickHouse when
//                                                      only properties changed, records
//                                                      failures
//   sync-flush    {domain, insert_batch_size,        → {inserted, embedded, failed,
//                  embed_batch_size,                   carried_over, skipped_unchanged, more};
//                  max_parallel_requests,              embeds and inserts whole batches of the
//                  max_batches, take_carried_over}     run's own, then (take_carried_over)
//                                                      those ended runs left, up to
//                                                      insert_batch_size rows per insert;
//                                                      max_batches 0: until none waits. An item
//                                                      the provider rejects is recorded as
//                                                      failed; an outage fails the attempt.
//                                                      "more": batches are left
//   sync-finish   {domain, embedding_version, snapshot_us} → advances the watermark
#ifndef VECSYNC_WORKFLOWS_SYNC_ACTIVITIES_H_
#define VECSYNC_WORKFLOWS_SYNC_ACTIVITIES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/summarizer.h"
#include "src/common/pg_pool.h"
#include "src/engine/registry.h"

namespace vecsync::workflows {

// After this many failed attempts an entity is quarantined: later runs skip it until
// `vecsync entities failed --retry` clears it.
inline constexpr int kMaxEntityFailures = 5;

// What the sync activities work with. Not owned; must outlive the worker.
struct SyncEnvironment {
  PgPool* pool = nullptr;  // vecsync's database, where the source tables are readable too.
  clients::ClickHouseClient* clickhouse = nullptr;
  clients::Summarizer* summarizer = nullptr;
  clients::Embedder* embedder = nullptr;
  std::string table = "pg_embeddings";
  // How often an activity heartbeats from a thread of its own while it waits on the provider:
  // well inside the activities' 5-minute heartbeat timeout.
  absl::Duration keep_alive_interval = absl::Seconds(30);
};

absl::Status RegisterSyncActivities(engine::Registry* registry, SyncEnvironment* env);

// A stable 128-bit hash of `text` as 32 hex digits (FNV-1a twice, different seeds).
std::string StableHash(absl::string_view text);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_ACTIVITIES_H_
