#include "src/engine/retry_policy.h"

#include <gtest/gtest.h>

#include "src/engine/errors.h"

namespace vecsync::engine {
namespace {

TEST(RetryPolicyTest, DefaultsAreTemporals) {
  RetryPolicy p;
  EXPECT_EQ(p.initial_interval, absl::Seconds(1));
  EXPECT_EQ(p.backoff_coefficient, 2.0);
  EXPECT_EQ(p.maximum_attempts, 0);
  EXPECT_EQ(p.DelayAfterAttempt(1), absl::Seconds(1));
  EXPECT_EQ(p.DelayAfterAttempt(2), absl::Seconds(2));
  EXPECT_EQ(p.DelayAfterAttempt(3), absl::Seconds(4));
  // Capped at 100 × initial interval.
  EXPECT_EQ(p.DelayAfterAttempt(8), absl::Seconds(100));
  EXPECT_EQ(p.DelayAfterAttempt(1000), absl::Seconds(100));
}

TEST(RetryPolicyTest, ExplicitMaximumIntervalCaps) {
  RetryPolicy p;
  p.initial_interval = absl::Milliseconds(100);
  p.backoff_coefficient = 3;
  p.maximum_interval = absl::Milliseconds(500);
  EXPECT_EQ(p.DelayAfterAttempt(1), absl::Milliseconds(100));
  EXPECT_EQ(p.DelayAfterAttempt(2), absl::Milliseconds(300));
  EXPECT_EQ(p.DelayAfterAttempt(3), absl::Milliseconds(500));
}

TEST(RetryPolicyTest, MaximumAttemptsAndNonRetryableTypes) {
  RetryPolicy p;
  p.maximum_attempts = 3;
  p.non_retryable_error_types = {"INVALID_ARGUMENT", "Auth"};
  EXPECT_TRUE(p.MayRetry(1, "UNAVAILABLE", false));
  EXPECT_TRUE(p.MayRetry(2, "UNAVAILABLE", false));
  EXPECT_FALSE(p.MayRetry(3, "UNAVAILABLE", false));
  EXPECT_FALSE(p.MayRetry(1, "Auth", false));
  EXPECT_FALSE(p.MayRetry(1, "INVALID_ARGUMENT", false));
  EXPECT_FALSE(p.MayRetry(1, "UNAVAILABLE", true));
  RetryPolicy unlimited;
  EXPECT_TRUE(unlimited.MayRetry(1000000, "UNAVAILABLE", false));
}

TEST(RetryPolicyTest, ValidateNamesTheBadField) {
  RetryPolicy p;
  p.backoff_coefficient = 0.5;
  absl::Status s = p.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("backoff_coefficient"), absl::string_view::npos) << s;

  p = RetryPolicy{};
  p.initial_interval = absl::Seconds(-1);
  s = p.Validate();
  EXPECT_NE(s.message().find("initial_interval"), absl::string_view::npos) << s;

  p = RetryPolicy{};
  p.maximum_interval = absl::Milliseconds(10);
  s = p.Validate();
  EXPECT_NE(s.message().find("maximum_interval"), absl::string_view::npos) << s;

  p = RetryPolicy{};
  p.maximum_attempts = -2;
  s = p.Validate();
  EXPECT_NE(s.message().find("maximum_attempts"), absl::string_view::npos) << s;
}

TEST(RetryPolicyTest, RoundTripsThroughJson) {
  RetryPolicy p;
  p.initial_interval = absl::Milliseconds(250);
  p.backoff_coefficient = 1.5;
  p.maximum_interval = absl::Seconds(3);
  p.maximum_attempts = 7;
  p.non_retryable_error_types = {"X"};
  absl::StatusOr<RetryPolicy> q = RetryPolicy::FromJson(p.ToJson());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->initial_interval, p.initial_interval);
  EXPECT_EQ(q->backoff_coefficient, p.backoff_coefficient);
  EXPECT_EQ(q->maximum_interval, p.maximum_interval);
  EXPECT_EQ(q->maximum_attempts, 7);
  EXPECT_EQ(q->non_retryable_error_types, p.non_retryable_error_types);
}

TEST(ActivityOptionsTest, RequiresATimeoutAndRejectsNegativeOnes) {
  ActivityOptions o;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o.start_to_close_timeout = absl::Seconds(-1);
  absl::Status s = o.Validate();
  EXPECT_NE(s.message().find("start_to_close_timeout"), absl::string_view::npos) << s;
  o.start_to_close_timeout = absl::Seconds(5);
  o.heartbeat_timeout = absl::ZeroDuration();
  s = o.Validate();
  EXPECT_NE(s.message().find("heartbeat_timeout"), absl::string_view::npos) << s;
  o.heartbeat_timeout = absl::Seconds(1);
  EXPECT_TRUE(o.Validate().ok());
}

TEST(ErrorsTest, TypeDefaultsToCodeNameAndSurvivesJson) {
  EXPECT_EQ(ErrorType(absl::UnavailableError("x")), "UNAVAILABLE");
  absl::Status e =
      ApplicationError("RateLimited", "slow down", true, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorType(e), "RateLimited");
  EXPECT_TRUE(IsNonRetryable(e));
  absl::Status back = FailureFromJson(FailureToJson(e));
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "slow down");
  EXPECT_EQ(ErrorType(back), "RateLimited");
  EXPECT_TRUE(IsNonRetryable(back));
}

}  // namespace
}  // namespace vecsync::engine
