// The worker running workflows for real against PostgreSQL: activities, retries, timeouts,
// heartbeats, cancellation, timers, checkpoints, shutdown and reconnection.
#include "src/engine/worker.h"

#include "absl/time/clock.h"
#include "tests/engine_fixture.h"

namespace vecsync::engine {
namespace {

using ::vecsync::testing::EngineTest;
using ::vecsync::testing::SetVersionedWorkflowChanged;
using ::vecsync::testing::WaitUntil;

class WorkerTest : public EngineTest {};

TEST_F(WorkerTest, RunsSequentialActivitiesToCompletion) {
  auto worker = StartWorker();
  auto started = Start("sequence", {{"count", 5}});
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["sum"], 0 + 1 + 2 + 3 + 4);
  EXPECT_EQ(e.progress["done"], 5);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log"), 5);
  auto history = client_->GetHistory({started.workflow_id, ""}, 100, "");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->events.front().event_type, "WorkflowExecutionStarted");
  EXPECT_EQ(history->events.back().event_type, "WorkflowExecutionCompleted");
  EXPECT_EQ(history->events.size(), 1u + 5 * 2 + 1);
}

TEST_F(WorkerTest, RunsManyActivitiesAtOnce) {
  auto worker = StartWorker();
  ExecutionInfo e = WaitClosed(Start("fanout", {{"count", 300}, {"wave", 100}}));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["activities"], 300);
  EXPECT_EQ(worker->stats().activities_completed, 300);
}

TEST_F(WorkerTest, RetriesWithBackoffIntervals) {
  auto worker = StartWorker();
  ExecutionInfo e =
      WaitClosed(Start("flaky", {{"fail_times", 3}, {"initial_ms", 200}}), absl::Seconds(30));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["attempt"], 4);
  // Gaps between attempt starts: at least 200, 400 and 800 ms (the retry intervals), and not
  // much more (the worker wakes for its own retries instead of waiting for a poll).
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto r = (*conn)->Query(
      "SELECT (EXTRACT(EPOCH FROM at - lag(at) OVER (ORDER BY attempt)) * 1000)::bigint "
      "FROM activity_log ORDER BY attempt");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rows(), 4);
  const int64_t expected[] = {200, 400, 800};
  for (int i = 1; i < 4; ++i) {
    EXPECT_GE(r->GetInt64(i, 0), expected[i - 1]) << "gap before attempt " << i + 1;
    EXPECT_LT(r->GetInt64(i, 0), expected[i - 1] + 700) << "gap before attempt " << i + 1;
  }
}

TEST_F(WorkerTest, NonRetryableErrorTypeFailsAtOnce) {
  auto worker = StartWorker();
  ExecutionInfo e = WaitClosed(
      Start("flaky", {{"fail_times", 5}, {"error_type", "Fatal"}, {"non_retryable", {"Fatal"}}}));
  EXPECT_EQ(e.status, WorkflowStatus::kFailed);
  EXPECT_EQ(e.failure["type"], "Fatal");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log"), 1);
}

TEST_F(WorkerTest, MaximumAttemptsBoundsRetries) {
  auto worker = StartWorker();
  ExecutionInfo e = WaitClosed(Start("flaky", {{"fail_times", 10}, {"max_attempts", 3}}));
  EXPECT_EQ(e.status, WorkflowStatus::kFailed);
  EXPECT_EQ(e.failure["message"], "failing on purpose");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log"), 3);
}

TEST_F(WorkerTest, StartToCloseTimeoutFailsTheAttempt) {
  auto worker = StartWorker();
  ExecutionInfo e =
      WaitClosed(Start("slow", {{"sleep_ms", 1500}, {"timeout_ms", 300}, {"max_attempts", 2}}));
  EXPECT_EQ(e.status, WorkflowStatus::kFailed);
  EXPECT_EQ(e.failure["type"], "TIMEOUT");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log"), 2);
}

