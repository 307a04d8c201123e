// The engine's implementation of WorkflowContext for one claimed run: replays recorded
// commands, buffers new ones and commits them (fenced by the run's lease generation) whenever
// the workflow waits.
//
// Thread-compatible: used by the one thread running the workflow function; it talks to the
// worker's other threads only through RunState.
#ifndef VECSYNC_ENGINE_WORKFLOW_CONTEXT_IMPL_H_
#define VECSYNC_ENGINE_WORKFLOW_CONTEXT_IMPL_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "src/engine/registry.h"
#include "src/engine/run_state.h"
#include "src/engine/store.h"
#include "src/engine/workflow_context.h"

namespace vecsync::engine {

class WorkflowContextImpl : public WorkflowContext {
 public:
  // `recorded` are the run's steps from checkpoint_seq on. Does not take ownership of `store`,
  // `registry` or `state`, which must outlive the context.
  WorkflowContextImpl(const ClaimedRun& run, std::vector<StepRecord> recorded, Store* store,
                      const Registry* registry, RunState* state, absl::Duration poll_interval);

  const std::string& workflow_id() const override { return run_.workflow_id; }
  const std::string& run_id() const override { return run_.run_id; }
  absl::StatusOr<ActivityHandle> StartActivity(absl::string_view activity_type, Json input,
                                               const ActivityOptions& options) override;
  absl::StatusOr<Json> Await(const ActivityHandle& handle) override;
  absl::StatusOr<size_t> AwaitAny(absl::Span<const ActivityHandle> handles) override;
  absl::Status Sleep(absl::Duration duration) override;
  absl::StatusOr<Json> SideEffect(absl::string_view name, const std::function<Json()>& fn) override;
  absl::StatusOr<absl::Time> Now() override;
  absl::StatusOr<int> GetVersion(absl::string_view change_id, int max_supported) override;
  absl::Status SetProgress(const Json& progress) override;
  const Json& checkpoint() const override { return checkpoint_; }
  absl::Status Checkpoint(const Json& state) override;
  bool cancel_requested() const override;

  // True once the run was lost or the worker is shutting down; set reason and whether it was a
  // shutdown.
  bool aborted(bool* shutting_down) const;
  // Commits buffered commands (the workflow may return right after issuing some).
  absl::Status Flush();
  // Commits only the buffered progress document (a failed workflow's commands are dropped).
  absl::Status FlushProgress();

 private:
  // Returns the recorded step at the next seq, checking it matches (NONDETERMINISM otherwise),
  // or nullptr when the step is new. Advances next_seq_.
  absl::StatusOr<const StepRecord*> NextStep(int64_t* seq, absl::string_view kind,
                                             absl::string_view name);
  // Applies the closed steps delivered since the last look, without waiting. ABORTED once the
  // run was lost.
  absl::Status TakeDelivered();
  absl::Status TakeDeliveredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu);
  // Waits (at most the poll interval) for a change that concerns the run and applies it.
  absl::Status WaitForChange();
  // Handles a newly seen cancellation request: asks open activities to cancel.
  absl::Status ObserveCancel();
  absl::Status Usable() const;
  // Runs `write` until it succeeds or fails with something other than UNAVAILABLE.
  absl::Status Retrying(const std::function<absl::Status()>& write);
  void MarkAborted(const absl::Status& s);
  absl::StatusOr<Json> Outcome(const StepRecord& step) const;

  const ClaimedRun run_;
  Store* const store_;
  const Registry* const registry_;
  RunState* const state_;
  const absl::Duration poll_interval_;

  std::map<int64_t, StepRecord> steps_;  // Every step issued since the checkpoint.
  int64_t next_seq_;
  Json checkpoint_;
  CommandBatch pending_;
  bool cancel_seen_ = false;
  int64_t cancel_seq_ = 0;  // Steps issued before this one see the cancellation.
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_WORKFLOW_CONTEXT_IMPL_H_
