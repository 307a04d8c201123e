#include "src/engine/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync::engine {
namespace {

Json DurationMs(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

std::optional<absl::Duration> OptionalMs(const Json& json, const char* key) {
  if (!json.contains(key) || json[key].is_null()) return std::nullopt;
  return absl::Milliseconds(json[key].get<int64_t>());
}

absl::Status PositiveIfSet(const std::optional<absl::Duration>& d, const char* name) {
  if (d.has_value() && *d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be positive, got ", absl::FormatDuration(*d)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RetryPolicy::Validate() const {
  if (initial_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry_policy.initial_interval must be positive, got ",
                     absl::FormatDuration(initial_interval)));
  }
  if (!(backoff_coefficient >= 1.0) || !std::isfinite(backoff_coefficient)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry_policy.backoff_coefficient must be at least 1, got ", backoff_coefficient));
  }
  if (maximum_interval.has_value() && *maximum_interval < initial_interval) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry_policy.maximum_interval (", absl::FormatDuration(*maximum_interval),
        ") must not be below initial_interval (", absl::FormatDuration(initial_interval), ")"));
  }
  if (maximum_attempts < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry_policy.maximum_attempts must be 0 (unlimited) or more, got ", maximum_attempts));
  }
  return absl::OkStatus();
}

absl::Duration RetryPolicy::DelayAfterAttempt(int attempt) const {
  const absl::Duration cap = maximum_interval.value_or(initial_interval * 100);
  const double factor = std::pow(backoff_coefficient, std::max(0, attempt - 1));
  const double ms = absl::ToDoubleMilliseconds(initial_interval) * factor;
  if (!std::isfinite(ms) || ms >= absl::ToDoubleMilliseconds(cap)) return cap;
  return absl::Milliseconds(ms);
}

bool RetryPolicy::MayRetry(int attempt, const std::string& error_type, bool non_retryable) const {
  if (non_retryable) return false;
  if (maximum_attempts > 0 && attempt >= maximum_attempts) return false;
  return std::find(non_retryable_error_types.begin(), non_retryable_error_types.end(),
                   error_type) == non_retryable_error_types.end();
}

Json RetryPolicy::ToJson() const {
  Json j = {{"initial_interval_ms", DurationMs(initial_interval)},
            {"backoff_coefficient", backoff_coefficient},
            {"maximum_attempts", maximum_attempts},
            {"non_retryable_error_types", non_retryable_error_types}};
  if (maximum_interval) j["maximum_interval_ms"] = DurationMs(*maximum_interval);
  return j;
}

absl::StatusOr<RetryPolicy> RetryPolicy::FromJson(const Json& json) {
  RetryPolicy p;
  try {
    if (json.contains("initial_interval_ms")) {
      p.initial_interval = absl::Milliseconds(json["initial_interval_ms"].get<int64_t>());
    }
    p.backoff_coefficient = json.value("backoff_coefficient", 2.0);
    p.maximum_interval = OptionalMs(json, "maximum_interval_ms");
    p.maximum_attempts = json.value("maximum_attempts", 0);
    p.non_retryable_error_types =
        json.value("non_retryable_error_types", std::vector<std::string>{});
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad retry policy: ", e.what()));
  }
  RETURN_IF_ERROR(p.Validate());
  return p;
}

absl::Status ActivityOptions::Validate() const {
  RETURN_IF_ERROR(PositiveIfSet(start_to_close_timeout, "start_to_close_timeout"));
  RETURN_IF_ERROR(PositiveIfSet(schedule_to_close_timeout, "schedule_to_close_timeout"));
  RETURN_IF_ERROR(PositiveIfSet(heartbeat_timeout, "heartbeat_timeout"));
  if (!start_to_close_timeout && !schedule_to_close_timeout) {
    return absl::InvalidArgumentError(
        "an activity needs start_to_close_timeout or schedule_to_close_timeout");
  }
  return retry_policy.Validate();
}

Json ActivityOptions::ToJson() const {
  Json j = {{"retry_policy", retry_policy.ToJson()}};
  const absl::Duration start_to_close =
      start_to_close_timeout.value_or(schedule_to_close_timeout.value_or(absl::ZeroDuration()));
  j["start_to_close_ms"] = DurationMs(start_to_close);
  if (schedule_to_close_timeout) j["schedule_to_close_ms"] = DurationMs(*schedule_to_close_timeout);
  if (heartbeat_timeout) j["heartbeat_ms"] = DurationMs(*heartbeat_timeout);
  return j;
}

absl::StatusOr<ActivityOptions> ActivityOptions::FromJson(const Json& json) {
  ActivityOptions o;
  try {
    o.start_to_close_timeout = OptionalMs(json, "start_to_close_ms");
    o.schedule_to_close_timeout = OptionalMs(json, "schedule_to_close_ms");
    o.heartbeat_timeout = OptionalMs(json, "heartbeat_ms");
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad activity options: ", e.what()));
  }
  ASSIGN_OR_RETURN(o.retry_policy,
                   RetryPolicy::FromJson(json.value("retry_policy", Json::object())));
  RETURN_IF_ERROR(o.Validate());
  return o;
}

}  // namespace vecsync::engine