TEST_F(WorkerTest, HeartbeatDetailsReachTheNextAttempt) {
  auto worker = StartWorker();
  ExecutionInfo e = WaitClosed(Start("resume", {{"total", 10}, {"fail_at", 6}}));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["attempt"], 2);
  EXPECT_EQ(e.result["resumed_from"], 6);
}

TEST_F(WorkerTest, CancellationReachesAHeartbeatingActivity) {
  auto worker = StartWorker();
  auto started = Start("wait_cancel", Json::object());
  ASSERT_TRUE(WaitUntil([&] { return QueryInt("SELECT count(*) FROM activity_log") >= 1; },
                        absl::Seconds(10)));
  // Describe shows the running attempt with the details of its latest heartbeat.
  absl::StatusOr<ExecutionInfo> described;
  ASSERT_TRUE(WaitUntil(
      [&] {
        described = client_->Describe({started.workflow_id, ""});
        return described.ok() && described->pending_activities.size() == 1 &&
               described->pending_activities[0].heartbeat_details.is_object();
      },
      absl::Seconds(10)));
  EXPECT_EQ(described->pending_activities[0].state, "STARTED");
  EXPECT_EQ(described->pending_activities[0].heartbeat_details["alive"], true);

  ASSERT_TRUE(client_->RequestCancel({started.workflow_id, ""}, "test").ok());
  ExecutionInfo e = WaitClosed(started);
  EXPECT_EQ(e.status, WorkflowStatus::kCanceled);
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt("SELECT count(*) FROM activity_log WHERE note = 'CANCELLED'") == 1; },
      absl::Seconds(10)));
}

TEST_F(WorkerTest, TerminateClosesAtOnceAndTheActivityIsToldToStop) {
  auto worker = StartWorker();
  auto started = Start("wait_cancel", Json::object());
  ASSERT_TRUE(WaitUntil([&] { return QueryInt("SELECT count(*) FROM activity_log") >= 1; },
                        absl::Seconds(10)));
  ASSERT_TRUE(client_->Terminate({started.workflow_id, ""}, "enough").ok());
  auto e = client_->Describe({started.workflow_id, ""});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->status, WorkflowStatus::kTerminated);
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt("SELECT count(*) FROM activity_log WHERE note = 'CANCELLED'") == 1; },
      absl::Seconds(10)));
}

TEST_F(WorkerTest, ExecutionTimeoutClosesTheRunAsTimedOut) {
  auto worker = StartWorker();
  StartWorkflowRequest req;
  req.workflow_type = "sleeper";
  req.input = {{"ms", 60000}};
  req.execution_timeout = absl::Milliseconds(500);
  auto started = client_->StartWorkflow(req);
  ASSERT_TRUE(started.ok());
  ExecutionInfo e = WaitClosed(*started);
  EXPECT_EQ(e.status, WorkflowStatus::kTimedOut);
}

TEST_F(WorkerTest, TimerSurvivesAWorkerRestart) {
  auto started = Start("sleeper", {{"ms", 2500}});
  const absl::Time begin = absl::Now();
  {
    auto first = StartWorker();
    ASSERT_TRUE(WaitUntil(
        [&] { return QueryInt("SELECT count(*) FROM vecsync.steps WHERE kind = 'timer'") == 1; },
        absl::Seconds(10)));
    first->Shutdown();  // The run is handed back with its timer pending.
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE owner IS NULL"), 1);
  absl::SleepFor(absl::Milliseconds(500));
  auto second = StartWorker();
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  const absl::Duration slept = absl::FromUnixMicros(e.result["woke_us"].get<int64_t>()) -
                               absl::FromUnixMicros(e.result["started_us"].get<int64_t>());
  // The timer fired once, 2.5 s after it was set, not 2.5 s after the restart.
  EXPECT_GE(slept, absl::Milliseconds(2500));
  EXPECT_LT(absl::Now() - begin, absl::Milliseconds(2500) + absl::Seconds(2));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.history WHERE event_type = 'TimerFired'"), 1);
}

TEST_F(WorkerTest, AwaitAnyReplaysTheOriginalChoice) {
  auto started = Start("race", {{"pause_ms", 1500}});
  {
    auto first = StartWorker();
    ASSERT_TRUE(WaitUntil(
        [&] {
          return QueryInt("SELECT count(*) FROM vecsync.steps WHERE kind = 'timer'") == 1 &&
                 QueryInt(
                     "SELECT count(*) FROM vecsync.steps WHERE kind = 'activity' "
                     "AND status = 'COMPLETED'") == 2;
        },
        absl::Seconds(10)));
    first->Shutdown();
  }
  // The replay sees both activities closed; it must still follow the fast one.
  auto second = StartWorker();
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["winner"], "fast");
  EXPECT_EQ(second->stats().runs_reclaimed, 1);
}

