// sync-entity-vectors throughput, measured against bounds from the same run.
//
//   sync_bench [--entities N] [--latency-ms L] [--quick]
//
// On the PostgreSQL and ClickHouse named by VECSYNC_PG_URL / VECSYNC_CLICKHOUSE_URL (a private
// database and table are created and dropped), prints:
//   1. with the fake provider answering every call after L ms (default 50) and
//      max_parallel_requests = 5:
//      entities/s against the ideal bound 5 / L (target >= 0.9);
//   2. with instant providers and 1536-dimension vectors over N entities: entities/s against
//      ClickHouse's own rate of ingesting the same rows as one RowBinary insert (target >= 0.5),
//      each the better of two runs;
//   3. peak RSS of this process (worker included), and what the vectors alone would take;
//   4. a no-op rerun's time against one full scan of the source rows;
//   5. the same with ten times the entities (1M by default), all synced before: the rerun's
//      time must not grow with the entity count.
// SYNC_BENCH_HISTORY=1 also prints each run's history with times, to see where time goes.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "bench/bench_check.h"
#include "entities/sample_data.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/openai_client.h"
#include "src/clients/summarizer.h"
#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "src/engine/migrations.h"
#include "src/engine/worker.h"
#include "tests/fake_provider.h"
#include "tests/test_env.h"
#include "workflows/sync/sync_entity_vectors.h"
#include "workflows/sync/sync_migrations.h"

namespace vecsync {
namespace {

using bench::Check;

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

class Bench {
 public:
  Bench() : pool_(testing::TestDatabaseUrl(), 8) {
    Check(testing::ResetEngineSchema(), "schema");
    {
      auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
      Check(conn.status(), "connect");
      Check(engine::Migrate(**conn, workflows::SyncMigrations()).status(), "sync schema");
    }
    const char* ch = std::getenv("VECSYNC_CLICKHOUSE_URL");
    if (ch == nullptr) Check(absl::FailedPreconditionError("set VECSYNC_CLICKHOUSE_URL"), "env");
    // One ~600 MB RowBinary insert (the reference in measure 2) needs more than the default
    // per-query memory of a small server.
    auto client =
        clients::ClickHouseClient::Create(std::string(ch) + "/?max_memory_usage=20000000000");
    Check(client.status(), "clickhouse");
    clickhouse_ = std::move(*client);
    table_ = "pg_embeddings_bench_" + std::to_string(getpid());
    vectors_ = std::make_unique<workflows::VectorTable>(clickhouse_.get(), table_);
    env_.pool = &pool_;
    env_.domains = &domains_;
    env_.vectors = vectors_.get();
    Check(workflows::RegisterSyncEntityVectors(&registry_, &env_), "register");
  }
  ~Bench() {
    if (worker_ != nullptr) worker_->Shutdown();
    (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + table_);
  }

  void Seed(int64_t actions) {
    auto conn = pool_.Acquire();
    Check(conn.status(), "connect");
    Check(entities::DropSourceTables(**conn), "drop sample tables");
    entities::SeedOptions seed;
    seed.teams = 8;
    seed.actions = actions;
    seed.cohorts = 0;
    seed.event_definitions = 0;
    Check(entities::SeedSourceTables(**conn, seed), "seed");
    Check((*conn)->Execute("ANALYZE"), "analyze");
    ForgetSyncs();
  }

  // Forgets every sync (state, hand-off, watermarks and the ClickHouse table) but keeps the
  // source rows: the next sync does all the work again.
  void ForgetSyncs() {
    Execute("TRUNCATE vecsync.entity_state, vecsync.pending_batches, vecsync.sync_watermarks",
            "reset sync state");
    Check(clickhouse_->Execute("DROP TABLE IF EXISTS " + table_), "drop table");
  }

  // Runs `sql` on the bench's database; exits naming `what` if it fails.
  void Execute(const std::string& sql, const char* what) {
    auto conn = pool_.Acquire();
    Check(conn.status(), "connect");
    Check((*conn)->Execute(sql), what);
  }

  int64_t LiveEntities() {
    auto conn = pool_.Acquire();
    auto r = (*conn)->Query(
        "SELECT count(*) FROM posthog_action s JOIN posthog_team t ON t.id = s.team_id "
        "JOIN posthog_organization o ON o.id = t.organization_id "
        "WHERE o.is_ai_data_processing_approved AND NOT s.deleted");
    Check(r.status(), "count");
    return r->GetInt64(0, 0);
  }

