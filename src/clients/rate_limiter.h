// Requests-per-minute and tokens-per-minute limits for one provider endpoint, as token buckets
// that refill continuously. The provider's own x-ratelimit-* headers tighten them: when it says
// few requests or tokens remain until a reset, callers wait for the reset.
//
// Example:
//   RateLimiter limiter(/*requests_per_minute=*/500, /*tokens_per_minute=*/200000);
//   limiter.Acquire(estimated_tokens);  // blocks until the request may be sent
//
// Thread-safe.
#ifndef VECSYNC_CLIENTS_RATE_LIMITER_H_
#define VECSYNC_CLIENTS_RATE_LIMITER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"

namespace vecsync::clients {

class RateLimiter {
 public:
  // Zero means no limit of that kind.
  RateLimiter(double requests_per_minute, double tokens_per_minute);

  // Blocks until one request of `tokens` may be sent, then takes it from the buckets.
  void Acquire(int64_t tokens);

  // What the provider reported after a response: remaining requests/tokens (negative when the
  // header was absent) and when each resets.
  void Observe(int64_t remaining_requests, absl::Duration reset_requests, int64_t remaining_tokens,
               absl::Duration reset_tokens);

  // Nothing may be sent before now + `pause` (a 429's retry-after).
  void PauseFor(absl::Duration pause);

 private:
  void Refill(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double rpm_, tpm_;
  Mutex mu_;
  double requests_ ABSL_GUARDED_BY(mu_);
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refill_ ABSL_GUARDED_BY(mu_);
  absl::Time blocked_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_RATE_LIMITER_H_
