#include "src/engine/worker.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/common/log.h"
#include "src/common/metrics.h"
#include "src/common/status_macros.h"
#include "src/common/uuid.h"
#include "src/engine/activity_context_impl.h"
#include "src/engine/errors.h"
#include "src/engine/run_state.h"
#include "src/engine/workflow_context_impl.h"

namespace vecsync::engine {
namespace {

std::string DefaultIdentity() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid(), ":", NewUuid().substr(0, 8));
}

absl::Status Positive(absl::Duration d, const char* name) {
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be positive, got ", absl::FormatDuration(d)));
  }
  return absl::OkStatus();
}

// Retries `fn` while it returns UNAVAILABLE, up to `deadline`.
template <typename Fn>
auto RetryUnavailable(Fn fn, absl::Time deadline) -> decltype(fn()) {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    auto result = fn();
    if (result.ok() || absl::Status(result.status()).code() != absl::StatusCode::kUnavailable ||
        absl::Now() + backoff > deadline) {
      return result;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace

absl::Status WorkerOptions::Validate() const {
  if (max_concurrent_workflows <= 0 || max_concurrent_activities <= 0 || claim_batch <= 0 ||
      pool_size <= 0) {
    return absl::InvalidArgumentError(
        "max_concurrent_workflows, max_concurrent_activities, claim_batch and pool_size must be "
        "positive");
  }
  RETURN_IF_ERROR(Positive(lease_duration, "lease_duration"));
  RETURN_IF_ERROR(Positive(poll_interval, "poll_interval"));
  RETURN_IF_ERROR(Positive(sweep_interval, "sweep_interval"));
  RETURN_IF_ERROR(Positive(heartbeat_throttle, "heartbeat_throttle"));
  if (shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shutdown_grace must not be negative");
  }
  if (!run_workflows && !run_activities) {
    return absl::InvalidArgumentError("a worker must run workflows, activities, or both");
  }
  return absl::OkStatus();
}

// A run whose workflow function runs on this worker.
struct Worker::RunEntry {
  std::shared_ptr<RunState> state;
  int64_t generation = 0;
  std::thread thread;
  bool done = false;  // Guarded by Worker::mu_.
};

// An attempt claimed by this worker (queued or executing).
struct Worker::AttemptEntry {
  LeaseKey key;
  AttemptFlags flags;
};

Worker::Worker(std::string pg_url, const Registry* registry, WorkerOptions options)
    : pg_url_(std::move(pg_url)),
      registry_(registry),
      options_(std::move(options)),
      identity_(options_.identity.empty() ? DefaultIdentity() : options_.identity) {}

Worker::~Worker() { Shutdown(); }

WorkerStats Worker::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

absl::Status Worker::Start() {
  RETURN_IF_ERROR(options_.Validate());
  {
    MutexLock lock(&mu_);
    if (started_) return absl::FailedPreconditionError("worker already started");
    started_ = true;
  }
  if (options_.run_workflows) workflow_types_ = registry_->WorkflowTypes();
  if (options_.run_activities) activity_types_ = registry_->ActivityTypes();
  // The pool serves workflow threads, executors and the background loops. The engine's
  // statements are key lookups on indexed tables: generic plans spare their planning, which
  // cost more than running them.
  pool_ = std::make_unique<PgPool>(pg_url_, options_.pool_size, PlanCache::kGenericPlans);
  store_ = std::make_unique<Store>(pool_.get(), identity_);
  {
    ASSIGN_OR_RETURN(PgPool::Lease conn, pool_->Acquire());
    ASSIGN_OR_RETURN(PgResult r, conn->Query("SELECT to_regclass('vecsync.executions') IS NULL"));
    if (r.GetBool(0, 0)) {
      return absl::FailedPreconditionError(
          "the vecsync schema is missing: run `vecsync migrate` first");
    }
  }
  threads_.emplace_back(&Worker::ListenLoop, this);
  threads_.emplace_back(&Worker::MaintenanceLoop, this);
  if (!workflow_types_.empty()) workflow_claimer_ = std::thread(&Worker::WorkflowClaimLoop, this);
  if (!activity_types_.empty()) {
    activity_claimer_ = std::thread(&Worker::ActivityClaimLoop, this);
    for (int i = 0; i < options_.max_concurrent_activities; ++i) {
      executors_.emplace_back(&Worker::ActivityExecutorLoop, this);
    }
  }
  flusher_ = std::thread(&Worker::CompletionFlushLoop, this);
  LogInfo("worker started", {{"identity", identity_},
                             {"workflow_types", std::to_string(workflow_types_.size())},
                             {"activity_types", std::to_string(activity_types_.size())}});
  return absl::OkStatus();
}

void Worker::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (!started_ || stop_background_) return;
    stop_claiming_ = true;
  }
  // Once the claim loops are joined no claim is in flight.
  if (workflow_claimer_.joinable()) workflow_claimer_.join();
  if (activity_claimer_.joinable()) activity_claimer_.join();
  const absl::Time grace_end = absl::Now() + options_.shutdown_grace;
  // 1. Let running attempts finish within the grace period.
  {
    MutexLock lock(&mu_);
    auto idle = [this]()
                    ABSL_NO_THREAD_SAFETY_ANALYSIS { return executing_ == 0 && queued_.empty(); };
    mu_.AwaitWithDeadline(Condition(&idle), grace_end);
  }
  // 2. Record the results gathered so far.
  auto wait_flushed = [this] {
    MutexLock lock(&mu_);
    auto flushed = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return completions_.empty() && !flushing_;
    };
    mu_.AwaitWithDeadline(Condition(&flushed), absl::Now() + absl::Seconds(5));
  };
  wait_flushed();
  // 3. Hand back what did not finish: queued attempts and running ones (whose heartbeats now
  //    return ABORTED and whose results will be void).
  std::vector<LeaseKey> hand_back;
  {
    MutexLock lock(&mu_);
    for (auto& [key, attempt] : attempts_) {
      attempt->flags.lost = true;
      hand_back.push_back(attempt->key);
    }
    queued_.clear();
    stop_executors_ = true;
  }
  for (const LeaseKey& key : hand_back) {
    absl::Status s = store_->HandBackActivity(key);
    if (!s.ok()) {
      LogWarning(
          "could not hand back an activity",
          {{"run_id", key.run_id}, {"seq", std::to_string(key.seq)}, {"error", s.ToString()}});
    }
  }
  for (std::thread& t : executors_) t.join();
  executors_.clear();
  wait_flushed();
  // 4. Stop the workflow threads; each hands its run back.
  std::vector<std::thread> run_threads;
  {
    MutexLock lock(&mu_);
    for (auto& [run_id, entry] : runs_) entry->state->Abort("worker is shutting down", true);
  }
  {
    MutexLock lock(&mu_);
    for (auto& [run_id, entry] : runs_) run_threads.push_back(std::move(entry->thread));
    stop_background_ = true;
  }
  for (std::thread& t : run_threads) {
    if (t.joinable()) t.join();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (flusher_.joinable()) flusher_.join();
  {
    MutexLock lock(&mu_);
    runs_.clear();
  }
  LogInfo("worker stopped", {{"identity", identity_}});
}

