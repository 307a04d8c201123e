// One domain, one payer: the runs of a domain take turns (vecsync.domain_claims). A run claims
// its domain before it selects anything and releases it when it finishes; a second run waits
// for the first to end, then syncs what is still to sync, so no two runs ever summarize or
// embed the same entity version. A claim whose run has ended (failed, cancelled, terminated,
// or killed with its server) is free.
#ifndef VECSYNC_WORKFLOWS_SYNC_DOMAIN_CLAIM_H_
#define VECSYNC_WORKFLOWS_SYNC_DOMAIN_CLAIM_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/pg.h"

namespace vecsync::workflows {

// Claims `domain` for the run `run_id`. nullopt when the run holds it now (it took it, or held
// it already); otherwise the id of the running run that holds it.
absl::StatusOr<std::optional<std::string>> ClaimDomain(PgConnection& conn,
                                                       const std::string& domain,
                                                       const std::string& run_id);

// Releases `domain` if `run_id` holds it.
absl::Status ReleaseDomain(PgConnection& conn, const std::string& domain,
                           const std::string& run_id);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_DOMAIN_CLAIM_H_