TEST_F(WorkerTest, AReplayThatLearnsOfACompletionBeforeReachingItsCommandFollowsTheRecord) {
  auto started = Start("handover", {{"pause_ms", 2500}, {"sleep_ms", 1000}});
  {
    engine::WorkerOptions hasty = FastOptions();
    hasty.shutdown_grace = absl::ZeroDuration();  // Hand the slow activity back at once.
    auto first = StartWorker(hasty);
    ASSERT_TRUE(WaitUntil(
        [&] { return QueryInt("SELECT count(*) FROM activity_log WHERE note = 'sleep'") == 1; },
        absl::Seconds(10)));
    first->Shutdown();
  }
  // The new worker runs the slow activity again (1 s) while the replay pauses (2.5 s).
  auto second = StartWorker();
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(second->stats().runs_reclaimed, 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log WHERE note = 'sleep'"), 2);
}

TEST_F(WorkerTest, ARunInFlightKeepsTheCodePathItStartedOnAcrossAChange) {
  // Runs `run` on a worker until its `sleep` activity has started, then stops that worker,
  // handing the activity (2 s long) back at once.
  auto interrupt = [&](const StartWorkflowResult& run) {
    engine::WorkerOptions hasty = FastOptions();
    hasty.shutdown_grace = absl::ZeroDuration();
    auto worker = StartWorker(hasty);
    ASSERT_TRUE(WaitUntil(
        [&] {
          return QueryInt("SELECT count(*) FROM activity_log WHERE note = 'sleep' AND run_id = '" +
                          run.run_id + "'") > 0;
        },
        absl::Seconds(10)));
    worker->Shutdown();
  };
  SetVersionedWorkflowChanged(false);
  auto before = Start("versioned", {{"sleep_ms", 2000}});
  interrupt(before);
  // The code changes: the run in flight replays on the new code and keeps the old path...
  SetVersionedWorkflowChanged(true);
  {
    auto new_code = StartWorker();
    ExecutionInfo replayed = WaitClosed(before);
    ASSERT_EQ(replayed.status, WorkflowStatus::kCompleted) << replayed.failure.dump();
    EXPECT_EQ(replayed.result["path"], "old");
  }
  // ...while a new run takes the new path, and keeps it when it replays.
  auto after = Start("versioned", {{"sleep_ms", 2000}});
  interrupt(after);
  auto again = StartWorker();
  ExecutionInfo fresh = WaitClosed(after);
  SetVersionedWorkflowChanged(false);
  ASSERT_EQ(fresh.status, WorkflowStatus::kCompleted) << fresh.failure.dump();
  EXPECT_EQ(fresh.result["path"], "new");
  EXPECT_EQ(fresh.result["version"], 1);
  EXPECT_EQ(again->stats().runs_reclaimed, 1);
}

TEST_F(WorkerTest, CommandsIssuedWithoutWaitingAreCommittedTogether) {
  auto worker = StartWorker();
  auto started = Start("relay", Json::object());
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.progress["relayed"], 3);
  // Each successor was started right after an Await() that had nothing to wait for: one
  // transaction scheduled all three, instead of one commit per Await().
  // (A history row is written once, by the transaction that scheduled the activity.)
  const std::string wave = "FROM vecsync.history WHERE run_id = '" + started.run_id +
                           "' AND event_type = 'ActivityTaskScheduled' "
                           "AND attributes->'input'->>'wave' = ";
  EXPECT_EQ(QueryInt("SELECT count(*) " + wave + "'2'"), 3);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT xmin::text) " + wave + "'2'"), 1);
}

