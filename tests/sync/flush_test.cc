// sync-entity-vectors, sync-flush: embedding, inserting and recording queued rows, in parallel, in
// order, under provider faults and retries.
#include "workflows/sync/flush.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "tests/sync/sync_fixture.h"
#include "tests/test_env.h"
#include "workflows/sync/queued_rows.h"

namespace vecsync::workflows {
namespace {

TEST_F(SyncTest, FlushesEmbedInParallelTakeDisjointRowsAndNoVectorPassesThroughPostgres) {
  // Every batch written to the hand-off table, as the sync writes it.
  Exec(
      "CREATE TABLE vecsync.batches_seen (body bytea); "
      "CREATE FUNCTION vecsync.note_batch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "  INSERT INTO vecsync.batches_seen VALUES (NEW.body); RETURN NEW; END $$; "
      "CREATE TRIGGER note_batch BEFORE INSERT OR UPDATE OF body ON vecsync.pending_batches "
      "  FOR EACH ROW EXECUTE FUNCTION vecsync.note_batch()");
  embedder_.delay = absl::Milliseconds(20);
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"},
                                         {"embed_batch_size", 4},
                                         {"max_parallel_requests", 4},
                                         {"insert_batch_size", 50}});
  ExecutionInfo e = WaitClosed(run, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(e.result["embedded"], live.size());
  // Flushes ran two at a time, and each row went with exactly one of them.
  EXPECT_EQ(e.result["inserted"], live.size());
  EXPECT_EQ(embedder_.items, static_cast<int>(live.size()));
  const int64_t concurrent_flushes = ScheduledWhileOpen(run.run_id, "sync-flush", "sync-flush");
  EXPECT_GT(concurrent_flushes, 0);
  // Two flushes that ran at the same time both inserted rows: the second did not find the
  // first one's batches and give up.
  EXPECT_GT(QueryInt("SELECT count(*) FROM vecsync.steps a JOIN vecsync.steps b "
                     "  ON b.run_id = a.run_id AND b.seq > a.seq "
                     "WHERE a.run_id = '" +
                     run.run_id +
                     "' AND a.name = 'sync-flush' AND b.name = 'sync-flush' "
                     "  AND (a.result->>'inserted')::int > 0 "
                     "  AND (b.result->>'inserted')::int > 0 "
                     "  AND a.started_at < b.closed_at AND b.started_at < a.closed_at"),
            0);
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto bodies = (*conn)->QueryBinary("SELECT body FROM vecsync.batches_seen");
  ASSERT_TRUE(bodies.ok()) << bodies.status();
  size_t queued = 0, with_vectors = 0;
  for (int i = 0; i < bodies->rows(); ++i) {
    auto rows = DecodeQueuedRows(bodies->Get(i, 0));
    ASSERT_TRUE(rows.ok()) << rows.status();
    queued += rows->size();
    for (const QueuedRow& row : *rows) with_vectors += row.vector.has_value() ? 1 : 0;
  }
  EXPECT_EQ(queued, live.size());
  EXPECT_EQ(with_vectors, 0u) << "vectors go from the embedder straight into the ClickHouse insert";
  // Requests overlap within a flush (two flushes alone would make at most two), up to
  // max_parallel_requests in each of the two.
  EXPECT_GT(embedder_.max_in_flight, 2);
  EXPECT_LE(embedder_.max_in_flight, 8);
}

TEST_F(SyncTest, InsertsReachClickHouseSortedByItsKey) {
  // Every other embedding request is slow, so requests return out of key order.
  embedder_.delay = absl::Milliseconds(30);
  embedder_.slow_odd_calls = true;
  const std::string sorted_blocks =
      "SELECT sum(value) FROM system.events WHERE event = 'MergeTreeDataWriterBlocksAlreadySorted'";
  auto before = clickhouse_->Query(sorted_blocks);
  ASSERT_TRUE(before.ok()) << before.status();
  ExecutionInfo e = RunSync({{"domain", "action"},
                             {"embed_batch_size", 4},
                             {"max_parallel_requests", 4},
                             {"insert_batch_size", 50}});
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
  const int64_t inserts =
      QueryInt("SELECT count(*) FROM vecsync.steps WHERE run_id = '" + e.run_id +
               "' AND name = 'sync-flush' AND (result->>'inserted')::int > 0");
  ASSERT_GT(inserts, 1);
  // ClickHouse counts, server-wide, the insert blocks it found sorted and did not sort: each of
  // the run's inserts is one. (Tests running beside this one can only add to the count.)
  auto after = clickhouse_->Query(sorted_blocks);
  ASSERT_TRUE(after.ok()) << after.status();
  int64_t sorted_before = 0, sorted_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*before), &sorted_before));
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*after), &sorted_after));
  EXPECT_GE(sorted_after - sorted_before, inserts);
}

