// sync-entity-vectors end to end: seeded PostHog-shaped tables in the real PostgreSQL, the
// workflow on a real worker, vectors in the real ClickHouse.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "entities/sample_data.h"
#include "src/api/api_server.h"
#include "src/api/search_service.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/openai_client.h"
#include "src/clients/summarizer.h"
#include "src/clients/vector_search.h"
#include "tests/engine_fixture.h"
#include "tests/fake_provider.h"
#include "workflows/failed_entities.h"
#include "workflows/queued_rows.h"
#include "workflows/sync_entity_vectors.h"

namespace vecsync::workflows {
namespace {

using engine::ExecutionInfo;
using engine::WorkflowStatus;

// Counts what reaches the provider; fails entities whose input contains `fail_marker`.
class CountingSummarizer : public clients::Summarizer {
 public:
  std::string version() const override { return inner_.version(); }
  bool local() const override { return is_local; }
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      const std::vector<std::string>& inputs) override {
    items += static_cast<int>(inputs.size());
    // Items are paid for one by one; once, the provider goes away after `fail_once_after`.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (paid == fail_once_after && !failed.exchange(true)) {
        return absl::UnavailableError("the provider went away");
      }
      ++paid;
    }
    auto out = inner_.Summarize(inputs);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!fail_marker.empty() && inputs[i].find(fail_marker) != std::string::npos) {
        (*out)[i] = absl::InternalError("the model refused");
      }
    }
    return out;
  }
  std::atomic<int> items{0};
  std::atomic<int> paid{0};
  int fail_once_after = -1;
  std::atomic<bool> failed{false};
  std::string fail_marker;
  bool is_local = false;  // Runs in-process, like the template summarizer, or is a provider.

 private:
  clients::TemplateSummarizer inner_;
};

class CountingEmbedder : public clients::Embedder {
 public:
  CountingEmbedder() : inner_(std::move(clients::HashingEmbedder::Create(64).value())) {}
  std::string model() const override { return inner_->model(); }
  int dimensions() const override { return inner_->dimensions(); }
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    const int now = ++in_flight;
    for (int seen = max_in_flight; now > seen && !max_in_flight.compare_exchange_weak(seen, now);) {
    }
    if (!slow_odd_calls || ++calls % 2 == 1) absl::SleepFor(delay);
    --in_flight;
    if (unavailable_once.exchange(false) || ++requests == unavailable_at_request) {
      return absl::UnavailableError("embeddings are down");
    }
    if (refuse_key) return absl::UnauthenticatedError("invalid api key");
    for (const std::string& text : texts) {
      if (!fail_marker.empty() && text.find(fail_marker) != std::string::npos) {
        return absl::InvalidArgumentError("the input was rejected");
      }
    }
    items += static_cast<int>(texts.size());
    return inner_->Embed(texts);
  }
  std::atomic<int> items{0};  // Embedded and paid for.
  std::atomic<int> in_flight{0}, max_in_flight{0};
  absl::Duration delay;         // Each request takes this long,
  bool slow_odd_calls = false;  // or, when set, the 1st, 3rd, 5th… take it.
  std::atomic<int> calls{0};
  std::atomic<bool> unavailable_once{false};  // The next request finds the provider down.
  std::atomic<bool> refuse_key{false};        // Every request is refused: a bad key.
  std::atomic<int> requests{0};
  int unavailable_at_request = 0;  // The request with this number (from 1) finds it down.
  std::string fail_marker;         // A request with a text containing it is rejected.

 private:
  std::unique_ptr<clients::HashingEmbedder> inner_;
};

class SyncTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    const char* ch_url = std::getenv("VECSYNC_CLICKHOUSE_URL");
    ASSERT_NE(ch_url, nullptr) << "VECSYNC_CLICKHOUSE_URL is not set: run through scripts/test";
    auto ch = clients::ClickHouseClient::Create(ch_url);
    ASSERT_TRUE(ch.ok());
    clickhouse_ = std::move(*ch);
    table_ = "pg_embeddings_test_" + std::to_string(getpid());
    ASSERT_TRUE(clickhouse_->Execute("DROP TABLE IF EXISTS " + table_).ok());
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(entities::DropSourceTables(**conn).ok());
    entities::SeedOptions seed;
    seed.teams = 10;  // Organization 5 (teams 9 and 10) has not approved AI processing.
    seed.actions = 300;
    seed.cohorts = 60;
    seed.event_definitions = 80;
    ASSERT_TRUE(entities::SeedSourceTables(**conn, seed).ok());
    env_.pool = pool_.get();
    env_.clickhouse = clickhouse_.get();
    env_.summarizer = &summarizer_;
    env_.embedder = &embedder_;
    env_.table = table_;
    ASSERT_TRUE(RegisterSyncEntityVectors(registry_.get(), &env_).ok());
    worker_ = StartWorker();
  }
  void TearDown() override {
    worker_.reset();
    (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + table_);
  }

  ExecutionInfo RunSync(Json input) {
    return WaitClosed(Start(kSyncEntityVectorsWorkflow, std::move(input)), absl::Seconds(120));
  }

  Json Sync(Json input) {
    ExecutionInfo e = RunSync(std::move(input));
    EXPECT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
    return e.result;
  }

  // A sync of every action that the embedder refuses (a bad key): it fails, leaving every
  // entity queued. The key works again afterwards.
  ExecutionInfo SyncWithARefusedKey() {
    embedder_.refuse_key = true;
    ExecutionInfo e = RunSync({{"domain", "action"}});
    embedder_.refuse_key = false;
    EXPECT_EQ(e.status, WorkflowStatus::kFailed);
    return e;
  }

  // (team_id, id) pairs in ClickHouse after replacement, with is_deleted = `deleted`.
  std::set<std::string> ClickHouseKeys(const std::string& domain, int deleted) {
    auto body = clickhouse_->Query("SELECT team_id, id FROM " + table_ + " FINAL WHERE domain = '" +
                                   domain + "' AND is_deleted = " + std::to_string(deleted));
    EXPECT_TRUE(body.ok()) << body.status();
    std::set<std::string> keys;
    for (absl::string_view line : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      keys.insert(std::string(line));
    }
    return keys;
  }

  // How many `scheduled` activities of the run were scheduled while an `open` one was open
  // (scheduled, not yet completed); with `after`, counting only `open` ones scheduled after the
  // last `after` activity completed.
  int64_t ScheduledWhileOpen(const std::string& run_id, const std::string& open,
                             const std::string& scheduled, const std::string& after = "") {
    return QueryInt(
        "WITH h AS (SELECT event_id, seq, event_type, attributes->>'activity_type' AS name "
        "  FROM vecsync.history WHERE run_id = '" +
        run_id +
        "'), "
        "last AS (SELECT COALESCE(max(c.event_id), 0) AS event_id FROM h c "
        "  JOIN h a ON a.seq = c.seq AND a.event_type = 'ActivityTaskScheduled' "
        "  WHERE c.event_type = 'ActivityTaskCompleted' AND a.name = '" +
        after +
        "') "
        "SELECT count(*) FROM last, h o "
        "JOIN h done ON done.seq = o.seq AND done.event_type = 'ActivityTaskCompleted' "
        "JOIN h s ON s.name = '" +
        scheduled +
        "' AND s.event_type = 'ActivityTaskScheduled' "
        "  AND s.event_id > o.event_id AND s.event_id < done.event_id "
        "WHERE o.name = '" +
        open + "' AND o.event_type = 'ActivityTaskScheduled' AND o.event_id > last.event_id");
  }

  // Live (not deleted) entities of approved organizations, as "team_id\tid".
  std::set<std::string> LiveKeys(const std::string& table, const std::string& deleted_sql) {
    auto conn = pool_->Acquire();
    auto r = (*conn)->Query("SELECT s.team_id, s.id::text FROM " + table +
                            " s JOIN posthog_team t ON t.id = s.team_id "
                            "JOIN posthog_organization o ON o.id = t.organization_id "
                            "WHERE o.is_ai_data_processing_approved AND NOT (" +
                            deleted_sql + ")");
    EXPECT_TRUE(r.ok()) << r.status();
    std::set<std::string> keys;
    for (int i = 0; i < r->rows(); ++i) keys.insert(r->GetString(i, 0) + "\t" + r->GetString(i, 1));
    return keys;
  }

  std::unique_ptr<clients::ClickHouseClient> clickhouse_;
  std::string table_;
  CountingSummarizer summarizer_;
  CountingEmbedder embedder_;
  SyncEnvironment env_;
  std::unique_ptr<engine::Worker> worker_;
};

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