void Worker::WakeAll() {
  MutexLock lock(&mu_);
  workflow_wakeup_ = true;
  activity_wakeup_ = true;
  for (auto& [run_id, entry] : runs_) entry->state->RequestRefresh();
}

// ---- notifications -------------------------------------------------------------------------

void Worker::OnNotification(const std::string& channel, const std::string& payload) {
  if (channel == "vecsync_workflow") {
    MutexLock lock(&mu_);
    workflow_wakeup_ = true;
  } else if (channel == "vecsync_activity") {
    MutexLock lock(&mu_);
    activity_wakeup_ = true;
  } else if (channel == "vecsync_step" || channel == "vecsync_run") {
    std::vector<std::string> parts = absl::StrSplit(payload, ' ');
    // A step this worker completed was already delivered in memory.
    if (parts.size() > 1 && parts[1] == identity_) return;
    MutexLock lock(&mu_);
    auto it = runs_.find(parts[0]);
    if (it != runs_.end()) it->second->state->RequestRefresh();
  }
}

void Worker::ListenLoop() {
  std::unique_ptr<PgConnection> conn;
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stop_background_) return;
    }
    if (conn == nullptr || conn->broken()) {
      absl::StatusOr<std::unique_ptr<PgConnection>> fresh = PgConnection::Connect(pg_url_);
      absl::Status s = fresh.status();
      if (s.ok()) {
        s = (*fresh)->Execute(
            "LISTEN vecsync_workflow; LISTEN vecsync_activity; LISTEN vecsync_step; "
            "LISTEN vecsync_run");
      }
      if (!s.ok()) {
        LogWarning("cannot listen for notifications; polling", {{"error", s.ToString()}});
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      conn = std::move(*fresh);
      backoff = absl::Milliseconds(100);
      WakeAll();  // Notifications may have been missed while disconnected.
    }
    pollfd pfd{conn->socket(), POLLIN, 0};
    if (poll(&pfd, 1, 200) < 0) continue;
    if (!conn->ConsumeInput().ok()) continue;
    while (auto n = conn->NextNotification()) OnNotification(n->first, n->second);
  }
}

