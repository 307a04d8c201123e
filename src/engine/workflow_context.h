// What workflow code sees of the engine: the durable way to run activities, sleep, record
// values and report progress.
//
// Workflow code is plain C++ that must be deterministic given the results the context returns:
// after a crash the engine runs the function again from the start (or from its last
// Checkpoint()), and the context answers each command that had already completed from the
// database instead of doing it again. Commands are numbered in the order they are issued; a
// replay that issues a different command at the same number fails the run (NONDETERMINISM).
// Read the time with Now() and anything random through SideEffect(), never directly.
//
// Every method may return ABORTED: the worker lost the run (its lease expired, the run was
// terminated, or the worker is shutting down). The workflow function must then return promptly;
// nothing it does afterwards is recorded. Methods that wait return CANCELLED when cancellation
// of the run was requested while they waited (for commands issued before the request);
// returning that status closes the run as CANCELED.
//
// Example:
//   absl::StatusOr<Json> Greet(WorkflowContext& ctx, const Json& input) {
//     ActivityOptions options;
//     options.start_to_close_timeout = absl::Seconds(30);
//     ASSIGN_OR_RETURN(Json a, ctx.ExecuteActivity("greet", input, options));
//     RETURN_IF_ERROR(ctx.Sleep(absl::Minutes(5)));  // durable: survives restarts
//     return a;
//   }
//
// Thread-compatible: used only by the thread running the workflow function.
#ifndef VECSYNC_ENGINE_WORKFLOW_CONTEXT_H_
#define VECSYNC_ENGINE_WORKFLOW_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "src/common/json.h"
#include "src/engine/retry_policy.h"

namespace vecsync::engine {

// Refers to an activity started by StartActivity().
struct ActivityHandle {
  int64_t seq = -1;
};

class WorkflowContext {
 public:
  virtual ~WorkflowContext() = default;

  virtual const std::string& workflow_id() const = 0;
  virtual const std::string& run_id() const = 0;

  // Schedules an activity and returns at once. The schedule is made durable, together with any
  // other commands issued before, when the workflow next waits. INVALID_ARGUMENT for an empty
  // or unregistered type or invalid options.
  virtual absl::StatusOr<ActivityHandle> StartActivity(absl::string_view activity_type, Json input,
                                                       const ActivityOptions& options) = 0;

  // Waits until the activity closes. Returns its result, or its final failure (the activity's
  // status code and message, with its error type as in errors.h).
  virtual absl::StatusOr<Json> Await(const ActivityHandle& handle) = 0;

  // Waits until at least one of `handles` has closed and returns the index of one that has.
  // Await() it to read the result. INVALID_ARGUMENT when `handles` is empty.
  virtual absl::StatusOr<size_t> AwaitAny(absl::Span<const ActivityHandle> handles) = 0;

  absl::StatusOr<Json> ExecuteActivity(absl::string_view activity_type, Json input,
                                       const ActivityOptions& options) {
    absl::StatusOr<ActivityHandle> handle = StartActivity(activity_type, std::move(input), options);
    if (!handle.ok()) return handle.status();
    return Await(*handle);
  }

  // A durable timer: returns after `duration` has passed, counting time the worker was down.
  // INVALID_ARGUMENT for a negative duration.
  virtual absl::Status Sleep(absl::Duration duration) = 0;

  // Runs `fn` once and records its value; a replay returns the recorded value.
  virtual absl::StatusOr<Json> SideEffect(absl::string_view name,
                                          const std::function<Json()>& fn) = 0;

  // The current time, recorded on first call at this point of the workflow (a side effect).
  virtual absl::StatusOr<absl::Time> Now() = 0;

  // Which side of a change to the workflow's code this run is on, so the code can change while
  // runs are in flight (Temporal's GetVersion):
  //
  //   ASSIGN_OR_RETURN(int v, ctx.GetVersion("parallel-flushes", 1));
  //   const int flushes = v >= 1 ? 2 : 1;  // Runs that passed here before the change keep 1.
  //
  // A run reaching this point for the first time records `max_supported` and returns it. A
  // replay returns what the run recorded here, or kDefaultVersion when the run passed this
  // point before the change existed (it recorded some other command here). A version decided
  // before a Checkpoint() is forgotten with the commands: keep it in the checkpoint's state.
  static constexpr int kDefaultVersion = -1;
  virtual absl::StatusOr<int> GetVersion(absl::string_view change_id, int max_supported) = 0;

  // Replaces the run's progress document (shown by describe and watch). Like a command, it is
  // written when the workflow next waits or returns; the latest document wins.
  virtual absl::Status SetProgress(const Json& progress) = 0;

  // The state saved by the last Checkpoint(); null when the run never checkpointed.
  virtual const Json& checkpoint() const = 0;

  // Saves `state` and forgets every command issued so far, which keeps the history of a long
  // run bounded: after a crash the workflow function runs again with checkpoint() == state.
  // FAILED_PRECONDITION while an activity started earlier has not been awaited to completion.
  virtual absl::Status Checkpoint(const Json& state) = 0;

  // True once cancellation of the run was requested.
  virtual bool cancel_requested() const = 0;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_WORKFLOW_CONTEXT_H_