TEST_F(SyncTest, FlushesEmbedInParallelTakeDisjointRowsAndNoVectorPassesThroughPostgres) {
  // Every batch written to the hand-off table, as the sync writes it.
  Exec(
      "CREATE TABLE vecsync.batches_seen (body bytea); "
      "CREATE FUNCTION vecsync.note_batch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "  INSERT INTO vecsync.batches_seen VALUES (NEW.body); RETURN NEW; END $$; "
      "CREATE TRIGGER note_batch BEFORE INSERT OR UPDATE ON vecsync.pending_batches "
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

// Calls an activity directly, as the attempt `info` describes.
class DirectActivityContext : public engine::ActivityContext {
 public:
  explicit DirectActivityContext(engine::ActivityInfo info) : info_(std::move(info)) {}
  const engine::ActivityInfo& info() const override { return info_; }
  absl::Status Heartbeat(const Json&) override { return absl::OkStatus(); }
  bool IsCancelRequested() const override { return false; }

 private:
  engine::ActivityInfo info_;
};

TEST_F(SyncTest, ARetriedSyncProcessWhoseAttemptCommittedQueuesNothingTwice) {
  // A failed run leaves its sync-process steps completed and their batches queued.
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);
  const std::string queued_rows = "SELECT sum(row_count) FROM vecsync.pending_batches";
  const int64_t queued = QueryInt(queued_rows);
  ASSERT_GT(queued, 0);
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto step = (*conn)->Query(
      "SELECT run_id::text, seq, input::text, result::text FROM vecsync.steps "
      "WHERE name = 'sync-process' AND status = 'COMPLETED' ORDER BY seq LIMIT 1");
  ASSERT_TRUE(step.ok()) << step.status();
  ASSERT_EQ(step->rows(), 1);
  engine::ActivityInfo info;
  info.run_id = step->GetString(0, 0);
  info.seq = step->GetInt64(0, 1);
  info.activity_type = "sync-process";
  const Json input = Json::parse(step->GetString(0, 2));
  const engine::ActivityFunction* process = registry_->FindActivity("sync-process");
  ASSERT_NE(process, nullptr);

  // The engine retries an attempt that committed and died before it reported: the retry
  // returns what the attempt did, and queues nothing. One of its entities changed meanwhile,
  // and the provider is down: the retry asks it for nothing.
  Exec("UPDATE posthog_action SET name = name || ' (renamed)', updated_at = now() WHERE id = " +
       input["keys"][0][1].get<std::string>());
  summarizer_.fail_once_after = summarizer_.paid;
  const int summarized = summarizer_.items;
  info.attempt = 2;
  DirectActivityContext retry(info);
  absl::StatusOr<Json> retried = (*process)(retry, input);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, Json::parse(step->GetString(0, 3)));
  EXPECT_EQ(summarizer_.items, summarized) << "the retry of work done called the provider";
  EXPECT_EQ(QueryInt(queued_rows), queued) << "the retry queued the batch a second time";
  // An attempt numbered 1 again (a worker handed the activity back while it ran): the same.
  info.attempt = 1;
  DirectActivityContext handed_back(info);
  absl::StatusOr<Json> again = (*process)(handed_back, input);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *retried);
  EXPECT_EQ(QueryInt(queued_rows), queued);
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

TEST_F(SyncTest, AnOlderRowLeftQueuedNeverClearsTheFailureOfANewerVersion) {
  // A failed run leaves every action queued. Action 1 then changes, and its new content fails
  // to summarize: the next run records the failure, and its final flush finds the older row of
  // action 1 the failed run left.
  ASSERT_EQ(SyncWithARefusedKey().status, WorkflowStatus::kFailed);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  ASSERT_EQ(QueryInt("SELECT count(*) FROM posthog_action WHERE id = 1 AND NOT deleted"), 1);
  Exec("UPDATE posthog_action SET name = 'Renamed once', updated_at = now() WHERE id = 1");
  summarizer_.fail_marker = "Renamed once";
  Json failed = Sync({{"domain", "action"}, {"entity_ids", {"1"}}});
  EXPECT_EQ(failed["failed"], 1);
  EXPECT_EQ(failed["carried_over"], live.size()) << "the older row of action 1 is inserted too";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '1'"),
            1)
      << "the older row, flushed after the newer one failed, must not clear the failure";

  // The next run retries it, and ClickHouse ends with the new content.
  summarizer_.fail_marker.clear();
  Json retried = Sync({{"domain", "action"}});
  EXPECT_EQ(retried["embedded"], 1);
  auto text = clickhouse_->Query("SELECT text FROM " + table_ +
                                 " FINAL WHERE domain = 'action' AND id = '1'");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("Renamed once"), std::string::npos) << *text;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures > 0"), 0);
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