// ---- workflows -----------------------------------------------------------------------------

std::vector<std::thread> Worker::ReapFinishedRuns() {
  std::vector<std::thread> finished;
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second->done) {
      finished.push_back(std::move(it->second->thread));
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  return finished;
}

void Worker::WorkflowClaimLoop() {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    int free = 0;
    std::vector<std::thread> finished;
    {
      MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_claiming_ || (workflow_wakeup_ && static_cast<int>(runs_.size()) <
                                                          options_.max_concurrent_workflows);
      };
      mu_.AwaitWithTimeout(Condition(&ready), options_.poll_interval);
      finished = ReapFinishedRuns();
      free = options_.max_concurrent_workflows - static_cast<int>(runs_.size());
      workflow_wakeup_ = false;
    }
    for (std::thread& t : finished) t.join();
    {
      MutexLock lock(&mu_);
      if (stop_claiming_) return;
    }
    if (free <= 0) continue;
    const int limit = std::min(free, options_.claim_batch);
    absl::StatusOr<std::vector<ClaimedRun>> claimed =
        store_->ClaimRuns(workflow_types_, limit, options_.lease_duration);
    if (!claimed.ok()) {
      LogWarning("claiming runs failed", {{"error", claimed.status().ToString()}});
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(50);
    std::vector<ClaimedRun> hand_back;
    {
      MutexLock lock(&mu_);
      if (static_cast<int>(claimed->size()) == limit) workflow_wakeup_ = true;
      for (ClaimedRun& run : *claimed) {
        auto held = runs_.find(run.run_id);
        if (held != runs_.end()) {
          // This worker lost the lease (its renewals failed) and won the run back while the old
          // thread still runs: that thread is fenced out now; let it end, then claim again.
          held->second->state->Abort("the run's lease was lost and claimed again", false);
          hand_back.push_back(std::move(run));
          continue;
        }
        ++stats_.runs_claimed;
        if (run.reclaimed) {
          ++stats_.runs_reclaimed;
          static metrics::Counter& takeovers = metrics::Counter::Get(
              "vecsync_lease_takeovers_total",
              "Workflow runs this process took over after another worker's lease expired");
          takeovers.Add();
        }
        auto entry = std::make_unique<RunEntry>();
        entry->state = std::make_shared<RunState>();
        entry->generation = run.generation;
        if (run.cancel_requested) entry->state->SetCancelRequested();
        RunEntry* raw = entry.get();
        const std::string run_id = run.run_id;
        runs_[run_id] = std::move(entry);
        raw->thread = std::thread([this, raw, run = std::move(run)]() mutable {
          RunWorkflow(std::move(run), raw->state);
          MutexLock lock(&mu_);
          raw->done = true;
          workflow_wakeup_ = true;
        });
      }
    }
    for (const ClaimedRun& run : hand_back) (void)store_->ReleaseRun(run.run_id, run.generation);
  }
}

