// A worker process's engine: claims runs and activity attempts from PostgreSQL and runs them.
//
// Each claimed run's workflow function runs on its own thread; activity attempts run on a
// fixed pool of threads. Claims are leases that a background thread renews; a worker that dies
// stops renewing, and once its leases expire any other worker takes the work over. Writes are
// fenced, so a worker that lost a lease cannot commit. LISTEN/NOTIFY wakes idle workers at
// once; polling every `poll_interval` is the fallback.
//
// Example:
//   Worker worker(pg_url, &registry, WorkerOptions{});
//   RETURN_IF_ERROR(worker.Start());
//   ... until SIGTERM ...
//   worker.Shutdown();  // stops claiming, finishes or hands back work within the grace period
//
// Thread-safe. The registry must outlive the worker.
#ifndef VECSYNC_ENGINE_WORKER_H_
#define VECSYNC_ENGINE_WORKER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/common/mutex.h"
#include "src/common/pg_pool.h"
#include "src/engine/registry.h"
#include "src/engine/store.h"

namespace vecsync::engine {

struct AttemptFlags;
struct RunState;

struct WorkerOptions {
  // Names this worker in leases and logs; host:pid:random when empty.
  std::string identity;
  bool run_workflows = true;
  bool run_activities = true;
  int max_concurrent_workflows = 256;
  int max_concurrent_activities = 16;
  // Claims fetched per query.
  int claim_batch = 32;
  // A lease not renewed for this long may be taken over. Renewed every lease_duration / 3.
  absl::Duration lease_duration = absl::Seconds(15);
  // How often idle loops look at the database when no notification arrives.
  absl::Duration poll_interval = absl::Seconds(1);
  // How often timed-out attempts and runs are resolved.
  absl::Duration sweep_interval = absl::Seconds(1);
  // Heartbeats reach the database at most this often per attempt.
  absl::Duration heartbeat_throttle = absl::Milliseconds(500);
  // Shutdown() waits this long for running activities before handing them back.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Connections to PostgreSQL.
  int pool_size = 8;

  // INVALID_ARGUMENT naming the field for non-positive sizes or intervals.
  absl::Status Validate() const;
};

// Counters a worker keeps; read with Worker::stats().
struct WorkerStats {
  int64_t runs_claimed = 0;
  int64_t runs_reclaimed = 0;  // Claimed after another worker held them.
  int64_t runs_closed = 0;
  int64_t activities_started = 0;
  int64_t activities_completed = 0;
  int64_t activities_failed = 0;  // Attempts that failed (retried or not).
  int64_t leases_lost = 0;
};

class Worker {
 public:
  Worker(std::string pg_url, const Registry* registry, WorkerOptions options);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Shuts down if still running.
  ~Worker();

  // Validates the options, checks the database, and starts the threads. Call once.
  absl::Status Start();

  // Stops claiming, waits up to shutdown_grace for running activities, hands back what is left
  // (runs and attempts become claimable at once), and joins every thread. Idempotent.
  void Shutdown();

  const std::string& identity() const { return identity_; }
  WorkerStats stats() const;

 private:
  struct RunEntry;
  struct AttemptEntry;

  void ListenLoop();
  void WorkflowClaimLoop();
  void ActivityClaimLoop();
  void ActivityExecutorLoop();
  void CompletionFlushLoop();
  void MaintenanceLoop();

  void RunWorkflow(ClaimedRun run, std::shared_ptr<RunState> state);
  // Runs one attempt; returns true when its result waits in completions_ to be recorded.
  bool RunActivity(const ClaimedActivity& activity);
  // Records a batch of results; returns the ones accepted.
  absl::StatusOr<std::vector<LeaseKey>> RecordCompletions(
      const std::vector<CompletedActivity>& batch);
  void RenewLeases();
  // Removes finished runs from runs_; returns their threads for joining outside mu_.
  std::vector<std::thread> ReapFinishedRuns() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnNotification(const std::string& channel, const std::string& payload);
  void WakeAll();

  const std::string pg_url_;
  const Registry* const registry_;
  const WorkerOptions options_;
  const std::string identity_;
  std::vector<std::string> workflow_types_;
  std::vector<std::string> activity_types_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<Store> store_;

  mutable Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_claiming_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_executors_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_background_ ABSL_GUARDED_BY(mu_) = false;
  bool workflow_wakeup_ ABSL_GUARDED_BY(mu_) = true;
  bool activity_wakeup_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time next_retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::map<std::string, std::unique_ptr<RunEntry>> runs_ ABSL_GUARDED_BY(mu_);
  std::deque<ClaimedActivity> queued_ ABSL_GUARDED_BY(mu_);
  // Claimed attempts by (run_id, seq, generation), from claim until their result is recorded.
  std::map<std::tuple<std::string, int64_t, int64_t>, std::unique_ptr<AttemptEntry>> attempts_
      ABSL_GUARDED_BY(mu_);
  int executing_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CompletedActivity> completions_ ABSL_GUARDED_BY(mu_);
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  WorkerStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread workflow_claimer_;
  std::thread activity_claimer_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> executors_;
  std::thread flusher_;
};

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_WORKER_H_