TEST_F(SyncTest, RerunWithoutChangesCallsNoProviderAndChangingOneCallsOnce) {
  Sync({{"domain", "cohort"}});
  const int summarized = summarizer_.items, embedded = embedder_.items;
  ASSERT_GT(summarized, 0);
  Json rerun = Sync({{"domain", "cohort"}});
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded);
  EXPECT_EQ(rerun["selected"], 0) << "the watermark keeps a no-op rerun from scanning";

  Exec("UPDATE posthog_cohort SET name = 'Renamed', updated_at = now() WHERE id = 2");
  Json one = Sync({{"domain", "cohort"}});
  EXPECT_EQ(summarizer_.items, summarized + 1);
  EXPECT_EQ(embedder_.items, embedded + 1);
  EXPECT_EQ(one["inserted"], 1);
  auto text = clickhouse_->Query("SELECT text FROM " + table_ +
                                 " FINAL WHERE domain = 'cohort' AND id = '2'");
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("Renamed"), std::string::npos) << *text;
}

TEST_F(SyncTest, APropertyOutsideTheSummaryIsRewrittenWithTheSameVectorAndNoProviderCall) {
  Sync({{"domain", "cohort"}});
  const int summarized = summarizer_.items;
  int embedded = embedder_.items;
  const std::string row_sql = "SELECT vector, properties FROM " + table_ +
                              " FINAL WHERE domain = 'cohort' AND id = '2' FORMAT TabSeparated";
  auto before = clickhouse_->Query(row_sql);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->empty());

  // A cohort's count changes as it is recalculated; it is a property, not part of the summary.
  Exec("UPDATE posthog_cohort SET count = 123456, updated_at = now() WHERE id = 2");
  Json result = Sync({{"domain", "cohort"}});
  EXPECT_EQ(result["refreshed"], 1);
  EXPECT_EQ(result["inserted"], 1);
  EXPECT_EQ(summarizer_.items, summarized) << "the rendered text did not change";
  EXPECT_EQ(embedder_.items, embedded) << "the vector is reused from ClickHouse";
  auto after = clickhouse_->Query(row_sql);
  ASSERT_TRUE(after.ok()) << after.status();
  const std::vector<std::string> was = absl::StrSplit(*before, '\t');
  const std::vector<std::string> now = absl::StrSplit(*after, '\t');
  ASSERT_EQ(now.size(), 2u) << *after;
  EXPECT_EQ(now[0], was[0]) << "same vector";
  EXPECT_NE(now[1].find("123456"), std::string::npos) << now[1];

  Json rerun = Sync({{"domain", "cohort"}});
  EXPECT_EQ(rerun["refreshed"], 0);
  EXPECT_EQ(rerun["inserted"], 0);

  // A newer row in ClickHouse than entity_state describes (a flush that inserted but did not
  // record it) is not the vector the state's hashes vouch for: embedded again, not reused.
  ASSERT_TRUE(clickhouse_
                  ->Execute("INSERT INTO " + table_ +
                            " (domain, team_id, id, vector, text, properties, timestamp, "
                            "is_deleted, embedding_version, version) SELECT domain, team_id, id, "
                            "arrayMap(x -> toFloat32(0), vector), text, properties, timestamp, "
                            "is_deleted, embedding_version, version + 5 FROM " +
                            table_ + " FINAL WHERE domain = 'cohort' AND id = '2'")
                  .ok());
  Exec("UPDATE posthog_cohort SET count = 8, updated_at = now() WHERE id = 2");
  Json stale = Sync({{"domain", "cohort"}});
  EXPECT_EQ(stale["refreshed"], 0);
  EXPECT_EQ(stale["embedded"], 1);
  EXPECT_EQ(embedder_.items, ++embedded);
  auto fixed = clickhouse_->Query(row_sql);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(*fixed, '\t'))[0], was[0])
      << "the embedder's vector replaced the zeros";

  // With the row gone from ClickHouse there is no vector to reuse: it is embedded again.
  ASSERT_TRUE(clickhouse_->Execute("TRUNCATE TABLE " + table_).ok());
  Exec("UPDATE posthog_cohort SET count = 7, updated_at = now() WHERE id = 2");
  Json lost = Sync({{"domain", "cohort"}});
  EXPECT_EQ(lost["refreshed"], 0);
  EXPECT_EQ(lost["embedded"], 1);
  EXPECT_EQ(embedder_.items, embedded + 1);
  EXPECT_EQ(summarizer_.items, summarized);
}

