// Schedules against the real PostgreSQL with a controllable clock. No worker runs, so every run
// a schedule starts stays RUNNING until the test closes it: overlap is fully under control.
#include <atomic>
#include <set>
#include <thread>

#include "src/engine/scheduler.h"
#include "src/engine/schedules.h"
#include "tests/engine_fixture.h"

namespace vecsync::engine {
namespace {

absl::Time At(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

class ScheduleTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    SetNow("2026-06-01T00:00:00Z");
    schedules_ = MakeSchedules(client_.get());
  }

  std::unique_ptr<Schedules> MakeSchedules(Client* client) {
    schedule_pool_ = std::make_unique<PgPool>(testing::TestDatabaseUrl(), 4);
    return std::make_unique<Schedules>(schedule_pool_.get(), registry_.get(), client,
                                       [this] { return absl::FromUnixMicros(now_us_.load()); });
  }
  void SetNow(const std::string& t) { now_us_ = absl::ToUnixMicros(At(t)); }
  void Advance(absl::Duration d) { now_us_ += absl::ToInt64Microseconds(d); }

  ScheduleDefinition Every(const std::string& id, const std::string& cron,
                           OverlapPolicy overlap = OverlapPolicy::kSkip) {
    ScheduleDefinition d;
    d.schedule_id = id;
    d.cron = cron;
    d.workflow_type = "sleeper";
    d.input = {{"ms", 3600000}};
    d.overlap_policy = overlap;
    return d;
  }

  int RunDue() {
    absl::StatusOr<int> n = schedules_->RunDue();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  int64_t Runs(const std::string& schedule_id, const std::string& status = "") {
    return QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id LIKE '" +
                    schedule_id + "-%'" + (status.empty() ? "" : " AND status = '" + status + "'"));
  }

  void TerminateAll(const std::string& schedule_id) {
    auto r = client_->List({});
    for (const auto& e : r->executions) {
      if (e.status == WorkflowStatus::kRunning && e.workflow_id.rfind(schedule_id + "-", 0) == 0) {
        ASSERT_TRUE(client_->Terminate({e.workflow_id, e.run_id}, "test").ok());
      }
    }
  }

  ScheduleDescription Describe(const std::string& id) {
    auto d = schedules_->Describe(id);
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : ScheduleDescription{};
  }

  std::unique_ptr<PgPool> schedule_pool_;
  std::atomic<int64_t> now_us_{0};
  std::unique_ptr<Schedules> schedules_;
};

TEST_F(ScheduleTest, FiresOncePerDueTimeWithAnIdNamingTheTime) {
  ASSERT_TRUE(schedules_->Create(Every("hourly", "@hourly", OverlapPolicy::kAllowAll)).ok());
  EXPECT_EQ(RunDue(), 0) << "nothing is due at creation";
  Advance(absl::Minutes(59));
  EXPECT_EQ(RunDue(), 0);
  Advance(absl::Minutes(1));
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(RunDue(), 0) << "the same due time is not acted on twice";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions "
                     "WHERE workflow_id = 'hourly-2026-06-01T01:00:00Z'"),
            1);
  Advance(absl::Hours(1));
  EXPECT_EQ(RunDue(), 1);
  ScheduleDescription d = Describe("hourly");
  EXPECT_EQ(d.action_count, 2);
  ASSERT_EQ(d.recent_actions.size(), 2u);
  EXPECT_EQ(d.recent_actions[1].schedule_time, At("2026-06-01T02:00:00Z"));
  EXPECT_FALSE(d.recent_actions[1].run_id.empty());
  ASSERT_EQ(d.future_action_times.size(), static_cast<size_t>(kFutureActionTimes));
  EXPECT_EQ(d.future_action_times[0], At("2026-06-01T03:00:00Z"));
  EXPECT_EQ(d.future_action_times[9], At("2026-06-01T12:00:00Z"));
  // Both runs are still running (no worker): ALLOW_ALL lets them overlap.
  EXPECT_EQ(Runs("hourly", "RUNNING"), 2);
}

