// Teams entering and leaving a domain's scope (vecsync.scope_teams): an organization that
// approves AI data processing, or withdraws it, or a team deleted, changes no entity row, so no
// walk by updated_at ever finds their entities. Each run compares the teams in scope now
// (SourceScope::teams_sql) with those at the domain's last look, and queues every team that
// entered or left as a change of all its entities (change_queue.h), in one transaction with the
// new set: a crash forgets nothing.
//
// The first look at a domain compares with the teams the ledger holds live entities of.
#ifndef VECSYNC_WORKFLOWS_SYNC_SCOPE_TEAMS_H_
#define VECSYNC_WORKFLOWS_SYNC_SCOPE_TEAMS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "entities/entity_config.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

// Compares and queues as above. Teams that entered are queued only when `queue_entered`: a run
// that walks every row of the domain anyway finds their entities without it. Nothing (and no
// change) for a domain whose scope has no teams_sql.
absl::Status RefreshScopeTeams(PgConnection& conn, const entities::EntityConfig& config,
                               bool queue_entered);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_SCOPE_TEAMS_H_
