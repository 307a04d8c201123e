#include "src/clients/rate_limiter.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace vecsync::clients {

RateLimiter::RateLimiter(double requests_per_minute, double tokens_per_minute)
    : rpm_(requests_per_minute),
      tpm_(tokens_per_minute),
      requests_(requests_per_minute),
      tokens_(tokens_per_minute),
      last_refill_(absl::Now()) {}

void RateLimiter::Refill(absl::Time now) {
  const double minutes = absl::ToDoubleMinutes(now - last_refill_);
  if (minutes <= 0) return;
  requests_ = std::min(rpm_, requests_ + minutes * rpm_);
  tokens_ = std::min(tpm_, tokens_ + minutes * tpm_);
  last_refill_ = now;
}

void RateLimiter::Acquire(int64_t tokens) {
  while (true) {
    absl::Duration wait = absl::ZeroDuration();
    {
      MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      Refill(now);
      if (blocked_until_ > now) {
        wait = blocked_until_ - now;
      } else {
        // A request larger than the whole bucket is let through when the bucket is full.
        const double need_tokens =
            tpm_ > 0 ? std::min<double>(static_cast<double>(tokens), tpm_) : 0;
        const bool requests_ok = rpm_ <= 0 || requests_ >= 1;
        const bool tokens_ok = tpm_ <= 0 || tokens_ >= need_tokens;
        if (requests_ok && tokens_ok) {
          if (rpm_ > 0) requests_ -= 1;
          if (tpm_ > 0) tokens_ -= need_tokens;
          return;
        }
        double minutes = 0;
        if (!requests_ok) minutes = std::max(minutes, (1 - requests_) / rpm_);
        if (!tokens_ok) minutes = std::max(minutes, (need_tokens - tokens_) / tpm_);
        wait = absl::Minutes(minutes);
      }
    }
    absl::SleepFor(std::max(wait, absl::Milliseconds(1)));
  }
}

void RateLimiter::Observe(int64_t remaining_requests, absl::Duration reset_requests,
                          int64_t remaining_tokens, absl::Duration reset_tokens) {
  MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (remaining_requests == 0) blocked_until_ = std::max(blocked_until_, now + reset_requests);
  if (remaining_tokens == 0) blocked_until_ = std::max(blocked_until_, now + reset_tokens);
  if (remaining_requests > 0 && rpm_ > 0)
    requests_ = std::min<double>(requests_, remaining_requests);
  if (remaining_tokens > 0 && tpm_ > 0) tokens_ = std::min<double>(tokens_, remaining_tokens);
}

void RateLimiter::PauseFor(absl::Duration pause) {
  MutexLock lock(&mu_);
  blocked_until_ = std::max(blocked_until_, absl::Now() + pause);
}

}  // namespace vecsync::clients