TEST_F(ScheduleTest, SkipDropsActionsWhileTheLastRunIsRunning) {
  ASSERT_TRUE(schedules_->Create(Every("skip", "*/10 * * * *")).ok());
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 0);
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 0);
  EXPECT_EQ(Describe("skip").overlap_skipped, 2);
  EXPECT_EQ(Describe("skip").running_workflows.size(), 1u);
  TerminateAll("skip");
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(Runs("skip"), 2);
}

TEST_F(ScheduleTest, BufferOneStartsOneWaitingActionWhenTheRunCloses) {
  ASSERT_TRUE(schedules_->Create(Every("buffer", "*/10 * * * *", OverlapPolicy::kBufferOne)).ok());
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  Advance(absl::Minutes(10));  // 00:20 buffered.
  EXPECT_EQ(RunDue(), 0);
  Advance(absl::Minutes(10));  // 00:30 dropped: one is already waiting.
  EXPECT_EQ(RunDue(), 0);
  ScheduleDescription d = Describe("buffer");
  ASSERT_TRUE(d.buffered_action_time.has_value());
  EXPECT_EQ(*d.buffered_action_time, At("2026-06-01T00:20:00Z"));
  EXPECT_EQ(d.overlap_skipped, 1);
  EXPECT_EQ(RunDue(), 0) << "still blocked";
  EXPECT_EQ(RunDue(), 0);
  EXPECT_EQ(Describe("buffer").conflict_token, d.conflict_token)
      << "waiting on a run is no change: an Update with the token read before must still work";
  TerminateAll("buffer");
  EXPECT_EQ(RunDue(), 1) << "the buffered action starts once the run closed";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions "
                     "WHERE workflow_id = 'buffer-2026-06-01T00:20:00Z'"),
            1);
  EXPECT_FALSE(Describe("buffer").buffered_action_time.has_value());
}

TEST_F(ScheduleTest, CancelOtherCancelsTheRunningOneThenStarts) {
  ASSERT_TRUE(
      schedules_->Create(Every("cancel", "*/10 * * * *", OverlapPolicy::kCancelOther)).ok());
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id = "
                     "'cancel-2026-06-01T00:10:00Z' AND cancel_requested"),
            1);
  TerminateAll("cancel");  // What the canceled run does once it sees the request.
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(Runs("cancel", "RUNNING"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id = "
                     "'cancel-2026-06-01T00:20:00Z'"),
            1);
}

TEST_F(ScheduleTest, TerminateOtherReplacesTheRunningOneAtOnce) {
  ASSERT_TRUE(
      schedules_->Create(Every("term", "*/10 * * * *", OverlapPolicy::kTerminateOther)).ok());
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  Advance(absl::Minutes(10));
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(Runs("term", "TERMINATED"), 1);
  EXPECT_EQ(Runs("term", "RUNNING"), 1);
}

TEST_F(ScheduleTest, AfterDowntimeOnlyTimesWithinTheCatchupWindowAreActedOn) {
  ScheduleDefinition all = Every("catchup-all", "@every 1m", OverlapPolicy::kAllowAll);
  all.catchup_window = absl::Minutes(10);
  ASSERT_TRUE(schedules_->Create(all).ok());
  ScheduleDefinition skip = Every("catchup-skip", "@every 1m", OverlapPolicy::kSkip);
  skip.catchup_window = absl::Minutes(10);
  ASSERT_TRUE(schedules_->Create(skip).ok());
  Advance(absl::Hours(1));  // Down for an hour: due times 00:01 … 01:00.
  EXPECT_EQ(RunDue(), 11 + 1);
  // ALLOW_ALL: every time in [00:50, 01:00] starts; 00:01 … 00:49 are missed.
  EXPECT_EQ(Runs("catchup-all"), 11);
  EXPECT_EQ(Describe("catchup-all").missed_catchup_window, 49);
  // SKIP: the first time within the window starts, the rest overlap it.
  EXPECT_EQ(Runs("catchup-skip"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions "
                     "WHERE workflow_id = 'catchup-skip-2026-06-01T00:50:00Z'"),
            1);
  ScheduleDescription d = Describe("catchup-skip");
  EXPECT_EQ(d.missed_catchup_window, 49);
  EXPECT_EQ(d.overlap_skipped, 10);
  EXPECT_EQ(d.future_action_times[0], At("2026-06-01T01:01:00Z"));
}

