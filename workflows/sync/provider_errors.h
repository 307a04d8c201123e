// How the sync tells a provider's trouble (retry the attempt) from an item's (record it against
// the item) and from a refusal of vecsync itself (fail the run).
#ifndef VECSYNC_WORKFLOWS_SYNC_PROVIDER_ERRORS_H_
#define VECSYNC_WORKFLOWS_SYNC_PROVIDER_ERRORS_H_

#include "absl/status/status.h"

namespace vecsync::workflows {

// An outage, a rate limit or a timeout: the provider may recover. The activity fails and the
// engine retries it; no item is charged.
bool ProviderMayRecover(const absl::Status& s);

// The error belongs to the items of the request (rejected input, a bad answer for them): it is
// recorded against them. Otherwise the attempt fails: retried when the provider may recover,
// failing the run when it refuses vecsync itself (a bad or revoked key).
bool ItemsAtFault(const absl::Status& s);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_PROVIDER_ERRORS_H_
