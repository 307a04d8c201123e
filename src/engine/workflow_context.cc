#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "src/common/status_macros.h"
#include "src/engine/errors.h"
#include "src/engine/workflow_context_impl.h"

namespace vecsync::engine {
namespace {

constexpr char kAwaitAnyMarker[] = "await_any";

}  // namespace

WorkflowContextImpl::WorkflowContextImpl(const ClaimedRun& run, std::vector<StepRecord> recorded,
                                         Store* store, const Registry* registry, RunState* state,
                                         absl::Duration poll_interval)
    : run_(run),
      store_(store),
      registry_(registry),
      state_(state),
      poll_interval_(poll_interval),
      next_seq_(run.checkpoint_seq),
      checkpoint_(run.checkpoint) {
  for (StepRecord& s : recorded) {
    const int64_t seq = s.seq;
    steps_.emplace(seq, std::move(s));
  }
}

bool WorkflowContextImpl::cancel_requested() const {
  MutexLock lock(&state_->mu);
  return state_->cancel_requested;
}

bool WorkflowContextImpl::aborted(bool* shutting_down) const {
  MutexLock lock(&state_->mu);
  if (shutting_down != nullptr) *shutting_down = state_->shutting_down;
  return state_->aborted;
}

absl::Status WorkflowContextImpl::Usable() const {
  MutexLock lock(&state_->mu);
  if (state_->aborted) return absl::AbortedError(state_->abort_reason);
  return absl::OkStatus();
}

void WorkflowContextImpl::MarkAborted(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kAborted) state_->Abort(std::string(s.message()), false);
}