  // Runs one sync on the in-process worker; returns its duration and result. The worker lives
  // as long as the bench, as a deployment's does: a run's time is not a fresh worker's first
  // connections and first wakeup (which added 0-110 ms to a 60 ms no-op rerun).
  absl::Duration Sync(clients::Summarizer* summarizer, clients::Embedder* embedder, Json input,
                      Json* result) {
    env_.summarizer = summarizer;  // Read by activities as they run; none is running now.
    env_.embedder = embedder;
    if (worker_ == nullptr) {
      engine::WorkerOptions options;
      options.poll_interval = absl::Milliseconds(50);
      worker_ = std::make_unique<engine::Worker>(testing::TestDatabaseUrl(), &registry_, options);
      Check(worker_->Start(), "worker");
    }
    engine::Client client(&pool_, &registry_);
    engine::StartWorkflowRequest req;
    req.workflow_type = workflows::kSyncEntityVectorsWorkflow;
    req.input = std::move(input);
    const absl::Time begin = absl::Now();
    auto started = client.StartWorkflow(req);
    Check(started.status(), "start");
    auto closed = client.WaitForClose({started->workflow_id, started->run_id}, absl::Hours(2));
    Check(closed.status(), "wait");
    // The run's own time, from the database's clock: WaitForClose polls with a growing pause,
    // which would round an 80 ms run up to 140.
    const absl::Duration took =
        closed->close_time ? *closed->close_time - closed->start_time : absl::Now() - begin;
    if (closed->status != engine::WorkflowStatus::kCompleted) {
      Check(absl::InternalError(closed->failure.dump()), "sync run");
    }
    *result = closed->result;
    if (std::getenv("SYNC_BENCH_HISTORY") != nullptr) {
      std::string page_token;
      do {
        auto h = client.GetHistory({started->workflow_id, started->run_id}, 1000, page_token);
        Check(h.status(), "history");
        for (const auto& ev : h->events) {
          std::printf("  +%7.1f ms %s %s\n", absl::ToDoubleMilliseconds(ev.event_time - begin),
                      ev.event_type.c_str(), ev.attributes.value("activity_type", "").c_str());
        }
        page_token = h->next_page_token;
      } while (!page_token.empty());
    }
    return took;
  }

  // ClickHouse ingesting the synced rows again, as one RowBinary insert into a fresh table.
  double ClickHouseIngestRate(int64_t* rows_out) {
    auto rows = clickhouse_->Query(
        "SELECT domain, team_id, id, vector, text, properties, "
        "timestamp, is_deleted, embedding_version, version FROM " +
        table_ + " FORMAT RowBinary");
    Check(rows.status(), "export");
    const std::string copy = table_ + "_copy";
    Check(clickhouse_->Execute("DROP TABLE IF EXISTS " + copy), "drop copy");
    Check(clickhouse_->Execute("CREATE TABLE " + copy + " AS " + table_), "create copy");
    const absl::Time begin = absl::Now();
    Check(clickhouse_->InsertRowBinary(copy + " (domain, team_id, id, vector, text, properties, "
                                              "timestamp, is_deleted, embedding_version, version)",
                                       *rows),
          "insert copy");
    const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
    auto count = clickhouse_->Query("SELECT count() FROM " + copy);
    Check(count.status(), "count copy");
    absl::SimpleAtoi(absl::StripAsciiWhitespace(*count), rows_out);
    (void)clickhouse_->Execute("DROP TABLE " + copy);
    return static_cast<double>(*rows_out) / seconds;
  }

