// The hand-off between sync-process and sync-flush (vecsync.pending_batches): each batch a
// sync-process queues is one row, its entities encoded together (queued_rows.h), without
// vectors. A flush leases whole batches, embeds and inserts their rows with no transaction
// open, then records them in the ledger and deletes the batches in one short transaction.
//
// Batches belong to the run that queued them. A flush takes its own run's first; batches that
// ended runs left (they failed or were cancelled) go with a later run's final flushes.
//
// Leases, like the engine's claims: a batch is leased by an owner (the flush's run and step)
// until an expiry the owner renews while it works. A batch whose lease expired (its flush died)
// may be leased by any flush; one leased by the same owner (an earlier attempt of the same
// step) is taken over at once. Deleting checks the lease: a flush that lost one of its batches
// to another records nothing (ABORTED), and its retry starts over.
//
//   PendingBatches batches(*conn, "action");
//   ASSIGN_OR_RETURN(auto committed, batches.Queue(ctx.info(), result, rows, 10000));
//
// Thread-compatible, as the connection is.
#ifndef VECSYNC_WORKFLOWS_SYNC_PENDING_BATCHES_H_
#define VECSYNC_WORKFLOWS_SYNC_PENDING_BATCHES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "src/engine/activity_context.h"
#include "workflows/sync/queued_rows.h"

namespace vecsync::workflows {

// A batch a flush took, and once decoded, its rows (views into `body`).
struct TakenBatch {
  int64_t id = 0;
  bool own = false;  // Queued by the flush's own run.
  std::string body;
  std::vector<QueuedRow> rows;
};

class PendingBatches {
 public:
  PendingBatches(PgConnection& conn, std::string domain)
      : conn_(conn), domain_(std::move(domain)) {}

  // Queues `rows` as queued by the attempt `info`: one batch, or one per `max_rows` rows, so
  // that a flush can fill an insert of max_rows with whole batches. Records `result` as what
  // the attempt returns in the same statement (atomic without a transaction of its own). When
  // another attempt of the activity recorded its result first, queues nothing and returns that
  // result: the caller rolls back what else it wrote, and returns it.
  absl::StatusOr<std::optional<Json>> Queue(const engine::ActivityInfo& info, const Json& result,
                                            absl::Span<const QueuedRow> rows, size_t max_rows);

  // Leases to `owner`, for `lease`, whole batches no other flush holds, up to `max_rows` rows
  // between them (and at least one batch, however large): the batches of run `run_id` first,
  // then, with `take_others`, those of runs that no longer run, oldest first. A batch too large
  // for the rows left is left for a later flush. Each lease is a statement of its own: no
  // transaction stays open. Appends the batches to `taken`, decoded: a batch this vecsync cannot
  // read (another version's, or damaged) is DATA_LOSS, and its lease is released. Returns
  // whether a batch no flush holds was left.
  absl::StatusOr<bool> Lease(const std::string& owner, absl::Duration lease,
                             const std::string& run_id, int64_t max_rows, bool take_others,
                             std::vector<TakenBatch>& taken);

  // Extends `owner`'s leases to `lease` from now.
  absl::Status Renew(const std::string& owner, absl::Duration lease);

  // Gives up `owner`'s leases: the batches wait for another flush at once.
  absl::Status Release(const std::string& owner);

  // Deletes the batches `taken`, in the transaction that records their rows, if `owner` still
  // leases every one of them; ABORTED (deleting nothing that counts: the caller rolls back)
  // when another flush took one over after the lease expired.
  absl::Status DeleteLeased(const std::string& owner, const std::vector<TakenBatch>& taken);

 private:
  // The runs other than `run_id` that left batches of the domain and no longer run.
  absl::StatusOr<std::vector<std::string>> EndedRunsWithBatches(const std::string& run_id);

  PgConnection& conn_;
  const std::string domain_;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_PENDING_BATCHES_H_
