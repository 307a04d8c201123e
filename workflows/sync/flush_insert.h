// The body of one flush's ClickHouse insert: the newest row of each entity among the batches a
// flush took, their missing vectors embedded, encoded in key order as RowBinary and handed to a
// sink a chunk at a time as they are made (the flush streams them into the insert, so a
// 10,000-row insert of 6 KB vectors is never held whole).
//
//   std::vector<FlushRow> rows = NewestRows(taken, &superseded);
//   ASSIGN_OR_RETURN(FlushInsert built,
//                    BuildFlushInsert(rows, options, embedder, [&](std::string chunk) {
//                      return insert->Write(std::move(chunk));
//                    }));
//
// Rows go into the body in key order, ClickHouse's own (the domain is the same for all), so
// ClickHouse finds the block sorted and need not sort it (that was a quarter of its work on an
// insert). A row waiting for its vector holds up the rows after it until its request returns
// (rows_in_order.h). A request the embedder rejects is sent again in halves, down to single
// texts, so only the texts it rejects fail; those rows are left out of the body.
#ifndef VECSYNC_WORKFLOWS_SYNC_FLUSH_INSERT_H_
#define VECSYNC_WORKFLOWS_SYNC_FLUSH_INSERT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "src/clients/embedder.h"
#include "workflows/sync/pending_batches.h"
#include "workflows/sync/queued_rows.h"

namespace vecsync::workflows {

// A row chosen for the insert, and whether its batch is the flush's own run's.
struct FlushRow {
  const QueuedRow* row;
  bool own;
};

// The newest row of each entity in `batches`, in key order. An entity waits in two batches when
// a failed run queued it and a later one queued it again, or when two phases of a run selected
// it; among rows of one version the run's own wins (it counts as the run's work). Adds to
// `*superseded_own` the run's own rows left out that waited for a vector.
std::vector<FlushRow> NewestRows(const std::vector<TakenBatch>& batches, int64_t* superseded_own);

struct FlushInsertOptions {
  std::string domain;
  int embed_batch_size = 96;
  int max_parallel_requests = 5;
  bool datetime64 = false;  // The table's timestamp column (VectorTable::CreateIfMissing()).
};

// Takes the next chunk of the insert's body (RowBinary, in VectorTable::AppendRow()'s order).
using FlushInsertSink = std::function<absl::Status(std::string chunk)>;

// Bytes of encoded rows handed to the sink at a time.
inline constexpr size_t kFlushInsertChunkBytes = 1 << 20;

struct FlushInsert {
  std::vector<const QueuedRow*> encoded;                   // The rows handed to the sink.
  std::vector<std::pair<FlushRow, std::string>> rejected;  // Rows the embedder rejected, why.
  int64_t embedded = 0;                                    // The run's own rows embedded.
  int64_t carried_over = 0;  // Other runs' rows encoded (embedded or carrying their vector).
};

// Embeds what waits for its vector (up to max_parallel_requests requests of embed_batch_size at
// a time) and encodes every row into `sink`. An error of the provider's, not the items', fails
// the build (UNAVAILABLE and the like: retry; UNAUTHENTICATED: a refused key), as does the
// sink's; what was handed to the sink by then must then be thrown away.
absl::StatusOr<FlushInsert> BuildFlushInsert(absl::Span<const FlushRow> rows,
                                             const FlushInsertOptions& options,
                                             clients::Embedder& embedder,
                                             const FlushInsertSink& sink);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_FLUSH_INSERT_H_
