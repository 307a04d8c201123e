// The in-memory mailbox between a worker's background threads and the thread running one
// workflow: closed steps delivered without a database read, and flags that wake the workflow.
//
// Thread-safe: every field is guarded by `mu`; writers signal waiters by changing a field
// that the waiter's Condition reads.
#ifndef VECSYNC_ENGINE_RUN_STATE_H_
#define VECSYNC_ENGINE_RUN_STATE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "src/common/mutex.h"
#include "src/engine/store.h"

namespace vecsync::engine {

struct RunState {
  Mutex mu;
  // Steps that closed while the workflow waited (activity completions from this process).
  std::map<int64_t, StepRecord> delivered ABSL_GUARDED_BY(mu);
  // Something changed in the database (a notification arrived): look again.
  bool refresh_needed ABSL_GUARDED_BY(mu) = false;
  bool cancel_requested ABSL_GUARDED_BY(mu) = false;
  // The worker no longer holds the run, or is shutting down; the workflow must return.
  bool aborted ABSL_GUARDED_BY(mu) = false;
  bool shutting_down ABSL_GUARDED_BY(mu) = false;
  std::string abort_reason ABSL_GUARDED_BY(mu);

  void Abort(std::string reason, bool shutdown) {
    MutexLock lock(&mu);
    if (aborted) return;
    aborted = true;
    shutting_down = shutdown;
    abort_reason = std::move(reason);
  }
  void Deliver(StepRecord step) {
    MutexLock lock(&mu);
    int64_t seq = step.seq;
    delivered[seq] = std::move(step);
  }
  void RequestRefresh() {
    MutexLock lock(&mu);
    refresh_needed = true;
  }
  void SetCancelRequested() {
    MutexLock lock(&mu);
    cancel_requested = true;
  }
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_RUN_STATE_H_