void Worker::RunWorkflow(ClaimedRun run, std::shared_ptr<RunState> state) {
  LogInfo(run.reclaimed ? "resuming workflow" : "running workflow",
          {{"workflow_id", run.workflow_id}, {"run_id", run.run_id}, {"type", run.workflow_type}});
  const absl::Time forever = absl::InfiniteFuture();
  absl::StatusOr<std::vector<StepRecord>> steps =
      RetryUnavailable([&] { return store_->LoadSteps(run.run_id, run.checkpoint_seq); },
                       absl::Now() + absl::Minutes(1));
  if (!steps.ok()) {
    LogError("cannot load the run's history; handing it back",
             {{"workflow_id", run.workflow_id},
              {"run_id", run.run_id},
              {"error", steps.status().ToString()}});
    (void)store_->ReleaseRun(run.run_id, run.generation);
    return;
  }
  WorkflowContextImpl ctx(run, std::move(*steps), store_.get(), registry_, state.get(),
                          options_.poll_interval);
  const WorkflowFunction* fn = registry_->FindWorkflow(run.workflow_type);
  absl::StatusOr<Json> result;
  try {
    result = (*fn)(ctx, run.input);
  } catch (const std::exception& e) {
    result = absl::InternalError(absl::StrCat("workflow code threw: ", e.what()));
  }
  bool shutting_down = false;
  if (!ctx.aborted(&shutting_down)) {
    if (result.ok()) {
      absl::Status s = ctx.Flush();
      if (!s.ok()) result = s;
    } else {
      (void)ctx.FlushProgress();  // The last progress stays visible beside the failure.
    }
  }
  if (ctx.aborted(&shutting_down)) {
    if (shutting_down) (void)store_->ReleaseRun(run.run_id, run.generation);
    MutexLock lock(&mu_);
    if (!shutting_down) ++stats_.leases_lost;
    return;
  }
  WorkflowStatus status = WorkflowStatus::kCompleted;
  Json output, failure;
  if (result.ok()) {
    output = std::move(*result);
  } else {
    status = result.status().code() == absl::StatusCode::kCancelled && ctx.cancel_requested()
                 ? WorkflowStatus::kCanceled
                 : WorkflowStatus::kFailed;
    failure = FailureToJson(result.status());
  }
  absl::StatusOr<bool> closed = RetryUnavailable(
      [&] { return store_->CloseRun(run.run_id, run.generation, status, output, failure); },
      forever);
  if (closed.ok() && *closed) {
    static metrics::Counter& closed_runs = metrics::Counter::Get(
        "vecsync_workflows_closed_total", "Workflow runs this process's workers closed",
        {"workflow_type", "status"});
    closed_runs.Add({run.workflow_type, std::string(WorkflowStatusName(status))});
    LogInfo("workflow closed", {{"workflow_id", run.workflow_id},
                                {"run_id", run.run_id},
                                {"status", std::string(WorkflowStatusName(status))}});
    MutexLock lock(&mu_);
    ++stats_.runs_closed;
  } else {
    LogWarning("workflow finished but its run was no longer held",
               {{"workflow_id", run.workflow_id}, {"run_id", run.run_id}});
  }
}

// ---- activities ----------------------------------------------------------------------------

void Worker::ActivityClaimLoop() {
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    int free = 0;
    {
      MutexLock lock(&mu_);
      const absl::Time deadline = std::min(absl::Now() + options_.poll_interval, next_retry_at_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_claiming_ || (activity_wakeup_ && static_cast<int>(attempts_.size()) <
                                                          options_.max_concurrent_activities);
      };
      mu_.AwaitWithDeadline(Condition(&ready), deadline);
      if (stop_claiming_) return;
      if (absl::Now() >= next_retry_at_) next_retry_at_ = absl::InfiniteFuture();
      free = options_.max_concurrent_activities - static_cast<int>(attempts_.size());
      activity_wakeup_ = false;
    }
    if (free <= 0) continue;
    const int limit = std::min(free, options_.claim_batch);
    absl::StatusOr<std::vector<ClaimedActivity>> claimed =
        store_->ClaimActivities(activity_types_, limit, options_.lease_duration);
    if (!claimed.ok()) {
      LogWarning("claiming activities failed", {{"error", claimed.status().ToString()}});
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(50);
    MutexLock lock(&mu_);
    if (static_cast<int>(claimed->size()) == limit) activity_wakeup_ = true;
    for (ClaimedActivity& a : *claimed) {
      auto entry = std::make_unique<AttemptEntry>();
      entry->key = {a.run_id, a.seq, a.generation};
      attempts_[{a.run_id, a.seq, a.generation}] = std::move(entry);
      queued_.push_back(std::move(a));
      ++stats_.activities_started;
    }
  }
}

void Worker::ActivityExecutorLoop() {
  while (true) {
    ClaimedActivity activity;
    {
      MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_executors_ || !queued_.empty();
      };
      mu_.Await(Condition(&ready));
      if (stop_executors_) return;
      activity = std::move(queued_.front());
      queued_.pop_front();
      ++executing_;
    }
    const bool result_pending = RunActivity(activity);
    MutexLock lock(&mu_);
    --executing_;
    // A successful attempt keeps its entry, and so its lease renewals, until the flusher has
    // recorded the result.
    if (!result_pending) attempts_.erase({activity.run_id, activity.seq, activity.generation});
  }
}