TEST_F(SyncTest, AFlushWaitingOnASlowProviderKeepsHeartbeating) {
  // One flush, one embedding request that takes a second: the flush heartbeats from a thread
  // of its own meanwhile, so a slow provider is not taken for a dead attempt.
  env_.keep_alive_interval = absl::Milliseconds(50);
  embedder_.delay = absl::Seconds(1);
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"}, {"embed_batch_size", 2048}});
  // The heartbeat deadlines a running flush attempt wrote, as seen every 20 ms.
  std::set<int64_t> deadlines;
  const std::string running = "SELECT count(*) FROM vecsync.executions WHERE run_id = '" +
                              run.run_id + "' AND status = 'RUNNING'";
  for (const absl::Time give_up = absl::Now() + absl::Seconds(60);
       QueryInt(running) == 1 && absl::Now() < give_up;) {
    const int64_t deadline = QueryInt(
        "SELECT COALESCE(max((EXTRACT(EPOCH FROM heartbeat_deadline) * 1000000)::bigint), 0) "
        "FROM vecsync.steps WHERE run_id = '" +
        run.run_id + "' AND name = 'sync-flush' AND status = 'STARTED'");
    if (deadline != 0) deadlines.insert(deadline);
    absl::SleepFor(absl::Milliseconds(20));
  }
  ExecutionInfo e = WaitClosed(run, absl::Seconds(10));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(embedder_.requests, 1);
  // Without the keep-alive thread: the deadline set when the attempt started, and at most one
  // more after the insert.
  EXPECT_GE(deadlines.size(), 5u) << "the flush went quiet while the provider was slow";
}

TEST_F(SyncTest, AnItemTheEmbedderRejectsFailsAloneAndAnOutageIsRetried) {
  // The embedder rejects any request holding action 7's summary (its name ends in "#7").
  embedder_.fail_marker = "#7.";
  embedder_.unavailable_once = true;
  Json first = Sync({{"domain", "action"}, {"embed_batch_size", 32}});
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(first["failed"], 1);
  EXPECT_EQ(first["embedded"], live.size() - 1);
  EXPECT_EQ(ClickHouseKeys("action", 0).size(), live.size() - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '7' AND failures = 1 "
                     "AND last_error = 'the input was rejected' AND synced_at IS NULL"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
  EXPECT_EQ(QueryInt("SELECT max(attempt) FROM vecsync.steps WHERE name = 'sync-flush'"), 2)
      << "the outage failed the flush's first attempt, and the second did the work";

  embedder_.fail_marker.clear();
  const int summarized = summarizer_.items;
  Json retried = Sync({{"domain", "action"}});
  EXPECT_EQ(retried["embedded"], 1);
  EXPECT_EQ(summarizer_.items, summarized) << "its summary was kept";
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures > 0"), 0);
}

TEST_F(SyncTest, AFinalFlushThatFailsMidwayIsRetriedBatchByBatchAndCountsEveryRow) {
  // A run that fails (a refused key) leaves every entity queued; the next run, restricted to one
  // entity, finds them all for its final flushes: one queued batch (96 rows, two requests of 50)
  // per flush, as insert_batch_size 50 allows no more. Its third request finds the provider down.
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  ASSERT_GT(live.size(), 150u);
  ASSERT_EQ(QueryInt("SELECT count(*) FROM posthog_action WHERE id = 1 AND NOT deleted"), 1);
  embedder_.unavailable_at_request = embedder_.requests + 3;
  ExecutionInfo e = RunSync({{"domain", "action"},
                             {"entity_ids", {"1"}},
                             {"embed_batch_size", 50},
                             {"insert_batch_size", 50}});
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(e.result["inserted"], live.size()) << "every batch the failed flush committed counts";
  // The run selected one entity; the rest the failed run queued are carried over, apart.
  EXPECT_EQ(e.result["selected"], 1);
  EXPECT_EQ(e.result["embedded"], 1);
  EXPECT_EQ(e.result["carried_over"], live.size() - 1);
  EXPECT_EQ(e.progress["done"], e.progress["total"]) << e.progress.dump();
  EXPECT_EQ(e.progress["total"], live.size());
  EXPECT_EQ(QueryInt("SELECT max(attempt) FROM vecsync.steps WHERE name = 'sync-flush'"), 2);
}

TEST_F(SyncTest, ARetriedFlushWhoseAttemptCommittedReturnsItsCountsAndTakesNoOtherBatch) {
  const engine::StartWorkflowResult run =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"}, {"insert_batch_size", 50}});
  ExecutionInfo e = WaitClosed(run, absl::Seconds(120));
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto step = (*conn)->Query(
      "SELECT seq, input::text, result::text FROM vecsync.steps WHERE run_id = '" + run.run_id +
      "' AND name = 'sync-flush' AND status = 'COMPLETED' "
      "AND (result->>'inserted')::int > 0 ORDER BY seq LIMIT 1");
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_EQ(step->rows(), 1);
  // A batch another flush of the run would take, were the retry to flush again.
  Exec(
      "INSERT INTO vecsync.pending_batches (domain, queued_by, row_count, body) "
      "SELECT 'action', '" +
      run.run_id + "', 0, '\\x01'::bytea");
  engine::ActivityInfo info;
  info.run_id = run.run_id;
  info.seq = step->GetInt64(0, 0);
  info.activity_type = "sync-flush";
  info.attempt = 2;
  DirectActivityContext retry(info);
  absl::StatusOr<Json> retried =
      (*registry_->FindActivity("sync-flush"))(retry, Json::parse(step->GetString(0, 1)));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, Json::parse(step->GetString(0, 2)));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 1);
}

