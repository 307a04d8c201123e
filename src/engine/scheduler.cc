#include "src/engine/scheduler.h"

#include "absl/time/clock.h"
#include "src/common/log.h"

namespace vecsync::engine {

Scheduler::Scheduler(Schedules* schedules, absl::Duration max_sleep)
    : schedules_(schedules), max_sleep_(max_sleep) {}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Shutdown() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Loop() {
  absl::Duration backoff = absl::Milliseconds(500);
  while (true) {
    absl::Time wake;
    absl::StatusOr<int> started = schedules_->RunDue();
    absl::StatusOr<absl::Duration> next =
        started.ok() ? schedules_->TimeUntilDue(max_sleep_) : started.status();
    if (next.ok()) {
      // A floor, so rows another scheduler holds locked are not polled in a tight loop.
      wake = absl::Now() + std::max(*next, absl::Milliseconds(20));
      backoff = absl::Milliseconds(500);
    } else {
      LogWarning("scheduler step failed; retrying", {{"error", next.status().ToString()}});
      wake = absl::Now() + backoff;
      backoff = std::min(backoff * 2, absl::Seconds(10));
    }
    MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; };
    mu_.AwaitWithDeadline(Condition(&stopping), wake);
    if (stop_) return;
  }
}

}  // namespace vecsync::engine
