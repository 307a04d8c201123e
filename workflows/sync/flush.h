// sync-flush: moves queued rows to ClickHouse (FlushInput → FlushResult). It leases whole
// pending batches (its run's own first; with take_carried_over, then those ended runs left),
// up to insert_batch_size rows, keeps the newest row of each entity, embeds what has no vector
// yet and inserts them as one RowBinary insert (flush_insert.h), with no transaction open;
// then, in one short transaction, records them in the ledger and deletes the batches. Rows
// other runs queued that the ledger already holds are dropped. A flush that dies after its
// insert leaves its batches leased: a retry of its step takes them over at once, any other
// flush once the lease expires, and inserts them again (ClickHouse keeps one row per version).
//
// An item the embedder rejects is recorded as failed; an outage or rate limit fails the attempt
// (nothing recorded, the engine retries it); a refused key fails the run. A flush of one insert
// (max_batches 1) records its result as it commits, so a retry whose predecessor committed
// returns those counts instead of flushing other batches under its name.
#ifndef VECSYNC_WORKFLOWS_SYNC_FLUSH_H_
#define VECSYNC_WORKFLOWS_SYNC_FLUSH_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

struct FlushInput {
  std::string domain;
  int insert_batch_size = 10000;   // Rows per insert.
  int embed_batch_size = 96;       // Texts per embeddings request.
  int max_parallel_requests = 5;   // Embeddings requests at once.
  int max_batches = 0;             // Inserts to make; 0: until nothing waits.
  bool take_carried_over = false;  // Also take what ended runs left, after the run's own.
  bool datetime64 = false;         // The vector table's timestamp is DateTime64(6).

  Json ToJson() const;
  static absl::StatusOr<FlushInput> FromJson(const Json& json);
};

struct FlushResult {
  int64_t inserted = 0;      // Rows inserted into ClickHouse.
  int64_t embedded = 0;      // The run's own rows embedded.
  int64_t failed = 0;        // The run's own rows the embedder rejected.
  int64_t carried_over = 0;  // Rows other runs queued, inserted or failed.
  // The run's own rows superseded by a newer row of the same entity.
  int64_t skipped_unchanged = 0;
  // Tokens the embedding provider reported for the run's rows and those carried over.
  int64_t embedding_tokens = 0;
  // Whether batches no flush held were left. nullopt in a result an older vecsync recorded.
  std::optional<bool> more;

  Json ToJson() const;
  static absl::StatusOr<FlushResult> FromJson(const Json& json);
};

inline constexpr engine::ActivityType<FlushInput, FlushResult> kFlushActivity{"sync-flush"};

absl::Status RegisterFlushActivity(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_FLUSH_H_