  // Grows the actions to `total` as if every one had been synced already: the new rows were
  // updated before the domain's watermark and entity_state records them as synced. That is what
  // a no-op rerun meets in a large deployment, without spending the bench's time syncing them.
  void GrowSyncedActions(int64_t total) {
    auto conn = pool_.Acquire();
    Check(conn.status(), "connect");
    Check((*conn)
              ->Query("WITH teams AS (SELECT array_agg(t.id ORDER BY t.id) AS ids "
                      "  FROM posthog_team t JOIN posthog_organization o "
                      "    ON o.id = t.organization_id WHERE o.is_ai_data_processing_approved), "
                      "mark AS (SELECT min(watermark) - interval '1 hour' AS at "
                      "  FROM vecsync.sync_watermarks WHERE domain = 'action') "
                      "INSERT INTO posthog_action (team_id, name, description, steps_json, "
                      "  created_at, updated_at) "
                      "SELECT teams.ids[1 + g % array_length(teams.ids, 1)], 'bulk action ' || g, "
                      "  'an action synced long ago', '[{\"event\": \"$pageview\"}]'::jsonb, "
                      "  mark.at - g * interval '1 ms', mark.at - g * interval '1 ms' "
                      "FROM teams, mark, generate_series(1, $1 - (SELECT count(*) FROM "
                      "posthog_action)) g",
                      total)
              .status(),
          "grow actions");
    Execute(
        "INSERT INTO vecsync.entity_state (domain, team_id, entity_id, source_updated_at, "
        "  content_hash, summary, summary_hash, vector_hash, embedding_version, synced_at) "
        "SELECT 'action', team_id, id::text, updated_at, 'bulk', 'bulk', 'bulk', 'bulk', 1, "
        "  now() FROM posthog_action ON CONFLICT DO NOTHING",
        "grow sync state");
    Execute("ANALYZE", "analyze");
  }

  // Lets both servers settle before a measure: PostgreSQL vacuums and analyzes what seeding and
  // earlier syncs churned now rather than in autovacuum during the measure, and ClickHouse
  // finishes merging the parts they inserted (waiting up to a minute). A measure taken while
  // either uses the cores times the machine, not what it measures: a no-op rerun took 70-270 ms
  // then, ~40 otherwise, and ClickHouse's reference insert ran beside the merges of the parts the
  // sync before it had inserted.
  void Settle() {
    Execute("VACUUM ANALYZE", "vacuum");
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    while (absl::Now() < deadline) {
      auto merges = clickhouse_->Query(
          "SELECT count() FROM system.merges WHERE database = currentDatabase() AND table = '" +
          table_ + "'");
      if (!merges.ok() || absl::StripAsciiWhitespace(*merges) == "0") return;
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  int64_t Actions() {
    auto conn = pool_.Acquire();
    auto r = (*conn)->Query("SELECT count(*) FROM posthog_action");
    Check(r.status(), "count");
    return r->GetInt64(0, 0);
  }

  absl::Duration FullScan() {
    const absl::Time begin = absl::Now();
    LiveEntities();
    return absl::Now() - begin;
  }

 private:
  PgPool pool_;
  std::unique_ptr<clients::ClickHouseClient> clickhouse_;
  std::string table_;
  const entities::EntityConfigRegistry domains_ = entities::EntityConfigRegistry::BuiltIn();
  std::unique_ptr<workflows::VectorTable> vectors_;
  workflows::SyncEnvironment env_;
  engine::Registry registry_;
  std::unique_ptr<engine::Worker> worker_;  // After registry_ and env_, which it uses.
};

}  // namespace
}  // namespace vecsync

int main(int argc, char** argv) {
  using vecsync::Json;
  int64_t entities = 100000;
  // Far below any real LLM's latency, and far enough above the ~1 ms a request to the local
  // fake costs that the bound measures vecsync's pipeline rather than the fake's HTTP overhead.
  int latency_ms = 50;
  int64_t latency_entities = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      entities = 2000;
      latency_entities = 300;
    } else if (std::strcmp(argv[i], "--entities") == 0 && i + 1 < argc) {
      entities = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--latency-ms") == 0 && i + 1 < argc) {
      latency_ms = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: sync_bench [--entities N] [--latency-ms L] [--quick]\n");
      return 2;
    }
  }
  vecsync::Bench bench;