TEST_F(SyncTest, ALocalSummarizersSummariesAreRecordedWithTheirVectors) {
  summarizer_.is_local = true;
  Json first = Sync({{"domain", "cohort"}});
  ASSERT_GT(first["inserted"].get<int>(), 0);
  const std::string synced =
      "SELECT count(*) FROM vecsync.entity_state WHERE domain = 'cohort' AND synced_at IS NOT "
      "NULL AND NOT deleted";
  EXPECT_EQ(QueryInt(synced), first["inserted"].get<int>());
  EXPECT_EQ(QueryInt(synced + " AND (summary IS NULL OR content_hash IS NULL OR "
                              "summary_hash IS NULL)"),
            0);
  // Touched, not changed: the recorded summaries are reused, nothing is summarized again.
  const int summarized = summarizer_.items;
  Exec("UPDATE posthog_cohort SET updated_at = now()");
  Json touched = Sync({{"domain", "cohort"}});
  EXPECT_GT(touched["selected"].get<int>(), 0);
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(touched["embedded"], 0);
  EXPECT_EQ(touched["skipped_unchanged"], touched["selected"]);
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

TEST_F(SyncTest, AProviderFailureMidBatchNeverPaysTwiceForASummary) {
  summarizer_.fail_once_after = 40;  // In the first batch of 96, after two chunks of 16.
  Json result = Sync({{"domain", "action"}, {"max_parallel_requests", 1}});
  ASSERT_TRUE(summarizer_.failed);
  const auto live = LiveKeys("posthog_action", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("action", 0), live);
  EXPECT_EQ(result["inserted"], live.size());
  // The retry reused the 32 summaries recorded before the failure; only the 8 of the chunk in
  // flight were paid twice (the whole batch's 40 were, when summaries were kept to the end).
  EXPECT_EQ(summarizer_.paid, static_cast<int>(live.size()) + 8);
}

TEST_F(SyncTest, NewEmbeddingVersionReembedsEverythingWithoutSummarizingAgain) {
  Json v1 = Sync({{"domain", "action"}});
  const int summarized = summarizer_.items, embedded = embedder_.items;
  Json v2 = Sync({{"domain", "action"}, {"embedding_version", 2}});
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded + v1["embedded"].get<int>());
  auto versions = clickhouse_->Query("SELECT DISTINCT embedding_version FROM " + table_ +
                                     " FINAL WHERE domain = 'action' AND is_deleted = 0");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(*versions, "2\n");
}

TEST_F(SyncTest, AnOlderEmbeddingVersionIsRefusedBeforeAnyProviderCall) {
  Sync({{"domain", "action"}, {"embedding_version", 2}});
  Exec("UPDATE posthog_action SET name = name || ' (renamed)', updated_at = now() WHERE id = 7");
  const int summarized = summarizer_.items, embedded = embedder_.items;
  const ExecutionInfo older = RunSync({{"domain", "action"}, {"embedding_version", 1}});
  EXPECT_EQ(older.status, WorkflowStatus::kFailed);
  EXPECT_NE(older.failure.dump().find("embedding_version 1 is older than version 2"),
            std::string::npos)
      << older.failure.dump();
  EXPECT_EQ(summarizer_.items, summarized);
  EXPECT_EQ(embedder_.items, embedded);
  // Other domains, and the same version or a newer one, still sync.
  EXPECT_EQ(RunSync({{"domain", "cohort"}, {"embedding_version", 1}}).status,
            WorkflowStatus::kCompleted);
  EXPECT_EQ(Sync({{"domain", "action"}, {"embedding_version", 2}})["summarized"], 1);
}

