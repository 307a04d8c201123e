// The changes of a domain waiting to be synced (vecsync.entity_changes): entities that changed,
// and teams whose every entity must be looked at again (the team entered or left the domain's
// scope). Changes are coalesced per entity: one that changes again before a run takes it waits
// once, under a new sequence number. A run reads the queue's newest sequence number at its
// start, syncs the changes up to it, and removes those (and only those) once they are synced;
// a change queued meanwhile waits for the next run. So a crash at any point loses nothing.
//
//   ChangeQueue queue(*conn, "action");
//   RETURN_IF_ERROR(queue.AddEntities({{{2, "17"}, commit_time}}));
//   ASSIGN_OR_RETURN(int64_t upto, queue.NewestSeq());
//   … sync EntitiesAfter(…, upto, …) and the teams of TeamsUpTo(upto) …
//   RETURN_IF_ERROR(queue.Remove(upto));
//
// A view bound to a connection and a domain; thread-compatible, as the connection is.
#ifndef VECSYNC_WORKFLOWS_SYNC_CHANGE_QUEUE_H_
#define VECSYNC_WORKFLOWS_SYNC_CHANGE_QUEUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "src/common/pg.h"
#include "workflows/sync/entity_key.h"
#include "workflows/sync/ledger.h"

namespace vecsync::workflows {

// A change of one entity; `committed_at`, when known (from the change feed), is when the source
// committed it.
struct EntityChange {
  EntityKey key;
  std::optional<absl::Time> committed_at;
};

class ChangeQueue {
 public:
  ChangeQueue(PgConnection& conn, std::string domain) : conn_(conn), domain_(std::move(domain)) {}

  // Queues `changes` (an entity already waiting keeps its earliest commit time).
  absl::Status AddEntities(absl::Span<const EntityChange> changes);
  // Queues a change of each entity with one of `ids` that the ledger has seen, in whichever team
  // it holds it: a row deleted outright names only its id.
  absl::Status AddLedgerEntities(absl::Span<const std::string> ids,
                                 std::optional<absl::Time> committed_at);
  // Queues a change of every entity of each of `team_ids`.
  absl::Status AddTeams(absl::Span<const int64_t> team_ids);

  // The newest sequence number queued so far; 0 when nothing ever was.
  absl::StatusOr<int64_t> NewestSeq();

  // Up to `limit` keys after `after`, in key order, of entities changed up to `upto`.
  absl::StatusOr<std::vector<EntityKey>> EntitiesAfter(const EntityKey& after, int64_t upto,
                                                       int limit);
  // The teams whose every entity changed up to `upto`, in order.
  absl::StatusOr<std::vector<int64_t>> TeamsUpTo(int64_t upto);

  // Removes the changes up to `upto`: a run synced them. Returns, for those with a commit time,
  // the seconds since it.
  absl::StatusOr<std::vector<double>> Remove(int64_t upto);

 private:
  absl::Status Add(const std::vector<int64_t>& teams,
                   const std::vector<std::optional<std::string>>& ids,
                   const std::vector<std::optional<int64_t>>& committed_us);

  PgConnection& conn_;
  const std::string domain_;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_CHANGE_QUEUE_H_
