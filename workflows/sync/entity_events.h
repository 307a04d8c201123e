// The outbox of entity changes (vecsync.entity_events), what WatchEntityChanges streams: one event
// per entity version written to ClickHouse or tombstoned, appended by the flush in the
// transaction that records it (Ledger::RecordSynced). Appends are serialized until their
// transaction commits (they are the end of short transactions), so `seq` order is commit order:
// a subscriber that resumes after the last seq it processed misses and repeats nothing, and a
// stream may hand a quiet subscriber the newest seq it scanned as a checkpoint. Events are kept
// for kEntityEventRetention; a subscriber resuming from before the oldest kept is told so.
//
//   ASSIGN_OR_RETURN(auto events, EntityEventsAfter(conn, "action", last_seq, {}, 500));
#ifndef VECSYNC_WORKFLOWS_SYNC_ENTITY_EVENTS_H_
#define VECSYNC_WORKFLOWS_SYNC_ENTITY_EVENTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

inline constexpr absl::Duration kEntityEventRetention = absl::Hours(7 * 24);

struct EntityEvent {
  int64_t seq = 0;
  std::string domain;
  int64_t team_id = 0;
  std::string entity_id;
  bool tombstone = false;  // The entity left (deleted, or out of scope); else a new version.
  int embedding_version = 0;
  int64_t row_version = 0;  // ClickHouse's `version` of the row.
  absl::Time created_at;    // When the transaction that wrote it ran.
};

// Serializes appends of events until the calling transaction ends. First in the transaction,
// before any row it locks.
absl::Status LockEntityEventAppends(PgConnection& conn);

// Up to `limit` events of `domain` after `after_seq`, in seq order; of `team_ids` only, unless
// empty. OUT_OF_RANGE when events after `after_seq` were pruned (a subscriber that was away
// longer than the retention window): it must reconcile and watch from now.
absl::StatusOr<std::vector<EntityEvent>> EntityEventsAfter(PgConnection& conn,
                                                           const std::string& domain,
                                                           int64_t after_seq,
                                                           const std::vector<int64_t>& team_ids,
                                                           int limit);

// The newest seq of any event (0 before the first): where a subscriber with no token starts.
absl::StatusOr<int64_t> NewestEntityEventSeq(PgConnection& conn);

// Drops events older than `retention`, recording how far it dropped.
absl::Status PruneEntityEvents(PgConnection& conn, absl::Duration retention);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_ENTITY_EVENTS_H_