TEST_F(SyncTest, HardDeletedEventDefinitionsBecomeTombstones) {
  Sync({{"domain", "event_definition"}});
  Exec(
      "DELETE FROM posthog_eventdefinition WHERE id IN (SELECT id FROM posthog_eventdefinition "
      "WHERE team_id <= 8 ORDER BY name LIMIT 2)");
  Json second = Sync({{"domain", "event_definition"}});
  EXPECT_EQ(second["tombstoned"], 2);
  EXPECT_EQ(ClickHouseKeys("event_definition", 0), LiveKeys("posthog_eventdefinition", "false"));
  EXPECT_EQ(ClickHouseKeys("event_definition", 1).size(), 2u);
}

TEST_F(SyncTest, AFailingItemIsIsolatedRetriedAndQuarantined) {
  summarizer_.fail_marker = "#7\n";  // Action 7's rendered name ends in "#7".
  Json first = Sync({{"domain", "action"}});
  EXPECT_EQ(first["failed"], 1);
  EXPECT_EQ(ClickHouseKeys("action", 0).size(), LiveKeys("posthog_action", "s.deleted").size() - 1);
  for (int run = 2; run <= kMaxEntityFailures; ++run) Sync({{"domain", "action"}});
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '7'"),
            kMaxEntityFailures);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE quarantined"), 1);
  const int before = summarizer_.items;
  Sync({{"domain", "action"}});
  EXPECT_EQ(summarizer_.items, before) << "a quarantined entity is not retried";

  // `vecsync entities failed --retry`: listed, then retried by the next run, which now succeeds.
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto failed = ListFailedEntities(**conn, "action", /*quarantined_only=*/true);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].entity_id, "7");
  EXPECT_EQ((*failed)[0].last_error, "the model refused");
  EXPECT_EQ(RetryFailedEntities(**conn, "action", true).value(), 1);
  summarizer_.fail_marker.clear();
  Json retried = Sync({{"domain", "action"}});
  EXPECT_EQ(retried["summarized"], 1);
  EXPECT_EQ(retried["inserted"], 1);
  EXPECT_TRUE(ListFailedEntities(**conn, "action", false).value().empty());
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

TEST_F(SyncTest, AFailedEntityDeletedBeforeItWasSyncedIsNoLongerRetried) {
  summarizer_.fail_marker = "#7\n";  // Action 7's rendered name ends in "#7".
  ASSERT_EQ(Sync({{"domain", "action"}})["failed"], 1);
  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id = 7");
  Json deleted = Sync({{"domain", "action"}});
  EXPECT_GE(deleted["selected"].get<int>(), 1);  // By the retry phase, and as changed.
  EXPECT_EQ(deleted["skipped_unchanged"], deleted["selected"]);
  EXPECT_EQ(deleted["tombstoned"], 0) << "it never reached ClickHouse";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = 'action' "
                     "AND entity_id = '7'"),
            0);
  // Nothing is left to retry: the next run selects nothing.
  EXPECT_EQ(Sync({{"domain", "action"}})["selected"], 0);
  // Back again, it syncs as any changed entity does.
  summarizer_.fail_marker.clear();
  Exec("UPDATE posthog_action SET deleted = false, updated_at = now() WHERE id = 7");
  Json back = Sync({{"domain", "action"}});
  EXPECT_EQ(back["inserted"], 1);
  EXPECT_EQ(ClickHouseKeys("action", 0), LiveKeys("posthog_action", "s.deleted"));
}

