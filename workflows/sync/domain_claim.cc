#include "workflows/sync/domain_claim.h"

#include <set>
#include <vector>

#include "src/common/status_macros.h"
#include "src/engine/client.h"

namespace vecsync::workflows {

absl::StatusOr<std::optional<std::string>> ClaimDomain(PgConnection& conn,
                                                       const std::string& domain,
                                                       const std::string& run_id) {
  PgTransaction txn(conn);
  RETURN_IF_ERROR(txn.Begin());
  // Two runs claiming at once queue on the claim's row lock.
  RETURN_IF_ERROR(conn.Query("INSERT INTO vecsync.domain_claims (domain, run_id) "
                             "VALUES ($1, $2::uuid) ON CONFLICT (domain) DO NOTHING",
                             domain, run_id)
                      .status());
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT run_id::text FROM vecsync.domain_claims "
                                          "WHERE domain = $1 FOR UPDATE",
                                          domain));
  const std::string holder = r.GetString(0, 0);
  if (holder != run_id) {
    ASSIGN_OR_RETURN(std::set<std::string> running, engine::RunningRuns(conn, {holder}));
    if (running.contains(holder)) return holder;
    RETURN_IF_ERROR(conn.Query("UPDATE vecsync.domain_claims SET run_id = $2::uuid, "
                               "claimed_at = now() WHERE domain = $1",
                               domain, run_id)
                        .status());
  }
  RETURN_IF_ERROR(txn.Commit());
  return std::nullopt;
}

absl::Status ReleaseDomain(PgConnection& conn, const std::string& domain,
                           const std::string& run_id) {
  return conn
      .Query("DELETE FROM vecsync.domain_claims WHERE domain = $1 AND run_id = $2::uuid", domain,
             run_id)
      .status();
}

}  // namespace vecsync::workflows