  // 1. Latency-bound: every provider call takes latency_ms; 5 requests in flight.
  {
    bench.Seed(latency_entities);
    vecsync::testing::FakeProvider fake(64);
    fake.Control({{"latency_ms", latency_ms}});
    vecsync::clients::OpenAiOptions o;
    o.base_url = fake.base_url();
    o.dimensions = 64;
    auto summarizer = vecsync::clients::OpenAiSummarizer::Create(o);
    auto embedder = vecsync::clients::OpenAiEmbedder::Create(o);
    vecsync::Check(summarizer.status(), "summarizer");
    Json result;
    const absl::Duration took =
        bench.Sync(summarizer->get(), embedder->get(),
                   {{"domain", "action"}, {"max_parallel_requests", 5}}, &result);
    const double rate = result["summarized"].get<double>() / absl::ToDoubleSeconds(took);
    const double ideal = 5.0 * 1000.0 / latency_ms;
    std::printf("1. provider latency %d ms, 5 parallel requests, %lld entities:\n", latency_ms,
                static_cast<long long>(result["summarized"].get<int64_t>()));
    std::printf("   %.0f entities/s vs ideal %.0f/s: ratio %.2f (target >= 0.9)\n", rate, ideal,
                rate / ideal);
  }

  // 2-4. Instant providers, 1536-dimension vectors. The machine is shared: the sync and
  // ClickHouse's own insert each run twice, alternating, and the better of each counts.
  bench.Seed(entities);
  const int64_t live = bench.LiveEntities();
  vecsync::clients::TemplateSummarizer summarizer;
  auto embedder = vecsync::clients::HashingEmbedder::Create(1536);
  double rate = 0, clickhouse_rate = 0, sync_peak_rss_mb = 0;
  int64_t copied = 0;
  for (int round = 0; round < 2; ++round) {
    if (round > 0) bench.ForgetSyncs();
    bench.Settle();
    Json result;
    const absl::Duration took =
        bench.Sync(&summarizer, embedder->get(), {{"domain", "action"}}, &result);
    rate = std::max(rate, result["inserted"].get<double>() / absl::ToDoubleSeconds(took));
    // Before the reference insert's buffer.
    if (round == 0) sync_peak_rss_mb = vecsync::PeakRssMb();
    bench.Settle();
    clickhouse_rate = std::max(clickhouse_rate, bench.ClickHouseIngestRate(&copied));
  }
  std::printf("2. instant providers, 1536 dimensions, %lld live of %lld entities (best of 2):\n",
              static_cast<long long>(live), static_cast<long long>(entities));
  std::printf(
      "   %.0f entities/s vs ClickHouse ingesting the same %lld rows in one RowBinary "
      "insert at %.0f rows/s: ratio %.2f (target >= 0.5)\n",
      rate, static_cast<long long>(copied), clickhouse_rate, rate / clickhouse_rate);
  std::printf("3. peak RSS %.0f MB through the sync; the vectors alone would be %.0f MB\n",
              sync_peak_rss_mb, static_cast<double>(live) * 1536 * 4 / 1e6);
  bench.Settle();
  Json rerun;
  const absl::Duration noop =
      bench.Sync(&summarizer, embedder->get(), {{"domain", "action"}}, &rerun);
  const absl::Duration scan = bench.FullScan();
  std::printf(
      "4. no-op rerun %.1f ms (selected %lld) vs one full scan of the source %.1f ms: "
      "ratio %.2f\n",
      absl::ToDoubleMilliseconds(noop), static_cast<long long>(rerun["selected"].get<int64_t>()),
      absl::ToDoubleMilliseconds(scan),
      absl::ToDoubleMilliseconds(noop) / absl::ToDoubleMilliseconds(scan));

  // 5. The same no-op rerun with ten times the entities, all synced before.
  bench.GrowSyncedActions(entities * 10);
  bench.Settle();
  Json big_rerun;
  const absl::Duration big_noop =
      bench.Sync(&summarizer, embedder->get(), {{"domain", "action"}}, &big_rerun);
  const absl::Duration big_scan = bench.FullScan();
  std::printf(
      "5. no-op rerun over %lld entities %.1f ms (selected %lld) vs one full scan %.1f ms: "
      "ratio %.2f; vs the no-op over %lld: ratio %.2f (a scan would be ~10)\n",
      static_cast<long long>(bench.Actions()), absl::ToDoubleMilliseconds(big_noop),
      static_cast<long long>(big_rerun["selected"].get<int64_t>()),
      absl::ToDoubleMilliseconds(big_scan),
      absl::ToDoubleMilliseconds(big_noop) / absl::ToDoubleMilliseconds(big_scan),
      static_cast<long long>(entities),
      absl::ToDoubleMilliseconds(big_noop) / absl::ToDoubleMilliseconds(noop));
  return 0;
}
