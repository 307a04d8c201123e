#include "src/common/mutex.h"

#include <chrono>

#include "absl/time/clock.h"

namespace vecsync {

void Mutex::Unlock() {
  const bool wake = waiters_ > 0;
  mu_.unlock();
  // Outside the lock: a woken waiter takes the lock without finding it still held.
  if (wake) changed_.notify_all();
}

void Mutex::Await(const Condition& cond) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  ++waiters_;
  while (!cond.Eval()) changed_.wait(lock);
  --waiters_;
  lock.release();  // Held on return, as on entry.
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  return AwaitWithDeadline(cond, absl::Now() + timeout);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  ++waiters_;
  bool holds = cond.Eval();
  while (!holds) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    changed_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, absl::Hours(24))));
    holds = cond.Eval();
  }
  --waiters_;
  lock.release();
  return holds;
}

void Notification::Notify() {
  MutexLock lock(&mu_);
  notified_ = true;
}

bool Notification::HasBeenNotified() const {
  MutexLock lock(&mu_);
  return notified_;
}

void Notification::WaitForNotification() const {
  MutexLock lock(&mu_);
  mu_.Await(Condition(&notified_));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(Condition(&notified_), timeout);
}

}  // namespace vecsync
