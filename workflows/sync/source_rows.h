// Reading a domain's entities from its source table, as its EntityConfig describes them: only
// rows in the config's scope (tenant scope and consent predicate) are ever returned. The source
// tables are read-only for vecsync.
//
//   SourceRows source(*conn, config);
//   ASSIGN_OR_RETURN(std::vector<ChangedKey> page, source.ChangedAfter(cursor, window, filter,
//   500)); ASSIGN_OR_RETURN(std::vector<entities::EntityRecord> rows, source.Read(keys));
//
// Thread-compatible, as the connection is.
#ifndef VECSYNC_WORKFLOWS_SYNC_SOURCE_ROWS_H_
#define VECSYNC_WORKFLOWS_SYNC_SOURCE_ROWS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "entities/entity_config.h"
#include "src/common/pg.h"
#include "workflows/sync/entity_key.h"
#include "workflows/sync/ledger.h"

namespace vecsync::workflows {

// A key in the order of a walk by change time: (updated_at, team_id, id).
struct ChangedKey {
  int64_t updated_us = -1;  // The row's updated_at, in microseconds since the epoch.
  EntityKey key{-1, ""};
};

class SourceRows {
 public:
  // `conn` and `config` must outlive this object.
  SourceRows(PgConnection& conn, const entities::EntityConfig& config)
      : conn_(conn), config_(config) {}

  // Up to `limit` rows in scope with after_us < updated_at <= until_us, after `cursor` in
  // (updated_at, team_id, id) order: an index range on updated_at, never a full scan.
  absl::StatusOr<std::vector<ChangedKey>> ChangedAfter(const ChangedKey& cursor, int64_t after_us,
                                                       int64_t until_us, const KeyFilter& filter,
                                                       int limit);

  // The rows of `keys` that exist and are in scope (soft-deleted ones included, flagged), in no
  // particular order. One primary-key probe per key.
  absl::StatusOr<std::vector<entities::EntityRecord>> Read(absl::Span<const EntityKey> keys);

 private:
  PgConnection& conn_;
  const entities::EntityConfig& config_;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SOURCE_ROWS_H_