TEST_F(ScheduleTest, TwoSchedulersRacingActOncePerDueTime) {
  ASSERT_TRUE(schedules_->Create(Every("race", "@every 1m", OverlapPolicy::kAllowAll)).ok());
  PgPool other_pool(testing::TestDatabaseUrl(), 4);
  PgPool other_schedule_pool(testing::TestDatabaseUrl(), 4);
  Client other_client(&other_pool, registry_.get());
  Schedules other(&other_schedule_pool, registry_.get(), &other_client,
                  [this] { return absl::FromUnixMicros(now_us_.load()); });
  std::atomic<int> started{0};
  for (int minute = 0; minute < 30; ++minute) {
    Advance(absl::Minutes(1));
    std::vector<std::thread> threads;
    for (Schedules* s : {schedules_.get(), &other, schedules_.get(), &other}) {
      threads.emplace_back([s, &started] {
        absl::StatusOr<int> n = s->RunDue();
        ASSERT_TRUE(n.ok()) << n.status();
        started += *n;
      });
    }
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(started.load(), 30);
  EXPECT_EQ(Runs("race"), 30);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT workflow_id) FROM vecsync.executions "
                     "WHERE workflow_id LIKE 'race-%'"),
            30);
  EXPECT_EQ(Describe("race").action_count, 30);
}

TEST_F(ScheduleTest, JitterDelaysEachActionDeterministicallyWithinItsBound) {
  ScheduleDefinition d = Every("jitter", "@hourly", OverlapPolicy::kAllowAll);
  d.jitter = absl::Minutes(30);
  ASSERT_TRUE(schedules_->Create(d).ok());
  const absl::Duration offset = ScheduleJitter("jitter", At("2026-06-01T01:00:00Z"), d.jitter);
  EXPECT_GE(offset, absl::ZeroDuration());
  EXPECT_LT(offset, absl::Minutes(30));
  EXPECT_EQ(Describe("jitter").future_action_times[0], At("2026-06-01T01:00:00Z") + offset);
  SetNow("2026-06-01T01:00:00Z");
  if (offset > absl::ZeroDuration()) {
    Advance(offset - absl::Milliseconds(1));
    EXPECT_EQ(RunDue(), 0) << "not before its jittered time";
    Advance(absl::Milliseconds(1));
  }
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(Describe("jitter").recent_actions[0].schedule_time,
            At("2026-06-01T01:00:00Z") + offset);
  // Different due times get different offsets (not one constant delay).
  std::set<int64_t> offsets;
  for (int h = 0; h < 24; ++h) {
    offsets.insert(absl::ToInt64Milliseconds(
        ScheduleJitter("jitter", At("2026-06-01T00:00:00Z") + absl::Hours(h), d.jitter)));
  }
  EXPECT_GT(offsets.size(), 20u);
}

TEST_F(ScheduleTest, JitterNeverReachesTheNextDueTime) {
  ScheduleDefinition d = Every("jitter-cap", "@every 1m", OverlapPolicy::kAllowAll);
  d.jitter = absl::Minutes(10);  // Larger than the interval.
  ASSERT_TRUE(schedules_->Create(d).ok());
  const std::vector<absl::Time> times = Describe("jitter-cap").future_action_times;
  ASSERT_EQ(times.size(), static_cast<size_t>(kFutureActionTimes));
  for (size_t i = 0; i < times.size(); ++i) {
    const absl::Time nominal = At("2026-06-01T00:01:00Z") + absl::Minutes(static_cast<int>(i));
    EXPECT_GE(times[i], nominal);
    EXPECT_LT(times[i], nominal + absl::Minutes(1)) << "jitter is capped at the interval";
  }
  Advance(absl::Minutes(10) + absl::Seconds(59));
  EXPECT_EQ(RunDue(), 10) << "one action per minute, none piled up behind a long jitter";
}