absl::Status WorkflowContextImpl::Retrying(const std::function<absl::Status()>& write) {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    RETURN_IF_ERROR(Usable());
    absl::Status s = write();
    if (s.code() != absl::StatusCode::kUnavailable) {
      MarkAborted(s);
      return s;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

absl::Status WorkflowContextImpl::Flush() {
  if (pending_.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(Retrying([&] {
    return store_->CommitCommands(run_.run_id, run_.generation, run_.workflow_id, pending_);
  }));
  pending_ = CommandBatch{};
  return absl::OkStatus();
}

absl::Status WorkflowContextImpl::FlushProgress() {
  if (!pending_.progress) return absl::OkStatus();
  CommandBatch progress_only;
  progress_only.progress = std::move(pending_.progress);
  pending_.progress.reset();
  return Retrying([&] {
    return store_->CommitCommands(run_.run_id, run_.generation, run_.workflow_id, progress_only);
  });
}

absl::Status WorkflowContextImpl::TakeDelivered() {
  MutexLock lock(&state_->mu);
  return TakeDeliveredLocked();
}

absl::Status WorkflowContextImpl::TakeDeliveredLocked() {
  if (state_->aborted) return absl::AbortedError(state_->abort_reason);
  // A delivery carries the outcome only. The step it closes keeps what the run issued: a
  // replay may learn of an activity's completion before it reaches the command that started
  // it, and must still find that command as recorded.
  for (auto& [seq, delivered] : state_->delivered) {
    auto it = steps_.find(seq);
    if (it == steps_.end()) continue;  // Not a step of this run as this context knows it.
    it->second.status = std::move(delivered.status);
    it->second.result = std::move(delivered.result);
    it->second.failure = std::move(delivered.failure);
  }
  state_->delivered.clear();
  return absl::OkStatus();
}

absl::StatusOr<const StepRecord*> WorkflowContextImpl::NextStep(int64_t* seq,
                                                                absl::string_view kind,
                                                                absl::string_view name) {
  *seq = next_seq_++;
  auto it = steps_.find(*seq);
  if (it == steps_.end()) return nullptr;
  if (it->second.kind != kind || it->second.name != name) {
    return ApplicationError(
        kNondeterminismErrorType,
        absl::StrCat("nondeterministic workflow: command ", *seq, " was ", it->second.kind, " '",
                     it->second.name, "' when the run was recorded, but the code now issues ", kind,
                     " '", name, "'"),
        /*non_retryable=*/true, absl::StatusCode::kInternal);
  }
  return &it->second;
}

absl::StatusOr<ActivityHandle> WorkflowContextImpl::StartActivity(absl::string_view activity_type,
                                                                  Json input,
                                                                  const ActivityOptions& options) {
  RETURN_IF_ERROR(Usable());
  if (activity_type.empty()) return absl::InvalidArgumentError("activity_type is required");
  if (registry_->FindActivity(activity_type) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown activity type '", activity_type,
                     "'; registered: ", absl::StrJoin(registry_->ActivityTypes(), ", ")));
  }
  RETURN_IF_ERROR(options.Validate());
  int64_t seq = 0;
  ASSIGN_OR_RETURN(const StepRecord* recorded, NextStep(&seq, "activity", activity_type));
  if (recorded == nullptr) {
    NewStep step;
    step.seq = seq;
    step.kind = "activity";
    step.name = std::string(activity_type);
    step.payload = std::move(input);
    step.options = options.ToJson();
    step.schedule_to_close_timeout = options.schedule_to_close_timeout;
    pending_.new_steps.push_back(std::move(step));
    StepRecord open;
    open.seq = seq;
    open.kind = "activity";
    open.name = std::string(activity_type);
    open.status = "SCHEDULED";
    steps_.emplace(seq, std::move(open));
  }
  return ActivityHandle{seq};
}

absl::StatusOr<Json> WorkflowContextImpl::Outcome(const StepRecord& step) const {
  if (step.status == "COMPLETED") return step.result;
  if (step.status == "CANCELED") {
    return absl::CancelledError(absl::StrCat("activity ", step.name, " was canceled"));
  }
  return FailureFromJson(step.failure);
}

absl::Status WorkflowContextImpl::ObserveCancel() {
  if (cancel_seen_) return absl::OkStatus();
  cancel_seen_ = true;
  cancel_seq_ = next_seq_;
  for (const auto& [seq, step] : steps_) {
    if (step.kind == "activity" && !step.closed()) pending_.cancel_activities.push_back(seq);
  }
  return Flush();
}

absl::Status WorkflowContextImpl::WaitForChange() {
  bool refresh = false;
  bool cancel = false;
  {
    MutexLock lock(&state_->mu);
    const bool seen = cancel_seen_;
    RunState* const s = state_;
    auto changed_fn = [s, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return s->aborted || s->refresh_needed || !s->delivered.empty() ||
             (s->cancel_requested && !seen);
    };
    const bool changed = state_->mu.AwaitWithTimeout(Condition(&changed_fn), poll_interval_);
    RETURN_IF_ERROR(TakeDeliveredLocked());
    refresh = state_->refresh_needed || !changed;
    state_->refresh_needed = false;
    cancel = state_->cancel_requested;
  }
  if (refresh) {
    std::vector<int64_t> open;
    for (const auto& [seq, step] : steps_) {
      if (!step.closed()) open.push_back(seq);
    }
    RunRefresh fresh;
    RETURN_IF_ERROR(Retrying([&]() -> absl::Status {
      ASSIGN_OR_RETURN(fresh, store_->Refresh(run_.run_id, run_.generation, open));
      return absl::OkStatus();
    }));
    if (!fresh.owned) {
      state_->Abort(absl::StrCat("run ", run_.run_id, " is no longer held by this worker"), false);
      return absl::AbortedError(absl::StrCat("run ", run_.run_id, " was lost or closed"));
    }
    for (StepRecord& s : fresh.closed_steps) {
      const int64_t seq = s.seq;
      steps_[seq] = std::move(s);
    }
    if (fresh.cancel_requested) {
      state_->SetCancelRequested();
      cancel = true;
    }
  }
  if (cancel) RETURN_IF_ERROR(ObserveCancel());
  return absl::OkStatus();
}

absl::StatusOr<Json> WorkflowContextImpl::Await(const ActivityHandle& handle) {
  ASSIGN_OR_RETURN(size_t index, AwaitAny(absl::MakeConstSpan(&handle, 1)));
  (void)index;
  return Outcome(steps_.at(handle.seq));
}

absl::StatusOr<size_t> WorkflowContextImpl::AwaitAny(absl::Span<const ActivityHandle> handles) {
  if (handles.empty()) return absl::InvalidArgumentError("AwaitAny needs at least one handle");
  for (const ActivityHandle& h : handles) {
    auto it = steps_.find(h.seq);
    if (it == steps_.end() || it->second.kind != "activity") {
      return absl::InvalidArgumentError(
          absl::StrCat("handle ", h.seq, " does not name an activity of this run"));
    }
  }
  // Which of several activities closed first is a fact of the original run, not of the replay
  // (where all of them are closed already): it is recorded as a marker and replayed from it.
  const bool record_choice = handles.size() > 1;
  if (record_choice) {
    auto recorded = steps_.find(next_seq_);
    if (recorded != steps_.end() && recorded->second.kind == "marker" &&
        recorded->second.name == kAwaitAnyMarker) {
      ++next_seq_;
      const int64_t chosen = recorded->second.result.get<int64_t>();
      for (size_t i = 0; i < handles.size(); ++i) {
        if (handles[i].seq == chosen) return i;
      }
      return ApplicationError(kNondeterminismErrorType,
                              absl::StrCat("nondeterministic workflow: AwaitAny chose activity ",
                                           chosen, ", which the replay does not wait for"),
                              /*non_retryable=*/true, absl::StatusCode::kInternal);
    }
  }
  while (true) {
    RETURN_IF_ERROR(TakeDelivered());
    for (size_t i = 0; i < handles.size(); ++i) {
      if (!steps_.at(handles[i].seq).closed()) continue;
      if (record_choice) {
        const int64_t chosen = handles[i].seq;
        RETURN_IF_ERROR(SideEffect(kAwaitAnyMarker, [chosen] { return Json(chosen); }).status());
      }
      return i;
    }
    if (cancel_seen_) {
      for (const ActivityHandle& h : handles) {
        if (h.seq < cancel_seq_) {
          return absl::CancelledError("workflow cancellation was requested");
        }
      }
    }
    // Commands are made durable only when the workflow has to wait: a workflow that collects
    // several closed activities and starts their successors commits them all at once.
    RETURN_IF_ERROR(Flush());
    RETURN_IF_ERROR(WaitForChange());
  }
}

absl::Status WorkflowContextImpl::Sleep(absl::Duration duration) {
  RETURN_IF_ERROR(Usable());
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sleep duration must not be negative, got ", absl::FormatDuration(duration)));
  }
  int64_t seq = 0;
  ASSIGN_OR_RETURN(const StepRecord* recorded, NextStep(&seq, "timer", "timer"));
  absl::Time fire_at;
  if (recorded != nullptr) {
    if (recorded->closed()) return absl::OkStatus();
    fire_at = recorded->fire_at;
  } else {
    fire_at = absl::Now() + duration;
    NewStep step;
    step.seq = seq;
    step.kind = "timer";
    step.name = "timer";
    step.fire_at = fire_at;
    pending_.new_steps.push_back(std::move(step));
    StepRecord open;
    open.seq = seq;
    open.kind = "timer";
    open.name = "timer";
    open.status = "SCHEDULED";
    open.fire_at = fire_at;
    steps_.emplace(seq, std::move(open));
  }
  RETURN_IF_ERROR(Flush());
  while (absl::Now() < fire_at) {
    bool cancel = false;
    {
      MutexLock lock(&state_->mu);
      const bool seen = cancel_seen_;
      RunState* const s = state_;
      auto woken = [s, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s->aborted || (s->cancel_requested && !seen);
      };
      state_->mu.AwaitWithDeadline(Condition(&woken), fire_at);
      if (state_->aborted) return absl::AbortedError(state_->abort_reason);
      cancel = state_->cancel_requested && !cancel_seen_;
    }
    if (cancel) {
      RETURN_IF_ERROR(ObserveCancel());
      return absl::CancelledError("workflow cancellation was requested");
    }
  }
  pending_.fired_timers.push_back(seq);
  RETURN_IF_ERROR(Flush());
  steps_[seq].status = "COMPLETED";
  return absl::OkStatus();
}

