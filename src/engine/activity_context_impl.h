// The engine's implementation of ActivityContext for one claimed attempt.
//
// Heartbeat() writes through to the database at most once per `throttle`; the worker's lease
// renewer updates the cancel and lost flags in between. Thread-safe.
#ifndef VECSYNC_ENGINE_ACTIVITY_CONTEXT_IMPL_H_
#define VECSYNC_ENGINE_ACTIVITY_CONTEXT_IMPL_H_

#include <atomic>

#include "src/common/mutex.h"
#include "src/engine/activity_context.h"
#include "src/engine/store.h"

namespace vecsync::engine {

// Shared between the attempt's thread and the worker's lease renewer.
struct AttemptFlags {
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> lost{false};  // No longer owned: timed out, run closed, or handed back.
};

class ActivityContextImpl : public ActivityContext {
 public:
  ActivityContextImpl(const ClaimedActivity& activity, Store* store, AttemptFlags* flags,
                      absl::Duration lease, absl::Duration throttle);

  const ActivityInfo& info() const override { return info_; }
  absl::Status Heartbeat(const Json& details) override;
  bool IsCancelRequested() const override { return flags_->cancel_requested.load(); }

  // The latest details given to Heartbeat(); null when none were.
  Json latest_details() const {
    MutexLock lock(&mu_);
    return latest_details_;
  }

 private:
  ActivityInfo info_;
  LeaseKey key_;
  Store* const store_;
  AttemptFlags* const flags_;
  const absl::Duration lease_;
  const absl::Duration throttle_;
  mutable Mutex mu_;
  absl::Time last_write_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  Json latest_details_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_ACTIVITY_CONTEXT_IMPL_H_
