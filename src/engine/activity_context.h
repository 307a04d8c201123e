// What activity code sees of the engine while one attempt runs.
//
// Activities run at least once (a worker may die after the work and before the result is
// stored), so every activity must be idempotent.
//
// Example:
//   absl::StatusOr<Json> CopyRows(ActivityContext& ctx, const Json& input) {
//     int64_t next = ctx.info().heartbeat_details.value("next", 0);  // resume a retried attempt
//     for (; next < total; ++next) {
//       ... copy row next ...
//       RETURN_IF_ERROR(ctx.Heartbeat({{"next", next + 1}}));  // CANCELLED stops the loop
//     }
//     return Json{{"copied", total}};
//   }
#ifndef VECSYNC_ENGINE_ACTIVITY_CONTEXT_H_
#define VECSYNC_ENGINE_ACTIVITY_CONTEXT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/common/json.h"

namespace vecsync::engine {

struct ActivityInfo {
  std::string workflow_id;
  std::string run_id;
  std::string activity_type;
  int64_t seq = 0;  // The activity's position among its workflow's commands.
  int attempt = 1;  // 1 for the first attempt.
  // The last details any earlier attempt passed to Heartbeat(); null when none did.
  Json heartbeat_details;
  // When this attempt must be finished (its start-to-close deadline).
  absl::Time deadline = absl::InfiniteFuture();
};

// Thread-compatible: used by the thread running the attempt.
class ActivityContext {
 public:
  virtual ~ActivityContext() = default;

  virtual const ActivityInfo& info() const = 0;

  // Records `details` (handed to the next attempt if this one fails) and reports liveness.
  // Returns CANCELLED once cancellation of the activity was requested: the activity should stop
  // and return that status. Returns ABORTED when this attempt no longer owns the activity (it
  // timed out, its workflow closed, or its worker is shutting down): its result would be
  // discarded. OK otherwise. Writes are throttled; the latest details are always kept.
  // Thread-safe: a thread of the activity's own may keep it alive while it waits.
  virtual absl::Status Heartbeat(const Json& details) = 0;

  // True once cancellation was requested (seen by the last heartbeat or lease renewal).
  virtual bool IsCancelRequested() const = 0;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_ACTIVITY_CONTEXT_H_