absl::StatusOr<Json> WorkflowContextImpl::SideEffect(absl::string_view name,
                                                     const std::function<Json()>& fn) {
  RETURN_IF_ERROR(Usable());
  int64_t seq = 0;
  ASSIGN_OR_RETURN(const StepRecord* recorded, NextStep(&seq, "marker", name));
  if (recorded != nullptr) return recorded->result;
  Json value = fn();
  NewStep step;
  step.seq = seq;
  step.kind = "marker";
  step.name = std::string(name);
  step.payload = value;
  pending_.new_steps.push_back(std::move(step));
  StepRecord done;
  done.seq = seq;
  done.kind = "marker";
  done.name = std::string(name);
  done.status = "COMPLETED";
  done.result = value;
  steps_.emplace(seq, std::move(done));
  return value;
}

absl::StatusOr<absl::Time> WorkflowContextImpl::Now() {
  ASSIGN_OR_RETURN(Json us,
                   SideEffect("now", [] { return Json(absl::ToUnixMicros(absl::Now())); }));
  return absl::FromUnixMicros(us.get<int64_t>());
}

absl::StatusOr<int> WorkflowContextImpl::GetVersion(absl::string_view change_id,
                                                    int max_supported) {
  RETURN_IF_ERROR(Usable());
  const std::string marker = absl::StrCat("version:", change_id);
  auto recorded = steps_.find(next_seq_);
  if (recorded != steps_.end() &&
      (recorded->second.kind != "marker" || recorded->second.name != marker)) {
    return kDefaultVersion;  // Recorded before the change: the command here is another one.
  }
  ASSIGN_OR_RETURN(Json version,
                   SideEffect(marker, [max_supported] { return Json(max_supported); }));
  return version.get<int>();
}

absl::Status WorkflowContextImpl::SetProgress(const Json& progress) {
  RETURN_IF_ERROR(Usable());
  // Written with the next commit; the latest one wins. Serialized now, and never throws:
  // invalid UTF-8 in a progress document becomes U+FFFD instead of failing the run.
  pending_.progress = progress.dump(-1, ' ', false, Json::error_handler_t::replace);
  return absl::OkStatus();
}

absl::Status WorkflowContextImpl::Checkpoint(const Json& state) {
  RETURN_IF_ERROR(Usable());
  std::vector<int64_t> open;
  for (const auto& [seq, step] : steps_) {
    if (!step.closed()) open.push_back(seq);
  }
  if (!open.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot checkpoint while commands ",
                                                      absl::StrJoin(open, ", "),
                                                      " are still open: await them first"));
  }
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(Retrying(
      [&] { return store_->SaveCheckpoint(run_.run_id, run_.generation, state, next_seq_); }));
  steps_.clear();
  checkpoint_ = state;
  return absl::OkStatus();
}

}  // namespace vecsync::engine