bool Worker::RunActivity(const ClaimedActivity& activity) {
  AttemptFlags* flags = nullptr;
  {
    MutexLock lock(&mu_);
    flags = &attempts_.at({activity.run_id, activity.seq, activity.generation})->flags;
  }
  absl::Duration throttle = options_.heartbeat_throttle;
  absl::StatusOr<ActivityOptions> options = ActivityOptions::FromJson(activity.options);
  if (options.ok() && options->heartbeat_timeout) {
    throttle = std::min(throttle, *options->heartbeat_timeout / 2);
  }
  ActivityContextImpl ctx(activity, store_.get(), flags, options_.lease_duration, throttle);
  const ActivityFunction* fn = registry_->FindActivity(activity.activity_type);
  absl::StatusOr<Json> result;
  const absl::Time began = absl::Now();
  try {
    result = (*fn)(ctx, activity.input);
  } catch (const std::exception& e) {
    result = absl::InternalError(absl::StrCat("activity code threw: ", e.what()));
  }
  static metrics::Counter& attempts = metrics::Counter::Get(
      "vecsync_activity_attempts_total", "Activity attempts this process finished, by outcome",
      {"activity_type", "outcome"});
  static metrics::Histogram& latency = metrics::Histogram::Get(
      "vecsync_activity_attempt_seconds", "How long activity attempts ran", {"activity_type"});
  latency.Observe({activity.activity_type}, absl::ToDoubleSeconds(absl::Now() - began));
  attempts.Add({activity.activity_type, flags->lost.load() ? "lost"
                                        : result.ok()      ? "completed"
                                                           : "failed"});
  if (!result.ok()) {
    LogInfo("activity attempt failed", {{"workflow_id", activity.workflow_id},
                                        {"run_id", activity.run_id},
                                        {"activity_type", activity.activity_type},
                                        {"attempt", std::to_string(activity.attempt)},
                                        {"error", result.status().ToString()}});
  }
  if (flags->lost.load()) return false;  // Someone else owns it now; the result is void.
  if (result.ok()) {
    MutexLock lock(&mu_);
    completions_.push_back(
        {activity.run_id, activity.seq, activity.generation, std::move(*result)});
    return true;
  }
  absl::Duration delay;
  absl::StatusOr<AttemptOutcome> outcome = RetryUnavailable(
      [&] { return store_->FailActivity(activity, result.status(), ctx.latest_details(), &delay); },
      absl::Now() + absl::Seconds(30));
  MutexLock lock(&mu_);
  ++stats_.activities_failed;
  if (outcome.ok() && *outcome == AttemptOutcome::kRetryScheduled) {
    next_retry_at_ = std::min(next_retry_at_, absl::Now() + delay);
  }
  if (outcome.ok() && *outcome == AttemptOutcome::kClosed) {
    auto it = runs_.find(activity.run_id);
    if (it != runs_.end()) it->second->state->RequestRefresh();
  }
  return false;
}

void Worker::CompletionFlushLoop() {
  while (true) {
    std::vector<CompletedActivity> batch;
    {
      MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_background_ || !completions_.empty();
      };
      mu_.Await(Condition(&ready));
      if (completions_.empty()) return;  // Stopping and nothing left.
      batch.swap(completions_);
      flushing_ = true;
    }
    absl::StatusOr<std::vector<LeaseKey>> accepted = RecordCompletions(batch);
    MutexLock lock(&mu_);
    flushing_ = false;
    for (const CompletedActivity& c : batch) attempts_.erase({c.run_id, c.seq, c.generation});
    if (!accepted.ok()) {
      LogError("could not record activity results; the attempts will be retried",
               {{"error", accepted.status().ToString()}});
      continue;
    }
    stats_.activities_completed += static_cast<int64_t>(accepted->size());
    std::map<std::pair<std::string, int64_t>, CompletedActivity*> by_key;
    for (CompletedActivity& c : batch) by_key[{c.run_id, c.seq}] = &c;
    for (const LeaseKey& key : *accepted) {
      auto run = runs_.find(key.run_id);
      if (run == runs_.end()) continue;
      StepRecord step;
      step.seq = key.seq;
      step.kind = "activity";
      step.status = "COMPLETED";
      step.result = std::move(by_key[{key.run_id, key.seq}]->result);
      run->second->state->Deliver(std::move(step));
    }
  }
}