TEST_F(SyncTest, AFailedEntityHardDeletedBeforeItWasSyncedIsNoLongerSelected) {
  auto conn = pool_->Acquire();
  ASSERT_TRUE(conn.ok());
  auto picked = (*conn)->Query(
      "SELECT id::text, name FROM posthog_eventdefinition WHERE team_id <= 8 ORDER BY name "
      "LIMIT 1");
  ASSERT_TRUE(picked.ok() && picked->rows() == 1);
  const std::string id(picked->Get(0, 0));
  summarizer_.fail_marker = absl::StrCat("Event: ", picked->Get(0, 1), "\n");
  ASSERT_EQ(Sync({{"domain", "event_definition"}})["failed"], 1);
  Exec("DELETE FROM posthog_eventdefinition WHERE id = '" + id + "'");
  Json gone = Sync({{"domain", "event_definition"}});
  EXPECT_GE(gone["selected"].get<int>(), 1);
  EXPECT_EQ(gone["skipped_unchanged"], gone["selected"]);
  EXPECT_EQ(gone["tombstoned"], 0) << "it never reached ClickHouse";
  EXPECT_EQ(QueryInt("SELECT failures FROM vecsync.entity_state WHERE domain = "
                     "'event_definition' AND entity_id = '" +
                     id + "'"),
            0);
  // Neither the retry phase nor the hard-deleted one selects it again.
  EXPECT_EQ(Sync({{"domain", "event_definition"}})["selected"], 0);
  EXPECT_EQ(ClickHouseKeys("event_definition", 0), LiveKeys("posthog_eventdefinition", "false"));
}

TEST_F(SyncTest, SearchFindsAnEntityByItsSummaryAndNeverReturnsDeletedOnes) {
  Sync({{"domain", "action"}});
  auto text = clickhouse_->Query("SELECT team_id, id, text FROM " + table_ +
                                 " FINAL WHERE domain = 'action' AND is_deleted = 0 "
                                 "ORDER BY id LIMIT 1 FORMAT JSONEachRow");
  ASSERT_TRUE(text.ok());
  Json row = Json::parse(*text);
  clients::SearchRequest req;
  req.table = table_;
  req.domain = "action";
  // 64-bit integers come quoted from older ClickHouse releases.
  req.team_id = row["team_id"].is_string() ? std::stoll(row["team_id"].get<std::string>())
                                           : row["team_id"].get<int64_t>();
  req.query = embedder_.Embed({row["text"].get<std::string>()}).value()[0];
  req.limit = 5;
  auto hits = clients::SearchSimilar(*clickhouse_, req);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].id, row["id"].get<std::string>());
  EXPECT_NEAR((*hits)[0].distance, 0.0, 1e-4);
  EXPECT_EQ((*hits)[0].properties["embedding_version"], 1);

  Exec("UPDATE posthog_action SET deleted = true, updated_at = now() WHERE id = " +
       row["id"].get<std::string>());
  Sync({{"domain", "action"}});
  hits = clients::SearchSimilar(*clickhouse_, req);
  ASSERT_TRUE(hits.ok());
  for (const auto& hit : *hits) EXPECT_NE(hit.id, row["id"].get<std::string>());
  // Other teams' entities never show up.
  req.team_id = 999;
  EXPECT_TRUE(clients::SearchSimilar(*clickhouse_, req).value().empty());
}

