// sync-entity-vectors, the workflow: what a run leaves in ClickHouse, how it overlaps, checkpoints
// and resumes, how it sizes batches and what input it refuses.
#include "absl/strings/str_cat.h"
#include "tests/sync/sync_fixture.h"

namespace vecsync::workflows {
namespace {

TEST_F(SyncTest, ClickHouseHoldsExactlyTheLiveApprovedEntitiesAndTombstones) {
  Json first =
      Sync({{"domain", "action"}, {"summarize_batch_size", 16}, {"insert_batch_size", 50}});
  const auto live = LiveKeys("posthog_action", "s.deleted");
  ASSERT_FALSE(live.empty());
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(first["inserted"], live.size());
  EXPECT_TRUE(ClickHouseKeys("action", 1).empty()) << "never-synced deleted rows need no tombstone";

  Exec(
      "UPDATE posthog_action SET deleted = true, updated_at = now() "
      "WHERE id IN (SELECT id FROM posthog_action WHERE NOT deleted AND team_id <= 8 "
      "ORDER BY id LIMIT 3)");
  const int summarized_before = summarizer_.items;
  Json second = Sync({{"domain", "action"}});
  EXPECT_EQ(second["tombstoned"], 3);
  EXPECT_EQ(summarizer_.items, summarized_before) << "tombstones need no LLM call";
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
  EXPECT_EQ(ClickHouseKeys("action", 1).size(), 3u);
}

TEST_F(SyncTest, ClickHouseInsertsOverlapTheProcessingOfLaterBatches) {
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"},
                                         {"summarize_batch_size", 8},
                                         {"max_parallel_requests", 2},
                                         {"insert_batch_size", 20}});
  ExecutionInfo e = WaitClosed(run, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
  // sync-process activities scheduled while a sync-flush was open: the workflow went on
  // summarizing and embedding instead of waiting for ClickHouse.
  const int64_t overlapping = ScheduledWhileOpen(run.run_id, "sync-flush", "sync-process");
  EXPECT_GT(overlapping, 0);
  EXPECT_GT(e.result["inserted"].get<int64_t>(), 100);
}

TEST_F(SyncTest, ALongRunCheckpointsBesideItsFlushesAndResumesFromTheCheckpoint) {
  // 42 pages of 100 keys: the run checkpoints after 20 and 40, while flushes of 50 come and go.
  Exec(
      "INSERT INTO posthog_action (team_id, name, description, steps_json, created_at, "
      "updated_at) SELECT 1 + g % 8, 'bulk action ' || g, 'one of many', "
      "'[{\"event\": \"$pageview\"}]'::jsonb, now(), now() FROM generate_series(1, 4000) g");
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"},
                                         {"summarize_batch_size", 5},
                                         {"max_parallel_requests", 10},
                                         {"insert_batch_size", 50}});
  // Checkpointed, and a flush started after the checkpoint.
  const std::string checkpointed =
      "SELECT count(*) FROM vecsync.executions e JOIN vecsync.steps s USING (run_id) "
      "WHERE e.run_id = '" +
      run.run_id +
      "' AND e.checkpoint_seq > 0 AND s.seq >= e.checkpoint_seq "
      "AND s.name = 'sync-flush'";
  ASSERT_TRUE(testing::WaitUntil([&] { return QueryInt(checkpointed) > 0; }, absl::Seconds(60)));
  // Another worker takes the run over and replays it from the checkpoint: it must issue the
  // same commands (a flush where the run started one), or the run fails as nondeterministic.
  worker_->Shutdown();
  worker_ = StartWorker();
  ExecutionInfo e = WaitClosed(run, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(worker_->stats().runs_reclaimed, 1);
  EXPECT_GT(
      QueryInt("SELECT checkpoint_seq FROM vecsync.executions WHERE run_id = '" + run.run_id + "'"),
      0)
      << "the run never checkpointed";
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(e.result["inserted"], live.size());
  EXPECT_EQ(e.result["embedded"], live.size());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
}

TEST_F(SyncTest, RowsQueuedBehindACheckpointAtTheEndAreFlushedTwoAtATime) {
  // 20 pages of 100 keys after the retry phase's one: the run would checkpoint after its 20th
  // page, and holds its flushes until the ones in flight end (slow ones here) to do so; but the
  // 20th page is its last. What queued behind the hold goes out two flushes at a time, not one
  // after another.
  const int64_t approved = QueryInt(
      "SELECT count(*) FROM posthog_action s JOIN posthog_team t ON t.id = s.team_id "
      "JOIN posthog_organization o ON o.id = t.organization_id "
      "WHERE o.is_ai_data_processing_approved");
  ASSERT_LT(approved, 1950);
  Exec(absl::StrCat(
      "INSERT INTO posthog_action (team_id, name, description, steps_json, created_at, "
      "updated_at) SELECT (SELECT min(t.id) FROM posthog_team t JOIN posthog_organization o "
      "  ON o.id = t.organization_id WHERE o.is_ai_data_processing_approved), "
      "'bulk action ' || g, 'one of many', '[{\"event\": \"$pageview\"}]'::jsonb, now(), now() "
      "FROM generate_series(1, ",
      1950 - approved, ") g"));
  embedder_.delay = absl::Milliseconds(200);
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"},
                                         {"summarize_batch_size", 10},
                                         {"max_parallel_requests", 5},
                                         {"insert_batch_size", 50}});
  ExecutionInfo e = WaitClosed(run, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  // The run ended holding its flushes for a checkpoint it never took.
  ASSERT_EQ(QueryInt("SELECT count(*) FROM vecsync.steps WHERE run_id = '" + run.run_id +
                     "' AND name = 'sync-select'"),
            21);
  ASSERT_EQ(
      QueryInt("SELECT checkpoint_seq FROM vecsync.executions WHERE run_id = '" + run.run_id + "'"),
      0);
  EXPECT_GT(ScheduledWhileOpen(run.run_id, "sync-flush", "sync-flush", "sync-select"), 0);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(e.result["inserted"], live.size());
  EXPECT_EQ(e.result["embedded"], live.size());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
}

