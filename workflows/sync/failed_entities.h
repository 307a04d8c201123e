// The entities whose sync failed: listing them, and lifting their quarantine so the next run of
// sync-entity-vectors retries them (`vecsync entities failed`).
#ifndef VECSYNC_WORKFLOWS_SYNC_FAILED_ENTITIES_H_
#define VECSYNC_WORKFLOWS_SYNC_FAILED_ENTITIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

struct FailedEntity {
  int64_t team_id = 0;
  std::string entity_id;
  int failures = 0;
  bool quarantined = false;
  std::string last_error;
};

// Quarantined entities first, then by key.
absl::StatusOr<std::vector<FailedEntity>> ListFailedEntities(PgConnection& conn,
                                                             const std::string& domain,
                                                             bool quarantined_only);

// Gives the failed entities one failure and no quarantine, so the next run's retry phase
// selects them with a fresh budget. Returns how many it changed.
absl::StatusOr<int64_t> RetryFailedEntities(PgConnection& conn, const std::string& domain,
                                            bool quarantined_only);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_FAILED_ENTITIES_H_
