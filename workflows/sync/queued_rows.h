// The rows sync-process hands to sync-flush. One sync-process batch is queued as one row of
// vecsync.pending_batches, its entities encoded together in `body`: writing, reading and
// deleting a row per entity cost PostgreSQL more than everything else the sync did there.
//
//   std::string body = EncodeQueuedRows(rows);      // rows: views into the caller's strings
//   ASSIGN_OR_RETURN(std::vector<QueuedRow> back, DecodeQueuedRows(body));  // views into body
#ifndef VECSYNC_WORKFLOWS_SYNC_QUEUED_ROWS_H_
#define VECSYNC_WORKFLOWS_SYNC_QUEUED_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vecsync::workflows {

// One entity's row for ClickHouse, and what entity_state records once it is inserted. Its
// strings are views: into the data it is encoded from, or into the body it was decoded from.
struct QueuedRow {
  int64_t team_id = 0;
  absl::string_view id;
  // Little-endian float32 bytes. nullopt: the flush embeds `text` first. Empty for a
  // tombstone; the vector ClickHouse already holds for a row whose properties alone changed.
  std::optional<absl::string_view> vector;
  absl::string_view text;
  absl::string_view properties;  // A JSON object.
  bool deleted = false;
  int64_t embedding_version = 0;
  int64_t row_version = 0;  // ClickHouse's `version` for the row.
  int64_t source_updated_us = 0;
  absl::string_view vector_hash;  // Empty for a tombstone.
  // Set when the flush records the summary with the vector (a local summarizer's): the hash of
  // the rendered entity and of the summary, and the summary itself when it is not `text` (a
  // domain may embed more than the summary).
  std::optional<absl::string_view> content_hash, summary_hash, summary;

  // Field by field, the strings by content.
  bool operator==(const QueuedRow&) const = default;
};

// `rows` as one body. The encoding starts with a format byte; DecodeQueuedRows reads it back.
std::string EncodeQueuedRows(absl::Span<const QueuedRow> rows);

// The rows of `body`, as views into it. A truncated, malformed or unknown body is DATA_LOSS.
absl::StatusOr<std::vector<QueuedRow>> DecodeQueuedRows(absl::string_view body);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_QUEUED_ROWS_H_