TEST_F(SyncTest, TheLastShortInsertGoesOutBesideTheFlushesStillRunningNotAfterThem) {
  const auto live = LiveKeys("posthog_action", "s.deleted");
  const int insert = live.size() % 50 != 0 ? 50 : 49;  // The run must end with a short insert.
  embedder_.delay = absl::Milliseconds(100);
  const ExecutionInfo e =
      RunSync({{"domain", "action"}, {"summarize_batch_size", 10}, {"insert_batch_size", insert}});
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(e.result["inserted"], live.size());
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  // The final flush, which takes what ended runs left, found none of the run's own rows.
  EXPECT_EQ(QueryInt("SELECT (result->>'inserted')::bigint FROM vecsync.steps WHERE run_id = '" +
                     e.run_id + "' AND name = 'sync-flush' ORDER BY seq DESC LIMIT 1"),
            0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
}

TEST_F(SyncTest, ALocalSummarizerTakesLargerBatchesUnlessTheInputSizesThem) {
  auto processes = [&](const ExecutionInfo& run) {
    return QueryInt("SELECT count(*) FROM vecsync.history WHERE run_id = '" + run.run_id +
                    "' AND event_type = 'ActivityTaskScheduled' "
                    "AND attributes->>'activity_type' = 'sync-process'");
  };
  auto batches = [](const ExecutionInfo& run, int size) {
    return (run.result["selected"].get<int64_t>() + size - 1) / size;
  };
  summarizer_.is_local = true;
  const ExecutionInfo local = RunSync({{"domain", "action"}});
  ASSERT_EQ(local.status, WorkflowStatus::kCompleted) << local.failure.dump();
  ASSERT_GT(local.result["selected"].get<int>(), 2 * 96);
  EXPECT_EQ(processes(local), 1);
  const ExecutionInfo sized = RunSync({{"domain", "cohort"}, {"summarize_batch_size", 16}});
  ASSERT_EQ(sized.status, WorkflowStatus::kCompleted) << sized.failure.dump();
  ASSERT_GT(sized.result["selected"].get<int>(), 16);
  EXPECT_EQ(processes(sized), batches(sized, 16));
  // A provider's batches are PostHog's 96.
  summarizer_.is_local = false;
  Exec("UPDATE posthog_action SET updated_at = now()");
  const ExecutionInfo provider = RunSync({{"domain", "action"}});
  ASSERT_EQ(provider.status, WorkflowStatus::kCompleted) << provider.failure.dump();
  EXPECT_EQ(provider.result["selected"], local.result["selected"]);
  EXPECT_EQ(processes(provider), batches(provider, 96));
}

TEST_F(SyncTest, AnOlderEmbeddingVersionIsRefusedBeforeAnyProviderCall) {
  Sync({{"domain", "action"}, {"embedding_version", 2}});
  Exec("UPDATE posthog_action SET name = name || ' (renamed)', updated_at = now() WHERE id = 7");
  const int summarized = summarizer_.items, embedded = embedder_.items;
  // Refused when it is started, with the reason: no run is made (a schedule's start fails
  // the same way, visibly, instead of a run failing later).
  engine::StartWorkflowRequest req;
  req.workflow_type = kSyncEntityVectorsWorkflow;
  req.input = {{"domain", "action"}, {"embedding_version", 1}};
  const absl::Status refused = client_->StartWorkflow(req).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("embedding_version 1 is older than version 2"),
            absl::string_view::npos)
      << refused;
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded);
  // Other domains, and the same version or a newer one, still sync.
  EXPECT_EQ(RunSync({{"domain", "cohort"}, {"embedding_version", 1}}).status,
            WorkflowStatus::kCompleted);
  EXPECT_EQ(Sync({{"domain", "action"}, {"embedding_version", 2}})["summarized"], 1);
}

TEST_F(SyncTest, BadInputIsRejectedAtStartWithTheFieldNamed) {
  auto start = [&](Json input) {
    engine::StartWorkflowRequest req;
    req.workflow_type = kSyncEntityVectorsWorkflow;
    req.input = std::move(input);
    return client_->StartWorkflow(req).status();
  };
  absl::Status s = start({{"domain", "notebook"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("action, cohort, event_definition"), absl::string_view::npos) << s;
  s = start({{"domain", "action"}, {"summarize_batch_size", 0}});
  EXPECT_NE(s.message().find("summarize_batch_size"), absl::string_view::npos) << s;
  s = start({{"domain", "action"}, {"max_paralel_requests", 5}});
  EXPECT_NE(s.message().find("max_paralel_requests"), absl::string_view::npos) << s;
  s = start({{"domain", "action"}, {"start_dt", "yesterday"}});
  EXPECT_NE(s.message().find("start_dt"), absl::string_view::npos) << s;
  // A start_dt in the future would move the watermark past edits not made yet.
  s = start({{"domain", "action"}, {"start_dt", "2099-01-01T00:00:00Z"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("in the future"), absl::string_view::npos) << s;
  EXPECT_TRUE(start({{"domain", "action"}, {"start_dt", "2020-01-01T00:00:00Z"}}).ok());
  s = start(Json::object());
  EXPECT_NE(s.message().find("domain"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace vecsync::workflows