TEST_F(ScheduleTest, ConcurrentTriggersDoNotExhaustTheConnections) {
  // More callers than either pool has connections, all on one schedule row: each holds the row
  // lock on a schedule connection while starting its workflow on a client connection.
  ASSERT_TRUE(schedules_->Create(Every("crowd", "@daily", OverlapPolicy::kAllowAll)).ok());
  std::vector<std::thread> threads;
  std::atomic<int> started{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      auto r = schedules_->Trigger("crowd");
      if (r.ok() && r->started) ++started;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(started.load(), 16);
  EXPECT_EQ(Runs("crowd"), 16);
}

TEST_F(ScheduleTest, AScheduleWhoseSpecNoLongerParsesIsParkedNotRetriedForever) {
  ASSERT_TRUE(schedules_->Create(Every("broken", "@hourly")).ok());
  // As if the system lost a time zone the schedule was created with.
  Exec("UPDATE vecsync.schedules SET time_zone = 'Gone/Away' WHERE schedule_id = 'broken'");
  Advance(absl::Hours(1));
  EXPECT_EQ(RunDue(), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.schedules WHERE schedule_id = 'broken' "
                     "AND next_fire_time IS NULL AND notes LIKE 'parked by the scheduler:%'"),
            1);
  auto wait = schedules_->TimeUntilDue(absl::Seconds(1));
  ASSERT_TRUE(wait.ok());
  EXPECT_GT(*wait, absl::ZeroDuration()) << "nothing is due any more: no busy loop";
}

TEST_F(ScheduleTest, PausedSchedulesDoNotFireAndUnpausingDoesNotCatchUp) {
  ASSERT_TRUE(schedules_->Create(Every("pause", "@hourly", OverlapPolicy::kAllowAll)).ok());
  ASSERT_TRUE(schedules_->Pause("pause", "maintenance until noon").ok());
  ScheduleDescription d = Describe("pause");
  EXPECT_TRUE(d.definition.paused);
  EXPECT_EQ(d.definition.notes, "maintenance until noon");
  EXPECT_TRUE(d.future_action_times.empty());
  Advance(absl::Hours(5));
  EXPECT_EQ(RunDue(), 0);
  ASSERT_TRUE(schedules_->Unpause("pause", "back").ok());
  EXPECT_EQ(RunDue(), 0) << "the paused hours are not caught up";
  Advance(absl::Hours(1));
  EXPECT_EQ(RunDue(), 1);
  EXPECT_EQ(Describe("pause").definition.notes, "back");
}

