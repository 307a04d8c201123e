// Leases and fencing at the store level: a holder whose lease was taken over cannot commit.
#include "src/engine/store.h"
#include "tests/engine_fixture.h"

namespace vecsync::engine {
namespace {

using ::vecsync::testing::EngineTest;

class StoreFencingTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    store_a_ = std::make_unique<Store>(pool_.get(), "worker-a");
    store_b_ = std::make_unique<Store>(pool_.get(), "worker-b");
  }
  std::unique_ptr<Store> store_a_, store_b_;
};

TEST_F(StoreFencingTest, ExpiredRunLeaseIsTakenOverAndTheOldHolderIsFenced) {
  auto started = Start("sequence", {{"count", 1}});
  auto a = store_a_->ClaimRuns({"sequence"}, 10, absl::Seconds(30));
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  // A live lease cannot be claimed.
  EXPECT_TRUE(store_b_->ClaimRuns({"sequence"}, 10, absl::Seconds(30)).value().empty());

  Exec("UPDATE vecsync.executions SET lease_expires_at = now() - interval '1 second'");
  auto b = store_b_->ClaimRuns({"sequence"}, 10, absl::Seconds(30));
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_TRUE((*b)[0].reclaimed);
  EXPECT_EQ((*b)[0].generation, (*a)[0].generation + 1);

  CommandBatch batch;
  NewStep step;
  step.seq = 0;
  step.kind = "marker";
  step.name = "m";
  step.payload = 1;
  batch.new_steps.push_back(step);
  absl::Status stale =
      store_a_->CommitCommands(started.run_id, (*a)[0].generation, started.workflow_id, batch);
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.steps"), 0);
  EXPECT_TRUE(
      store_b_->CommitCommands(started.run_id, (*b)[0].generation, started.workflow_id, batch)
          .ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.steps"), 1);
  // The old holder can neither close the run nor renew its lease.
  EXPECT_FALSE(
      store_a_
          ->CloseRun(started.run_id, (*a)[0].generation, WorkflowStatus::kCompleted, Json(), Json())
          .value());
  EXPECT_TRUE(store_a_->RenewRuns({{started.run_id, -1, (*a)[0].generation}}, absl::Seconds(5))
                  .value()
                  .empty());
}

TEST_F(StoreFencingTest, ActivityOfADeadWorkerIsRetriedAndItsLateResultRejected) {
  auto started = Start("sequence", {{"count", 1}});
  auto run = store_a_->ClaimRuns({"sequence"}, 1, absl::Seconds(30)).value();
  ASSERT_EQ(run.size(), 1u);
  CommandBatch batch;
  NewStep step;
  step.seq = 0;
  step.kind = "activity";
  step.name = "record";
  ActivityOptions options;
  options.start_to_close_timeout = absl::Seconds(60);
  options.retry_policy.initial_interval = absl::Milliseconds(1);
  step.options = options.ToJson();
  step.payload = Json::object();
  batch.new_steps.push_back(step);
  ASSERT_TRUE(
      store_a_->CommitCommands(started.run_id, run[0].generation, started.workflow_id, batch).ok());

  auto first = store_a_->ClaimActivities({"record"}, 10, absl::Seconds(30)).value();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].attempt, 1);
  // Worker A stops renewing; its lease expires and the sweeper gives the activity back.
  Exec(
      "UPDATE vecsync.steps SET lease_expires_at = now() - interval '1 second', "
      "timeout_at = now() - interval '1 second'");
  EXPECT_EQ(store_b_->SweepTimeouts(10).value(), 1);
  absl::SleepFor(absl::Milliseconds(20));
  auto second = store_b_->ClaimActivities({"record"}, 10, absl::Seconds(30)).value();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt, 2);
  EXPECT_EQ(second[0].generation, first[0].generation + 1);
  EXPECT_EQ(second[0].heartbeat_details, Json());

  // A's late result is rejected; B's is accepted.
  auto late = store_a_->CompleteActivities({{started.run_id, 0, first[0].generation, 1}});
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->empty());
  EXPECT_EQ(store_a_->Heartbeat({started.run_id, 0, first[0].generation}, Json(), absl::Seconds(5))
                .status()
                .code(),
            absl::StatusCode::kAborted);
  auto accepted = store_b_->CompleteActivities({{started.run_id, 0, second[0].generation, 2}});
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(accepted->size(), 1u);
  EXPECT_EQ(QueryInt("SELECT (result::text)::int FROM vecsync.steps"), 2);
  auto history = client_->GetHistory({started.workflow_id, ""}, 100, "").value();
  EXPECT_EQ(history.events.back().event_type, "ActivityTaskCompleted");
}

}  // namespace
}  // namespace vecsync::engine