TEST_F(SyncTest, AFinalFlushCarriesOverTheBatchesOfEndedRunsOnlyNotOfRunningOnes) {
  // Action 1 waits in two batches: one of a run that still runs (it flushes its own), one of a
  // run that ended without flushing it.
  const engine::StartWorkflowResult running = Start("sleeper", {{"ms", 60000}});
  QueuedRow row;
  row.team_id = QueryInt("SELECT team_id FROM posthog_action WHERE id = 1");
  row.id = "1";
  row.text = "queued by another run";
  row.properties = "{}";
  row.embedding_version = 1;
  row.row_version = 1;
  row.vector_hash = "0";
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  for (const std::string& run :
       {running.run_id, std::string("00000000-0000-0000-0000-000000000001")}) {
    ASSERT_TRUE((*conn)
                    ->Query("INSERT INTO vecsync.pending_batches (domain, queued_by, row_count, "
                            "body) VALUES ('action', $1::uuid, 1, $2)",
                            run, PgParam::Binary(EncodeQueuedRows({row})))
                    .ok());
  }
  Json e = Sync({{"domain", "action"}, {"entity_ids", {"2"}}});
  EXPECT_EQ(e["carried_over"], 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches WHERE queued_by = '" +
                     running.run_id + "'"),
            1)
      << "a run still running flushes its own batches";
}

TEST_F(SyncTest, ARefusedKeyFailsTheRunWithoutFailingAnItemOrLosingOne) {
  ExecutionInfo e = SyncWithARefusedKey();
  ASSERT_EQ(e.status, WorkflowStatus::kFailed);
  EXPECT_NE(e.failure.dump().find("invalid api key"), std::string::npos) << e.failure.dump();
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures > 0"), 0)
      << "the key is at fault, not the entities";
  EXPECT_EQ(QueryInt("SELECT sum(row_count) FROM vecsync.pending_batches"),
            static_cast<int64_t>(live.size()));

  const int summarized = summarizer_.items, embedded = embedder_.items;
  Json next = Sync({{"domain", "action"}});
  EXPECT_EQ(next["embedded"], live.size());
  EXPECT_EQ(next["carried_over"], 0) << "this run selected, and queued again, every entity";
  EXPECT_EQ(embedder_.items - embedded, static_cast<int>(live.size()))
      << "an entity the failed run left queued, and this run queued again, is embedded once";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
  EXPECT_EQ(summarizer_.items, summarized) << "the summaries were recorded as they arrived";
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
}

