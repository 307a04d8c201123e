#include "workflows/sync/failed_entities.h"

#include "src/common/status_macros.h"

namespace vecsync::workflows {

absl::StatusOr<std::vector<FailedEntity>> ListFailedEntities(PgConnection& conn,
                                                             const std::string& domain,
                                                             bool quarantined_only) {
  ASSIGN_OR_RETURN(PgResult rows, conn.Query("SELECT team_id, entity_id, failures, quarantined, "
                                             "coalesce(last_error, '') FROM vecsync.entity_state "
                                             "WHERE domain = $1 AND failures > 0 "
                                             "AND ($2::boolean = false OR quarantined) "
                                             "ORDER BY quarantined DESC, team_id, entity_id",
                                             domain, quarantined_only));
  std::vector<FailedEntity> out;
  for (int i = 0; i < rows.rows(); ++i) {
    out.push_back({rows.GetInt64(i, 0), rows.GetString(i, 1), static_cast<int>(rows.GetInt64(i, 2)),
                   rows.GetBool(i, 3), rows.GetString(i, 4)});
  }
  return out;
}

absl::StatusOr<int64_t> RetryFailedEntities(PgConnection& conn, const std::string& domain,
                                            bool quarantined_only) {
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query("UPDATE vecsync.entity_state SET failures = 1, quarantined = false, "
                 "  last_error = 'retry requested; last error: ' || coalesce(last_error, ''), "
                 "  updated_at = now() "
                 "WHERE domain = $1 AND failures > 0 AND ($2::boolean = false OR quarantined)",
                 domain, quarantined_only));
  return r.affected_rows();
}

}  // namespace vecsync::workflows
