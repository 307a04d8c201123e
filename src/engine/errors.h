// Application errors: an absl::Status that also carries an error type and a non-retryable
// flag, which retry policies match against (Temporal's ApplicationError).
//
// An error without an explicit type has its status code's name as its type
// ("UNAVAILABLE", "INVALID_ARGUMENT", …), so a retry policy can list
// non_retryable_error_types = {"INVALID_ARGUMENT"}.
//
// Example:
//   return ApplicationError("RateLimited", "provider said 429", /*non_retryable=*/false);
#ifndef VECSYNC_ENGINE_ERRORS_H_
#define VECSYNC_ENGINE_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/common/json.h"

namespace vecsync::engine {

// Error types the engine itself produces.
inline constexpr char kTimeoutErrorType[] = "TIMEOUT";
inline constexpr char kWorkerLostErrorType[] = "WORKER_LOST";
inline constexpr char kNondeterminismErrorType[] = "NONDETERMINISM";

// A status (code UNKNOWN unless given) typed `type`, optionally non-retryable.
absl::Status ApplicationError(absl::string_view type, absl::string_view message,
                              bool non_retryable = false,
                              absl::StatusCode code = absl::StatusCode::kUnknown);

// The error type of `status`: the ApplicationError type, or the code's name.
std::string ErrorType(const absl::Status& status);
bool IsNonRetryable(const absl::Status& status);

// The stored form of a failure: {"type", "message", "code", "non_retryable"}.
Json FailureToJson(const absl::Status& status);
// Rebuilds a status from its stored form (keeps type, code and message).
absl::Status FailureFromJson(const Json& failure);

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_ERRORS_H_