absl::StatusOr<std::vector<LeaseKey>> Worker::RecordCompletions(
    const std::vector<CompletedActivity>& batch) {
  auto record = [&] {
    return RetryUnavailable([&] { return store_->CompleteActivities(batch); },
                            absl::Now() + absl::Minutes(1));
  };
  absl::StatusOr<std::vector<LeaseKey>> accepted = record();
  if (accepted.status().code() == absl::StatusCode::kAborted) accepted = record();  // Deadlock.
  if (accepted.ok() || accepted.status().code() == absl::StatusCode::kUnavailable ||
      batch.size() == 1) {
    return accepted;
  }
  // One bad result (say, text PostgreSQL's jsonb refuses) must not sink the others: record
  // them one by one and fail the attempts whose results cannot be stored.
  std::vector<LeaseKey> all;
  for (const CompletedActivity& c : batch) {
    absl::StatusOr<std::vector<LeaseKey>> one = store_->CompleteActivities({c});
    if (one.ok()) {
      all.insert(all.end(), one->begin(), one->end());
      continue;
    }
    ClaimedActivity a;
    a.run_id = c.run_id;
    a.seq = c.seq;
    a.generation = c.generation;
    a.attempt = 1;
    (void)store_->FailActivity(
        a,
        ApplicationError(
            "RESULT_NOT_STORABLE",
            absl::StrCat("the activity's result could not be stored: ", one.status().message()),
            /*non_retryable=*/true, absl::StatusCode::kInvalidArgument),
        Json(), nullptr);
  }
  return all;
}

// ---- leases and timeouts -------------------------------------------------------------------

void Worker::RenewLeases() {
  std::vector<LeaseKey> run_keys, attempt_keys;
  {
    MutexLock lock(&mu_);
    for (const auto& [run_id, entry] : runs_) {
      if (!entry->done) run_keys.push_back({run_id, -1, entry->generation});
    }
    for (const auto& [key, attempt] : attempts_) attempt_keys.push_back(attempt->key);
  }
  absl::StatusOr<std::vector<LeaseState>> runs =
      store_->RenewRuns(run_keys, options_.lease_duration);
  if (runs.ok()) {
    std::map<std::string, bool> held;
    for (const LeaseState& s : *runs) held[s.key.run_id] = s.cancel_requested;
    MutexLock lock(&mu_);
    for (const LeaseKey& key : run_keys) {
      auto it = runs_.find(key.run_id);
      if (it == runs_.end() || it->second->generation != key.generation) continue;
      auto h = held.find(key.run_id);
      if (h == held.end()) {
        it->second->state->Abort("the run's lease was lost or the run closed", false);
      } else if (h->second) {
        it->second->state->SetCancelRequested();
      }
    }
  }
  absl::StatusOr<std::vector<LeaseState>> attempts =
      store_->RenewActivities(attempt_keys, options_.lease_duration);
  if (attempts.ok()) {
    std::map<std::pair<std::string, int64_t>, bool> held;
    for (const LeaseState& s : *attempts) held[{s.key.run_id, s.key.seq}] = s.cancel_requested;
    MutexLock lock(&mu_);
    for (const LeaseKey& key : attempt_keys) {
      auto it = attempts_.find({key.run_id, key.seq, key.generation});
      if (it == attempts_.end()) continue;
      auto h = held.find({key.run_id, key.seq});
      if (h == held.end()) {
        it->second->flags.lost = true;
      } else if (h->second) {
        it->second->flags.cancel_requested = true;
      }
    }
  }
}

void Worker::MaintenanceLoop() {
  const absl::Duration renew_every = options_.lease_duration / 3;
  absl::Time next_renew = absl::Now() + renew_every;
  absl::Time next_sweep = absl::Now();
  while (true) {
    {
      MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_background_; };
      mu_.AwaitWithDeadline(Condition(&stopping), std::min(next_renew, next_sweep));
      if (stop_background_) return;
    }
    const absl::Time now = absl::Now();
    if (now >= next_renew) {
      RenewLeases();
      next_renew = now + renew_every;
    }
    if (now >= next_sweep) {
      absl::StatusOr<int> swept = store_->SweepTimeouts(100);
      static metrics::Counter& sweeps = metrics::Counter::Get(
          "vecsync_timeouts_swept_total",
          "Attempts and runs the sweeper timed out or took back from dead workers");
      if (swept.ok()) sweeps.Add({}, *swept);
      if (!swept.ok()) {
        LogWarning("timeout sweep failed", {{"error", swept.status().ToString()}});
      } else if (*swept > 0) {
        MutexLock lock(&mu_);
        activity_wakeup_ = true;
        next_retry_at_ = absl::Now();
      }
      next_sweep = now + options_.sweep_interval;
    }
  }
}

}  // namespace vecsync::engine