TEST_F(WorkerTest, AFailedWorkflowKeepsItsLastProgress) {
  auto worker = StartWorker();
  ExecutionInfo e = WaitClosed(Start("relay", {{"fail", true}}));
  ASSERT_EQ(e.status, WorkflowStatus::kFailed);
  EXPECT_EQ(e.progress["stage"], "failing") << e.progress.dump();
}

TEST_F(WorkerTest, CheckpointsKeepHistoryBoundedAndResumeWhereTheyLeftOff) {
  auto worker = StartWorker();
  auto started = Start("checkpointed", {{"count", 2000}, {"every", 100}});
  ExecutionInfo e = WaitClosed(started, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["sum"], 1999 * 2000 / 2);
  // 2000 activities would be 4000+ events; checkpoints keep it to one window plus markers.
  EXPECT_LT(QueryInt("SELECT count(*) FROM vecsync.history"), 300);
  EXPECT_LE(QueryInt("SELECT count(*) FROM vecsync.steps"), 100);
}

TEST_F(WorkerTest, GracefulShutdownHandsBackAndAnotherWorkerFinishes) {
  auto started = Start("sequence", {{"count", 6}, {"sleep_ms", 200}});
  {
    auto first = StartWorker();
    ASSERT_TRUE(WaitUntil([&] { return QueryInt("SELECT count(*) FROM activity_log") >= 2; },
                          absl::Seconds(10)));
    first->Shutdown();
  }
  auto second = StartWorker();
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["sum"], 15);
  // Nothing that completed ran again: one log row per activity.
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT seq) FROM activity_log"), 6);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM activity_log"), 6);
}

TEST_F(WorkerTest, SurvivesLosingItsDatabaseConnections) {
  auto worker = StartWorker();
  auto started = Start("sequence", {{"count", 8}, {"sleep_ms", 150}});
  ASSERT_TRUE(WaitUntil([&] { return QueryInt("SELECT count(*) FROM activity_log") >= 2; },
                        absl::Seconds(10)));
  // Kill every other connection to the test database: the worker's pool and its listener.
  QueryInt(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  ExecutionInfo e = WaitClosed(started);
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["sum"], 28);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT seq) FROM activity_log"), 8);
}

TEST_F(WorkerTest, TwoWorkersShareTheWork) {
  auto a = StartWorker();
  auto b = StartWorker();
  std::vector<StartWorkflowResult> runs;
  for (int i = 0; i < 10; ++i) runs.push_back(Start("fanout", {{"count", 50}, {"wave", 25}}));
  for (const auto& r : runs) EXPECT_EQ(WaitClosed(r).status, WorkflowStatus::kCompleted);
  EXPECT_EQ(a->stats().activities_completed + b->stats().activities_completed, 500);
  EXPECT_GT(a->stats().activities_completed, 0);
  EXPECT_GT(b->stats().activities_completed, 0);
}

TEST_F(WorkerTest, InvalidOptionsAreRejected) {
  WorkerOptions o = FastOptions();
  o.lease_duration = absl::Seconds(-1);
  Worker worker(testing::TestDatabaseUrl(), registry_.get(), o);
  absl::Status s = worker.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("lease_duration"), absl::string_view::npos);
}

}  // namespace
}  // namespace vecsync::engine
