// Selection: which entities of a domain a run looks at, a page of keys at a time (sync-select).
//
// A run walks some of these phases, in this order, each paged by key (never by offset: rows
// move while it reads):
//   retry             entities whose last attempt failed and are not quarantined (the ledger);
//   queued            entities of the change queue, up to the run's sequence number;
//   scope_teams       rows of the teams that entered or left the domain's scope whose ledger
//                     entry does not match them (a keyed walk of the source, as reconcile);
//   scope_teams_gone  entities of those teams ClickHouse holds a live row of whose source row
//                     is gone;
//   changed           rows in scope changed after the run's watermark, up to its snapshot, in
//                     (updated_at, team_id, id) order on the source table's updated_at index;
//   reconcile         every row of the table whose ledger entry does not match it, in primary
//                     key order (SourceRows::DivergedAfter);
//   hard_deleted      entities ClickHouse holds a live row of whose source row is gone.
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

enum class SelectPhase {
  kRetry,
  kQueued,
  kScopeTeams,
  kScopeTeamsGone,
  kChanged,
  kReconcile,
  kHardDeleted,
};

// "retry", "queued", "scope_teams", …: the names above.
const char* SelectPhaseName(SelectPhase phase);
// INVALID_ARGUMENT for another name.
absl::StatusOr<SelectPhase> SelectPhaseFromName(const std::string& name);

// Where a phase's walk is: after this key (and, in the changed phase, this updated_at; in the
// walks of the source by primary key, only the id counts). A key with team_id -1: before every
// key.
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
  int64_t overlap_us = 0;     // Rows this long before the watermark are checked again.
  int embedding_version = 1;  // What the ledger must hold (changed, reconcile, scope_teams).
  int64_t changes_upto = 0;   // The queued changes of the run (queued).
  KeyFilter filter;           // In scope_teams and scope_teams_gone: the teams to walk.

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

// The page `in` asks for: what sync-select returns (it writes nothing).
absl::StatusOr<SelectResult> SelectKeys(const SyncEnvironment& env, const SelectInput& in);

absl::Status RegisterSelectActivity(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SELECTION_H_
