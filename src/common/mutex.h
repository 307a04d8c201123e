// Locks that both of vecsync's thread-safety checkers see: clang's -Wthread-safety (through
// abseil's capability annotations) and ThreadSanitizer (through std::mutex and
// std::condition_variable, which it intercepts). Debian's abseil is not built with TSan, so
// absl::Mutex is invisible to it and every access it guards looks like a race; these keep
// abseil's interface (Mutex::Await with a Condition, MutexLock, Notification) on the standard
// primitives.
//
// Example:
//   class Counter {
//    public:
//     void Add() { MutexLock lock(&mu_); ++n_; }
//     void WaitFor(int n) {
//       MutexLock lock(&mu_);
//       mu_.Await(Condition(+[](Counter* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
//         return c->n_ >= c->target_; }, this));
//     }
//    private:
//     Mutex mu_;
//     int n_ ABSL_GUARDED_BY(mu_) = 0;
//   };
//
// As with absl::Mutex, every Unlock() wakes the threads waiting in Await*(), which evaluate
// their conditions again under the lock; a condition must depend only on state the mutex
// guards. Thread-safe.
#ifndef VECSYNC_COMMON_MUTEX_H_
#define VECSYNC_COMMON_MUTEX_H_

#include <condition_variable>
#include <functional>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace vecsync {

// What a waiter waits for: a flag, a callable, or a function of one argument.
class Condition {
 public:
  // True once `*flag` is.
  explicit Condition(const bool* flag) : eval_([flag] { return *flag; }) {}
  // True once `(*fn)()` is.
  template <typename Fn>
  explicit Condition(const Fn* fn) : eval_([fn] { return (*fn)(); }) {}
  // True once `fn(arg)` is.
  template <typename T>
  Condition(bool (*fn)(T*), T* arg) : eval_([fn, arg] { return fn(arg); }) {}

  bool Eval() const { return eval_(); }

 private:
  std::function<bool()> eval_;
};

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION();
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

  // Waits, with the lock released meanwhile, until `cond` holds; returns with the lock held.
  void Await(const Condition& cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  // As Await(), giving up after `timeout` or at `deadline`; returns whether `cond` holds.
  bool AwaitWithTimeout(const Condition& cond, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  bool AwaitWithDeadline(const Condition& cond, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

 private:
  std::mutex mu_;
  std::condition_variable changed_;  // Notified by every Unlock() while someone waits.
  int waiters_ = 0;                  // Threads in Await*(); guarded by mu_.
};

// Holds `mu` for its lifetime.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }

 private:
  Mutex* const mu_;
};

// A one-shot event: Notify() once, and every waiter returns.
class Notification {
 public:
  void Notify();
  bool HasBeenNotified() const;
  void WaitForNotification() const;
  // Returns whether it was notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const;

 private:
  mutable Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace vecsync

#endif  // VECSYNC_COMMON_MUTEX_H_
