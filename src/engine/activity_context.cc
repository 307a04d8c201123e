#include "absl/time/clock.h"
#include "src/engine/activity_context_impl.h"

namespace vecsync::engine {

ActivityContextImpl::ActivityContextImpl(const ClaimedActivity& activity, Store* store,
                                         AttemptFlags* flags, absl::Duration lease,
                                         absl::Duration throttle)
    : key_{activity.run_id, activity.seq, activity.generation},
      store_(store),
      flags_(flags),
      lease_(lease),
      throttle_(throttle) {
  info_.workflow_id = activity.workflow_id;
  info_.run_id = activity.run_id;
  info_.activity_type = activity.activity_type;
  info_.seq = activity.seq;
  info_.attempt = activity.attempt;
  info_.heartbeat_details = activity.heartbeat_details;
  info_.deadline = activity.attempt_deadline;
}

absl::Status ActivityContextImpl::Heartbeat(const Json& details) {
  MutexLock lock(&mu_);  // Concurrent heartbeats write one at a time.
  latest_details_ = details;
  const absl::Time now = absl::Now();
  if (!flags_->lost.load() && now - last_write_ >= throttle_) {
    last_write_ = now;
    absl::StatusOr<LeaseState> state = store_->Heartbeat(key_, details, lease_);
    if (state.ok()) {
      if (state->cancel_requested) flags_->cancel_requested = true;
    } else if (state.status().code() == absl::StatusCode::kAborted) {
      flags_->lost = true;
    }
    // UNAVAILABLE: keep going; the lease renewer or a later heartbeat will get through.
  }
  if (flags_->lost.load()) {
    return absl::AbortedError("this activity attempt no longer owns its activity");
  }
  if (flags_->cancel_requested.load()) {
    return absl::CancelledError("activity cancellation was requested");
  }
  return absl::OkStatus();
}

}  // namespace vecsync::engine