TEST_F(SyncTest, TwoFlushesInsertIntoClickHouseAtOnce) {
  // Every insert into the run's table takes a second (a view behind it sleeps once per block),
  // and a watcher with a client of its own counts the inserts ClickHouse runs at once.
  ASSERT_TRUE(clickhouse_->Execute("DROP TABLE IF EXISTS " + table_ + "_slow").ok());
  ASSERT_TRUE(vectors_->CreateIfMissing().ok());
  ASSERT_TRUE(clickhouse_
                  ->Execute("CREATE MATERIALIZED VIEW " + table_ +
                            "_slow ENGINE = Null AS SELECT sleep(1) AS s FROM " + table_)
                  .ok());
  auto watcher = clients::ClickHouseClient::Create(std::getenv("VECSYNC_CLICKHOUSE_URL"));
  ASSERT_TRUE(watcher.ok());
  std::atomic<bool> done{false};
  int64_t most = 0;
  std::thread watch([&] {
    while (!done) {
      auto n = (*watcher)->Query(
          "SELECT count() FROM system.processes WHERE query LIKE "
          "'INSERT INTO " +
          table_ + " %'");
      int64_t running = 0;
      if (n.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*n), &running)) {
        most = std::max(most, running);
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  const ExecutionInfo e =
      RunSync({{"domain", "action"}, {"summarize_batch_size", 25}, {"insert_batch_size", 50}});
  done = true;
  watch.join();
  (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + table_ + "_slow");
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
  EXPECT_EQ(most, 2) << "the flushes' inserts waited for one another";
}

TEST_F(SyncTest, AMinuteOnASlowProviderHoldsNoTransactionOpenForMoreThanAFewSeconds) {
  // The flush's embeddings request takes a minute. A watcher on a connection of its own samples
  // how long the oldest open transaction of vecsync's sessions has been open.
  embedder_.delay = absl::Seconds(60);
  auto watcher = PgConnection::Connect(testing::TestDatabaseUrl());
  ASSERT_TRUE(watcher.ok());
  std::atomic<bool> done{false};
  double longest = 0;
  std::thread watch([&] {
    while (!done) {
      auto r = (*watcher)->Query(
          "SELECT COALESCE(max(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0)::float8 "
          "FROM pg_stat_activity WHERE datname = current_database() "
          "AND application_name = 'vecsync' AND pid <> pg_backend_pid() "
          "AND xact_start IS NOT NULL");
      if (r.ok()) longest = std::max(longest, r->GetDouble(0, 0));
      absl::SleepFor(absl::Milliseconds(250));
    }
  });
  const absl::Time start = absl::Now();
  const ExecutionInfo e = RunSync({{"domain", "action"}, {"entity_ids", {"1", "2", "3"}}});
  const absl::Duration took = absl::Now() - start;
  done = true;
  watch.join();
  ASSERT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
  EXPECT_GE(took, absl::Seconds(60)) << "the provider was not slow after all";
  EXPECT_GT(e.result["inserted"].get<int>(), 0);
  EXPECT_LT(longest, 5.0) << "a transaction stayed open while the provider was waited on";
}

TEST_F(SyncTest, BatchesLeasedByAnotherFlushAreLeftToItUntilTheLeaseExpires) {
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);  // Leaves its batches.
  const std::string pending = "SELECT count(*) FROM vecsync.pending_batches";
  const int64_t queued = QueryInt(pending);
  ASSERT_GT(queued, 0);
  // A flush of another run leased them and died; its lease runs for an hour more.
  Exec(
      "UPDATE vecsync.pending_batches SET leased_by = 'another-run/7', "
      "lease_expires_at = now() + interval '1 hour'");
  const Json next = Sync({{"domain", "action"}});
  EXPECT_EQ(next["carried_over"], 0);
  EXPECT_EQ(QueryInt(pending), queued) << "a flush took batches another holds a lease on";
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
  // Once the lease expires, the next run's final flush takes them (and finds them synced).
  Exec("UPDATE vecsync.pending_batches SET lease_expires_at = now() - interval '1 second'");
  Sync({{"domain", "action"}});
  EXPECT_EQ(QueryInt(pending), 0);
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

TEST_F(SyncTest, ARetryOfAFlushStepTakesOverWhatItsDeadAttemptLeasedAtOnce) {
  const ExecutionInfo failed = SyncWithARefusedKey();
  ASSERT_EQ(failed.status, WorkflowStatus::kFailed);
  const int64_t rows = QueryInt("SELECT sum(row_count) FROM vecsync.pending_batches");
  ASSERT_GT(rows, 0);
  // Step 999 of the failed run leased every batch and died after its insert.
  Exec("UPDATE vecsync.pending_batches SET leased_by = '" + failed.run_id +
       "/999', lease_expires_at = now() + interval '1 hour'");
  FlushInput in;
  in.domain = "action";
  in.insert_batch_size = 100000;
  const engine::ActivityFunction* flush = registry_->FindActivity("sync-flush");
  ASSERT_NE(flush, nullptr);
  engine::ActivityInfo info;
  info.run_id = failed.run_id;
  info.activity_type = "sync-flush";
  // Another step of the run finds nothing it may take.
  info.seq = 998;
  DirectActivityContext other(info);
  absl::StatusOr<Json> none = (*flush)(other, in.ToJson());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ((*none)["inserted"], 0);
  // The step's retry takes its batches over at once.
  info.seq = 999;
  info.attempt = 2;
  DirectActivityContext retry(info);
  absl::StatusOr<Json> retried = (*flush)(retry, in.ToJson());
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ((*retried)["inserted"], rows);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

}  // namespace
}  // namespace vecsync::workflows