TEST_F(ScheduleTest, TriggerActsNowEvenWhenPausedUnderTheOverlapPolicy) {
  ASSERT_TRUE(schedules_->Create(Every("trigger", "@daily")).ok());
  ASSERT_TRUE(schedules_->Pause("trigger", "manual only").ok());
  auto first = schedules_->Trigger("trigger");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->started);
  EXPECT_EQ(first->outcome, "started");
  // SKIP while that run is running…
  auto second = schedules_->Trigger("trigger");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->started);
  EXPECT_EQ(second->outcome, "skipped");
  // …unless the caller overrides the policy.
  auto third = schedules_->Trigger("trigger", OverlapPolicy::kAllowAll);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->started);
  EXPECT_NE(third->workflow_id, first->workflow_id);
  ScheduleDescription d = Describe("trigger");
  EXPECT_EQ(d.action_count, 2);
  EXPECT_TRUE(d.recent_actions.back().manual);
  EXPECT_EQ(schedules_->Trigger("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ScheduleTest, DaylightSavingTimeFollowsTheWallClock) {
  ScheduleDefinition d = Every("dst", "30 1 * * *", OverlapPolicy::kAllowAll);
  d.time_zone = "America/New_York";
  ASSERT_TRUE(schedules_->Create(d).ok());
  // Walk the clock across the fall-back night in one-hour steps: 01:30 happens twice.
  SetNow("2026-10-31T12:00:00Z");
  ASSERT_TRUE(schedules_->Update(d).ok());  // Recompute the next time from the new "now".
  for (int h = 0; h < 48; ++h) {
    Advance(absl::Hours(1));
    RunDue();
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.executions WHERE workflow_id IN ("
                     "'dst-2026-11-01T05:30:00Z', 'dst-2026-11-01T06:30:00Z', "
                     "'dst-2026-11-02T06:30:00Z')"),
            3);
  EXPECT_EQ(Runs("dst"), 3);
}

TEST_F(ScheduleTest, CrudAndValidation) {
  ScheduleDefinition d = Every("crud", "0 3 * * *");
  ASSERT_TRUE(schedules_->Create(d).ok());
  EXPECT_EQ(schedules_->Create(d).code(), absl::StatusCode::kAlreadyExists);
  ScheduleDescription before = Describe("crud");
  EXPECT_EQ(before.future_action_times[0], At("2026-06-01T03:00:00Z"));

  d.cron = "0 4 * * *";
  EXPECT_EQ(schedules_->Update(d, before.conflict_token + 7).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(schedules_->Update(d, before.conflict_token).ok());
  EXPECT_EQ(Describe("crud").future_action_times[0], At("2026-06-01T04:00:00Z"));

  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(schedules_->Create(Every("list-" + std::to_string(i), "@daily")).ok());
  }
  std::set<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    auto page = schedules_->List(2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& s : page->schedules) ids.insert(s.definition.schedule_id);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(pages, 3);

  ASSERT_TRUE(schedules_->Delete("crud").ok());
  EXPECT_EQ(schedules_->Delete("crud").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(schedules_->Describe("crud").status().code(), absl::StatusCode::kNotFound);

  const std::vector<std::pair<std::function<void(ScheduleDefinition&)>, const char*>> bad = {
      {[](auto& s) { s.schedule_id = ""; }, "schedule_id"},
      {[](auto& s) { s.schedule_id = "has space"; }, "schedule_id"},
      {[](auto& s) { s.schedule_id = std::string(300, 'x'); }, "schedule_id"},
      {[](auto& s) { s.cron = ""; }, "cron"},
      {[](auto& s) { s.cron = "61 * * * *"; }, "cron minute field"},
      {[](auto& s) { s.time_zone = "Atlantis/Central"; }, "time zone"},
      {[](auto& s) { s.jitter = absl::Seconds(-1); }, "jitter"},
      {[](auto& s) { s.jitter = absl::Hours(24 * 30); }, "jitter"},
      {[](auto& s) { s.catchup_window = absl::Seconds(5); }, "catchup_window"},
      {[](auto& s) { s.workflow_type = ""; }, "workflow_type"},
      {[](auto& s) { s.workflow_type = "no-such-type"; }, "no-such-type"},
      {[](auto& s) { s.input = Json::array(); }, "input"},
      {[](auto& s) { s.execution_timeout = absl::Seconds(-3); }, "execution_timeout"},
      {[](auto& s) { s.notes = std::string(5000, 'n'); }, "notes"},
  };
  for (const auto& [edit, field] : bad) {
    ScheduleDefinition s = Every("valid-id", "@daily");
    edit(s);
    absl::Status status = schedules_->Create(s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field << ": " << status;
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  }
  EXPECT_EQ(ParseOverlapPolicy("sometimes").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseOverlapPolicy("buffer_one"), OverlapPolicy::kBufferOne);
}

TEST_F(ScheduleTest, TheSchedulerLoopActsOnTheRealClock) {
  schedules_ = std::make_unique<Schedules>(schedule_pool_.get(), registry_.get(), client_.get());
  ASSERT_TRUE(schedules_->Create(Every("loop", "@every 1s", OverlapPolicy::kAllowAll)).ok());
  Scheduler scheduler(schedules_.get(), absl::Milliseconds(200));
  scheduler.Start();
  EXPECT_TRUE(testing::WaitUntil([&] { return Runs("loop") >= 2; }, absl::Seconds(10)));
  scheduler.Shutdown();
  const int64_t after_shutdown = Runs("loop");
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(Runs("loop"), after_shutdown) << "nothing fires after shutdown";
}

}  // namespace
}  // namespace vecsync::engine
