#include "workflows/sync/provider_errors.h"

namespace vecsync::workflows {

bool ProviderMayRecover(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

bool ItemsAtFault(const absl::Status& s) {
  return !ProviderMayRecover(s) && s.code() != absl::StatusCode::kUnauthenticated &&
         s.code() != absl::StatusCode::kPermissionDenied;
}

}  // namespace vecsync::workflows
