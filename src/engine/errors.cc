#include "src/engine/errors.h"

#include "absl/strings/cord.h"

namespace vecsync::engine {
namespace {

constexpr char kTypePayload[] = "type.vecsync/error_type";
constexpr char kNonRetryablePayload[] = "type.vecsync/non_retryable";

}  // namespace

absl::Status ApplicationError(absl::string_view type, absl::string_view message, bool non_retryable,
                              absl::StatusCode code) {
  absl::Status s(code, message);
  s.SetPayload(kTypePayload, absl::Cord(type));
  if (non_retryable) s.SetPayload(kNonRetryablePayload, absl::Cord("1"));
  return s;
}

std::string ErrorType(const absl::Status& status) {
  if (auto type = status.GetPayload(kTypePayload)) return std::string(*type);
  return absl::StatusCodeToString(status.code());
}

bool IsNonRetryable(const absl::Status& status) {
  return status.GetPayload(kNonRetryablePayload).has_value();
}

Json FailureToJson(const absl::Status& status) {
  return {{"type", ErrorType(status)},
          {"message", std::string(status.message())},
          {"code", absl::StatusCodeToString(status.code())},
          {"code_number", static_cast<int>(status.code())},
          {"non_retryable", IsNonRetryable(status)}};
}

absl::Status FailureFromJson(const Json& failure) {
  if (!failure.is_object()) return absl::UnknownError("unknown failure");
  const int code = failure.value("code_number", static_cast<int>(absl::StatusCode::kUnknown));
  return ApplicationError(failure.value("type", "UNKNOWN"), failure.value("message", ""),
                          failure.value("non_retryable", false),
                          static_cast<absl::StatusCode>(code));
}

}  // namespace vecsync::engine
