// Selection: which entities of a domain a run looks at, a page of keys at a time (sync-select).
//
// A run walks three phases in order, each paged by key (never by offset: rows move while it
// reads):
//   retry         entities whose last attempt failed and are not quarantined (the ledger);
//   changed       rows in scope changed after the run's watermark, up to its snapshot, in
//                 (updated_at, team_id, id) order on the source table's updated_at index;
//   hard_deleted  for domains whose rows are deleted outright: entities ClickHouse holds a
//                 live row of whose source row is gone.
// A key may come up in two phases; sync-process decides what each needs.
#ifndef VECSYNC_WORKFLOWS_SYNC_SELECTION_H_
#define VECSYNC_WORKFLOWS_SYNC_SELECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/entity_key.h"
#include "workflows/sync/ledger.h"
#include "workflows/sync/source_rows.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

enum class SelectPhase { kRetry, kChanged, kHardDeleted };

// "retry", "changed", "hard_deleted".
const char* SelectPhaseName(SelectPhase phase);
// INVALID_ARGUMENT for another name.
absl::StatusOr<SelectPhase> SelectPhaseFromName(const std::string& name);

// Where a phase's walk is: after this key (and, in the changed phase, this updated_at).
using SelectCursor = ChangedKey;
Json SelectCursorToJson(const SelectCursor& cursor);
absl::StatusOr<SelectCursor> SelectCursorFromJson(const Json& json);

struct SelectInput {
  std::string domain;
  SelectPhase phase = SelectPhase::kRetry;
  SelectCursor cursor;  // The start of the phase: before every key.
  int limit = 0;        // Keys per page, at least 1.
  int64_t snapshot_us = 0;
  int64_t watermark_us = -1;  // -1: from the beginning.
  KeyFilter filter;

  Json ToJson() const;
  static absl::StatusOr<SelectInput> FromJson(const Json& json);
};

struct SelectResult {
  std::vector<EntityKey> keys;
  SelectCursor cursor;  // Where the next page starts.
  bool done = false;    // The phase has no more keys.

  Json ToJson() const;
  static absl::StatusOr<SelectResult> FromJson(const Json& json);
};

inline constexpr engine::ActivityType<SelectInput, SelectResult> kSelectActivity{"sync-select"};

absl::Status RegisterSelectActivity(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SELECTION_H_
