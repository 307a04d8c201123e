// Activity retry policy and timeouts, with Temporal's semantics and defaults.
//
// The delay before retry n (n = 1 after the first failed attempt) is
//   min(initial_interval × backoff_coefficient^(n-1), maximum_interval).
// maximum_attempts = 0 means unlimited; 1 means no retries. An error whose type is listed in
// non_retryable_error_types (exact match), or that is marked non-retryable, is not retried.
//
// Example:
//   RetryPolicy policy;                     // 1 s, ×2, capped at 100 s, unlimited attempts
//   policy.maximum_attempts = 3;
//   policy.non_retryable_error_types = {"INVALID_ARGUMENT"};
#ifndef VECSYNC_ENGINE_RETRY_POLICY_H_
#define VECSYNC_ENGINE_RETRY_POLICY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync::engine {

struct RetryPolicy {
  absl::Duration initial_interval = absl::Seconds(1);
  double backoff_coefficient = 2.0;
  // 100 × initial_interval when unset.
  std::optional<absl::Duration> maximum_interval;
  int maximum_attempts = 0;
  std::vector<std::string> non_retryable_error_types;

  // INVALID_ARGUMENT naming the field: initial_interval <= 0, backoff_coefficient < 1,
  // maximum_interval < initial_interval, maximum_attempts < 0.
  absl::Status Validate() const;

  // The delay before the retry that follows failed attempt number `attempt` (1-based).
  absl::Duration DelayAfterAttempt(int attempt) const;

  // Whether attempt number `attempt` failing with `error_type` may be retried.
  bool MayRetry(int attempt, const std::string& error_type, bool non_retryable) const;

  Json ToJson() const;
  static absl::StatusOr<RetryPolicy> FromJson(const Json& json);
};

// Options of one activity invocation.
struct ActivityOptions {
  // One attempt may run this long; required unless schedule_to_close is set (it then
  // defaults to schedule_to_close), as in Temporal.
  std::optional<absl::Duration> start_to_close_timeout;
  // All attempts together, from scheduling to the final result.
  std::optional<absl::Duration> schedule_to_close_timeout;
  // An attempt that does not heartbeat within this long fails with a HEARTBEAT timeout.
  std::optional<absl::Duration> heartbeat_timeout;
  RetryPolicy retry_policy;

  // INVALID_ARGUMENT naming the field for negative or zero timeouts, a missing timeout, or an
  // invalid retry policy.
  absl::Status Validate() const;

  Json ToJson() const;
  static absl::StatusOr<ActivityOptions> FromJson(const Json& json);
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_RETRY_POLICY_H_