TEST_F(SyncTest, SearchServiceAnswersOverGrpc) {
  Sync({{"domain", "action"}});
  auto text = clickhouse_->Query("SELECT team_id, id, text FROM " + table_ +
                                 " FINAL WHERE domain = 'action' AND is_deleted = 0 "
                                 "ORDER BY id LIMIT 1 FORMAT JSONEachRow");
  ASSERT_TRUE(text.ok());
  Json row = Json::parse(*text);
  const int64_t team = row["team_id"].is_string() ? std::stoll(row["team_id"].get<std::string>())
                                                  : row["team_id"].get<int64_t>();
  auto auth = api::BearerAuth::Create({"search-token"});
  ASSERT_TRUE(auth.ok());
  api::SearchService service(clickhouse_.get(), table_, &embedder_, &*auth);
  api::ApiServerOptions options;
  options.listen = "127.0.0.1:0";
  auto server = api::ApiServer::Start(options, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::SearchService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->port()), grpc::InsecureChannelCredentials()));
  auto call = [&](const v1::SearchSimilarRequest& req, v1::SearchSimilarResponse* resp,
                  const std::string& token = "search-token") {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    return stub->SearchSimilar(&ctx, req, resp);
  };

  v1::SearchSimilarRequest req;
  req.set_domain("action");
  req.set_team_id(team);
  req.set_query(row["text"].get<std::string>());
  req.set_limit(3);
  v1::SearchSimilarResponse resp;
  grpc::Status s = call(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GE(resp.hits_size(), 1);
  EXPECT_LE(resp.hits_size(), 3);
  EXPECT_EQ(resp.hits(0).entity_id(), row["id"].get<std::string>());
  EXPECT_NEAR(resp.hits(0).distance(), 0.0, 1e-4);
  EXPECT_EQ(resp.hits(0).text(), row["text"].get<std::string>());
  EXPECT_TRUE(Json::parse(resp.hits(0).properties_json()).contains("name"));
  for (int i = 1; i < resp.hits_size(); ++i) {
    EXPECT_GE(resp.hits(i).distance(), resp.hits(i - 1).distance()) << "nearest first";
  }

  EXPECT_EQ(call(req, &resp, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::SearchSimilarRequest bad = req;
  bad.set_domain("planet");
  s = call(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("action"), std::string::npos) << "lists the known domains";
  bad = req;
  bad.set_query("   ");
  EXPECT_EQ(call(bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bad = req;
  bad.set_limit(5000);
  s = call(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("limit"), std::string::npos);

  // A provider failure is the server's problem: UNAVAILABLE, and its text stays in the log.
  class RefusingEmbedder : public clients::Embedder {
   public:
    std::string model() const override { return "refusing"; }
    int dimensions() const override { return 64; }
    absl::StatusOr<std::vector<std::vector<float>>> Embed(
        const std::vector<std::string>&) override {
      return absl::InvalidArgumentError("HTTP 401: Incorrect API key provided: sk-secret-123");
    }
  } refusing;
  api::SearchService failing(clickhouse_.get(), table_, &refusing, &*auth);
  auto failing_server = api::ApiServer::Start(options, {&failing});
  ASSERT_TRUE(failing_server.ok());
  auto failing_stub = v1::SearchService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*failing_server)->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer search-token");
  s = failing_stub->SearchSimilar(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message().find("sk-secret"), std::string::npos) << s.error_message();
}

TEST_F(SyncTest, WithAMisbehavingOpenAiProviderNothingWrongIsStored) {
  testing::FakeProvider fake(16);
  clients::OpenAiOptions o;
  o.base_url = fake.base_url();
  o.dimensions = 16;
  o.timeout = absl::Seconds(2);
  auto summarizer = clients::OpenAiSummarizer::Create(o);
  auto embedder = clients::OpenAiEmbedder::Create(o);
  ASSERT_TRUE(summarizer.ok() && embedder.ok());
  env_.summarizer = summarizer->get();
  env_.embedder = embedder->get();
  // A 429 with retry-after and a 500 are retried; the third chat answer is malformed, so that
  // one entity fails and is recorded; every other one lands.
  fake.Control({{"chat_faults", {"429", "500", "none", "malformed"}}, {"retry_after_ms", 100}});
  Json first = Sync({{"domain", "cohort"}, {"max_parallel_requests", 1}});
  EXPECT_EQ(first["failed"], 1);
  const auto live = LiveKeys("posthog_cohort", "s.deleted");
  EXPECT_EQ(ClickHouseKeys("cohort", 0).size(), live.size() - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE failures = 1"), 1);

  // Embeddings with the wrong dimensions and NaN, for the request and every half it is split
  // into (3 items take 5 requests): nothing is stored for those items, and the next clean run
  // repairs everything.
  Exec("UPDATE posthog_cohort SET description = 'changed', updated_at = now() WHERE id <= 3");
  fake.Control({{"faults", {"wrong_dims", "nan", "wrong_dims", "nan", "wrong_dims"}}});
  Json second = Sync({{"domain", "cohort"}, {"max_parallel_requests", 1}});
  EXPECT_GT(second["failed"].get<int>(), 0);
  fake.Control({{"faults", Json::array()}});
  auto dims = clickhouse_->Query("SELECT DISTINCT length(vector) FROM " + table_ +
                                 " WHERE domain = 'cohort' AND is_deleted = 0");
  ASSERT_TRUE(dims.ok());
  EXPECT_EQ(*dims, "16\n") << "no vector of the wrong size was stored";
  Json third = Sync({{"domain", "cohort"}});
  EXPECT_EQ(third["failed"], 0);
  EXPECT_EQ(ClickHouseKeys("cohort", 0), live);
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
  s = start(Json::object());
  EXPECT_NE(s.message().find("domain"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace vecsync::workflows
