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
#include <optional>
#include <string>
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

// Rows updated in (after_us, until_us], and those updated in the overlap before it that the ledger
// does not hold, at the run's embedding version, as they are.
struct ChangeWindow {
  int64_t after_us = -1;  // -1: from the beginning.
  int64_t overlap_us = 0;
  int64_t until_us = 0;
};

// A page of a keyed walk of the source (DivergedAfter).
struct DivergedPage {
  std::vector<EntityKey> keys;  // The page's rows whose ledger entry does not match them.
  std::string last_id;          // The last row's id: the next page starts after it.
  bool done = false;            // The walk has no more rows.
};

class SourceRows {
 public:
  // `conn` and `config` must outlive this object.
  SourceRows(PgConnection& conn, const entities::EntityConfig& config)
      : conn_(conn), config_(config) {}

  // Up to `limit` rows in scope of `window`, after `cursor` in (updated_at, team_id, id) order:
  // an index range on updated_at, never a full scan.
  absl::StatusOr<std::vector<ChangedKey>> ChangedAfter(const ChangedKey& cursor,
                                                       const ChangeWindow& window,
                                                       int embedding_version,
                                                       const KeyFilter& filter, int limit);

  // The next `limit` rows of the table after the id `after` (nullopt: from the first), in the
  // order of the primary key, and of them those whose ledger entry does not describe them: a row
  // in scope that the ledger does not hold live at `embedding_version`, as it was last updated,
  // without a failure; or a row out of scope or deleted that the ledger holds live. Quarantined
  // entities wait for `vecsync entities failed --retry`, except to be tombstoned.
  absl::StatusOr<DivergedPage> DivergedAfter(const std::optional<std::string>& after,
                                             const KeyFilter& filter, int embedding_version,
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
