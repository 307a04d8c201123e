// The scheduler loop: runs Schedules::RunDue whenever something is due (at least every
// `max_sleep`), on its own thread, until Shutdown. Any number of processes may run one against
// the same database; RunDue's row claims keep each due time to one action.
//
// Thread-safe.
#ifndef VECSYNC_ENGINE_SCHEDULER_H_
#define VECSYNC_ENGINE_SCHEDULER_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"
#include "src/engine/schedules.h"

namespace vecsync::engine {

class Scheduler {
 public:
  // `schedules` is not owned and must outlive the scheduler.
  explicit Scheduler(Schedules* schedules, absl::Duration max_sleep = absl::Seconds(1));
  ~Scheduler();

  void Start();
  // Stops the loop after the step in progress. Idempotent.
  void Shutdown();

 private:
  void Loop();

  Schedules* const schedules_;
  const absl::Duration max_sleep_;
  Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_SCHEDULER_H_
