// The change feed's freshness and cost, measured against limits from the same run.
//
//   change_feed_bench [--entities N] [--rate R] [--seconds S] [--quick]
//
// On the PostgreSQL (wal_level=logical) and ClickHouse named by VECSYNC_PG_URL /
// VECSYNC_CLICKHOUSE_URL (a private database and table are created and dropped), with the
// offline providers and the feed and a worker in this process, prints:
//   1. with R edits/s (default 100) for S seconds (default 60) over N actions (default 100,000),
//      each a committed rename of a random action: the p50 and p95 of commit → ClickHouse (the
//      new name readable in ClickHouse), against the 5 s target, and how many edits were seen;
//   2. fifty edits of one action within two seconds: the summaries they cost (target <= 2);
//   3. an idle domain's cost: rows read from tables in 10 s with nothing changing, at N/10 and at
//      N actions; the ratio must stay near 1 (flat in the domain's size).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_check.h"
#include "entities/sample_data.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/summarizer.h"
#include "src/common/mutex.h"
#include "src/common/pg_pool.h"
#include "src/engine/client.h"
#include "src/engine/migrations.h"
#include "src/engine/worker.h"
#include "tests/test_env.h"
#include "workflows/sync/change_feed.h"
#include "workflows/sync/sync_entity_vectors.h"
#include "workflows/sync/sync_migrations.h"

namespace vecsync {
namespace {

using bench::Check;

// The template summarizer, counting what it summarizes.
class CountingSummarizer : public clients::Summarizer {
 public:
  std::string version(absl::string_view prompt) const override { return inner_.version(prompt); }
  bool local() const override { return true; }
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      absl::string_view prompt, const std::vector<std::string>& inputs) override {
    items += static_cast<int64_t>(inputs.size());
    return inner_.Summarize(prompt, inputs);
  }
  std::atomic<int64_t> items{0};

 private:
  clients::TemplateSummarizer inner_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

class Bench {
 public:
  Bench() : pool_(testing::TestDatabaseUrl(), 8), client_(&pool_, &registry_) {
    Check(testing::ResetEngineSchema(), "schema");
    {
      auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
      Check(conn.status(), "connect");
      Check(engine::Migrate(**conn, workflows::SyncMigrations()).status(), "sync schema");
    }
    const char* ch = std::getenv("VECSYNC_CLICKHOUSE_URL");
    if (ch == nullptr) Check(absl::FailedPreconditionError("set VECSYNC_CLICKHOUSE_URL"), "env");
    auto client = clients::ClickHouseClient::Create(ch);
    Check(client.status(), "clickhouse");
    clickhouse_ = std::move(*client);
    table_ = "pg_embeddings_feed_bench_" + std::to_string(getpid());
    vectors_ = std::make_unique<workflows::VectorTable>(clickhouse_.get(), table_);
    auto embedder = clients::HashingEmbedder::Create(64);
    Check(embedder.status(), "embedder");
    embedder_ = std::move(*embedder);
    env_.pool = &pool_;
    env_.domains = &domains_;
    env_.vectors = vectors_.get();
    env_.summarizer = &summarizer_;
    env_.embedder = embedder_.get();
    Check(workflows::RegisterSyncEntityVectors(&registry_, &env_), "register");
    engine::WorkerOptions options;
    options.poll_interval = absl::Milliseconds(50);
    worker_ = std::make_unique<engine::Worker>(testing::TestDatabaseUrl(), &registry_, options);
    Check(worker_->Start(), "worker");
  }
  ~Bench() {
    StopFeed();
    worker_->Shutdown();
    if (auto conn = pool_.Acquire(); conn.ok()) (void)workflows::DropLogicalReplication(**conn);
    (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + table_);
  }

  // Fresh source rows (actions only) and no sync state; then one full sync.
  void SeedAndSync(int64_t actions) {
    StopFeed();
    {
      auto conn = pool_.Acquire();
      Check(conn.status(), "connect");
      Check(workflows::DropLogicalReplication(**conn), "drop replication");
      Check(entities::DropSourceTables(**conn), "drop sample tables");
      entities::SeedOptions seed;
      seed.teams = 8;
      seed.actions = actions;
      seed.cohorts = 0;
      seed.event_definitions = 0;
      Check(entities::SeedSourceTables(**conn, seed), "seed");
      Check((*conn)->Execute("TRUNCATE vecsync.entity_state, vecsync.pending_batches, "
                             "vecsync.sync_watermarks, vecsync.entity_changes, "
                             "vecsync.scope_teams; ANALYZE"),
            "reset");
    }
    Check(clickhouse_->Execute("DROP TABLE IF EXISTS " + table_), "drop table");
    for (const char* domain : {"action", "cohort", "event_definition"}) {
      engine::StartWorkflowRequest req;
      req.workflow_type = workflows::kSyncEntityVectorsWorkflow;
      req.input = {{"domain", domain}};
      auto started = client_.StartWorkflow(req);
      Check(started.status(), "start");
      auto closed = client_.WaitForClose({started->workflow_id, started->run_id}, absl::Hours(1));
      Check(closed.status(), "wait");
      if (closed->status != engine::WorkflowStatus::kCompleted) {
        Check(absl::InternalError(closed->failure.dump()), "initial sync");
      }
    }
  }

  void StartFeed() {
    workflows::ChangeFeedOptions options;
    options.pg_url = testing::TestDatabaseUrl();
    feed_ = std::make_unique<workflows::ChangeFeed>(options, &domains_, &client_);
    feed_->Start();
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (feed_->state() != workflows::ChangeFeed::State::kStreaming) {
      if (absl::Now() > deadline) Check(absl::UnavailableError(feed_->reason()), "feed start");
      absl::SleepFor(absl::Milliseconds(50));
    }
    WaitIdle();
  }
  void StopFeed() { feed_.reset(); }

  // Until no run is open (the feed's first runs, or the last edits' runs).
  void WaitIdle() {
    for (int i = 0; i < 600; ++i) {
      if (Scalar("SELECT count(*) FROM vecsync.executions WHERE status = 'RUNNING'") == 0 &&
          Scalar("SELECT count(*) FROM vecsync.entity_changes") == 0) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    Check(absl::DeadlineExceededError("runs still open after 60 s"), "wait idle");
  }

  int64_t Scalar(const std::string& sql) {
    auto conn = pool_.Acquire();
    Check(conn.status(), "connect");
    auto r = (*conn)->Query(sql);
    Check(r.status(), "query");
    return r->GetInt64(0, 0);
  }

  // 1. Renames at `rate` per second for `seconds`; returns commit → ClickHouse latencies.
  std::vector<double> MeasureFreshness(int rate, int seconds, int64_t* edits_out) {
    // Live actions of approved organizations: the ones ClickHouse holds a row of to read.
    std::vector<int64_t> ids;
    {
      auto conn = pool_.Acquire();
      Check(conn.status(), "connect");
      auto r = (*conn)->Query(
          "SELECT s.id FROM posthog_action s JOIN posthog_team t ON t.id = s.team_id "
          "JOIN posthog_organization o ON o.id = t.organization_id "
          "WHERE o.is_ai_data_processing_approved AND NOT s.deleted");
      Check(r.status(), "live actions");
      for (int i = 0; i < r->rows(); ++i) ids.push_back(r->GetInt64(i, 0));
    }
    Mutex mu;
    std::map<std::string, std::pair<std::string, absl::Time>> committed;  // edit → (id, time)
    std::map<std::string, double> seen;                                   // edit → latency
    std::atomic<bool> writing{true};
    std::thread writer([&] {
      auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
      Check(conn.status(), "writer connect");
      std::mt19937_64 rng(42);
      const absl::Duration every = absl::Seconds(1) / rate;
      absl::Time next = absl::Now();
      for (int n = 0; n < rate * seconds; ++n) {
        const int64_t id = ids[rng() % ids.size()];
        const std::string edit = absl::StrCat("feed bench edit ", n, ".");
        Check((*conn)->Execute(absl::StrCat("UPDATE posthog_action SET name = '", edit,
                                            "', updated_at = now() WHERE id = ", id)),
              "edit");
        const absl::Time at = absl::Now();
        {
          MutexLock lock(&mu);
          committed[edit] = {std::to_string(id), at};
        }
        next += every;
        absl::SleepFor(next - absl::Now());
      }
      writing = false;
    });
    // Polls ClickHouse for the edits' names, four times a second.
    const std::string query = "SELECT text FROM " + table_ +
                              " FINAL WHERE domain = 'action' AND is_deleted = 0 AND "
                              "position(text, 'feed bench edit ') > 0 FORMAT TSV";
    absl::Time quiet_since = absl::InfiniteFuture();
    while (true) {
      auto body = clickhouse_->Query(query);
      const absl::Time now = absl::Now();
      if (body.ok()) {
        MutexLock lock(&mu);
        for (absl::string_view line : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
          const size_t at = line.find("feed bench edit ");
          const size_t end = line.find('.', at);
          if (at == absl::string_view::npos || end == absl::string_view::npos) continue;
          const std::string edit(line.substr(at, end - at + 1));
          auto c = committed.find(edit);
          if (c != committed.end() && !seen.contains(edit)) {
            seen[edit] = absl::ToDoubleSeconds(now - c->second.second);
          }
        }
      }
      if (!writing && quiet_since == absl::InfiniteFuture()) quiet_since = now;
      if (now - quiet_since > absl::Seconds(15)) break;  // The last edits had 15 s to arrive.
      absl::SleepFor(absl::Milliseconds(250));
    }
    writer.join();
    // An edit renamed again before it reached ClickHouse is never seen, by design (debounced):
    // only the newest edit of each action counts.
    std::map<std::string, std::pair<std::string, absl::Time>> newest;  // id → (edit, time)
    for (const auto& [edit, c] : committed) {
      auto& n = newest[c.first];
      if (n.first.empty() || c.second > n.second) n = {edit, c.second};
    }
    std::vector<double> latencies;
    int64_t missing = 0;
    for (const auto& [id, n] : newest) {
      auto s = seen.find(n.first);
      if (s == seen.end()) {
        ++missing;
      } else {
        latencies.push_back(s->second);
      }
    }
    *edits_out = static_cast<int64_t>(committed.size());
    if (missing > 0) {
      Check(absl::DataLossError(absl::StrCat(missing,
                                             " actions' last edits never reached "
                                             "ClickHouse")),
            "freshness");
    }
    return latencies;
  }

  // 2. Fifty renames of one action in two seconds: the summaries they cost.
  int64_t BurstCost() {
    WaitIdle();
    const int64_t id = Scalar(
        "SELECT min(id) FROM posthog_action WHERE team_id = 1 AND "
        "NOT deleted");
    const int64_t before = summarizer_.items;
    auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
    Check(conn.status(), "connect");
    for (int i = 1; i <= 50; ++i) {
      Check((*conn)->Execute(absl::StrCat("UPDATE posthog_action SET name = 'burst ", i,
                                          "', updated_at = now() WHERE id = ", id)),
            "burst edit");
      absl::SleepFor(absl::Milliseconds(40));
    }
    absl::SleepFor(absl::Seconds(3));
    WaitIdle();
    return summarizer_.items - before;
  }

  // 3. Rows read from tables (the source's and vecsync's) over 10 s of nothing changing: scans'
  // tuples and index fetches, which autovacuum's work on what seeding churned does not count.
  int64_t IdleRowsRead() {
    absl::SleepFor(absl::Seconds(1));  // The feed's first runs (one per domain) start,
    WaitIdle();                        // and end.
    {
      // On a connection of its own, closed after: closing reports its statistics at once.
      auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
      Check(conn.status(), "connect");
      // The engine's idle polling reads its run history, which grows with runs, not with the
      // domain: both measures start from the same (empty) history.
      Check((*conn)->Execute("DELETE FROM vecsync.history WHERE run_id IN (SELECT run_id FROM "
                             "vecsync.executions WHERE status <> 'RUNNING'); "
                             "DELETE FROM vecsync.steps WHERE run_id IN (SELECT run_id FROM "
                             "vecsync.executions WHERE status <> 'RUNNING'); "
                             "DELETE FROM vecsync.executions WHERE status <> 'RUNNING'"),
            "forget closed runs");
      Check((*conn)->Execute("VACUUM ANALYZE"), "vacuum");
    }
    // A session that went idle reports what it read up to 10 s later (PostgreSQL 15): the reads
    // of the syncs before must land before the measure, not in it.
    absl::SleepFor(absl::Seconds(12));
    const std::string sql =
        "SELECT sum(COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0))::bigint "
        "FROM pg_stat_all_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema', "
        "'pg_toast')";
    const int64_t before = Scalar(sql);
    const std::map<std::string, int64_t> tables_before = RowsReadByTable();
    absl::SleepFor(absl::Seconds(10));
    const int64_t read = Scalar(sql) - before;
    if (std::getenv("FEED_BENCH_DETAIL") != nullptr) {
      for (const auto& [table, n] : RowsReadByTable()) {
        auto b = tables_before.find(table);
        const int64_t delta = n - (b == tables_before.end() ? 0 : b->second);
        if (delta > 0) std::printf("   %s: %lld\n", table.c_str(), static_cast<long long>(delta));
      }
    }
    return read;
  }

  std::map<std::string, int64_t> RowsReadByTable() {
    auto conn = pool_.Acquire();
    Check(conn.status(), "connect");
    auto r = (*conn)->Query(
        "SELECT schemaname || '.' || relname, (COALESCE(seq_tup_read, 0) + "
        "COALESCE(idx_tup_fetch, 0))::bigint FROM pg_stat_all_tables WHERE schemaname NOT IN "
        "('pg_catalog', 'information_schema', 'pg_toast')");
    Check(r.status(), "rows by table");
    std::map<std::string, int64_t> out;
    for (int i = 0; i < r->rows(); ++i) out[r->GetString(i, 0)] = r->GetInt64(i, 1);
    return out;
  }

 private:
  PgPool pool_;
  engine::Registry registry_;
  engine::Client client_;
  entities::EntityConfigRegistry domains_ = entities::EntityConfigRegistry::BuiltIn();
  std::unique_ptr<clients::ClickHouseClient> clickhouse_;
  std::string table_;
  std::unique_ptr<workflows::VectorTable> vectors_;
  CountingSummarizer summarizer_;
  std::unique_ptr<clients::Embedder> embedder_;
  workflows::SyncEnvironment env_;
  std::unique_ptr<engine::Worker> worker_;
  std::unique_ptr<workflows::ChangeFeed> feed_;
};

}  // namespace
}  // namespace vecsync

int main(int argc, char** argv) {
  int64_t entities = 100000;
  int rate = 100, seconds = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      entities = 2000;
      rate = 20;
      seconds = 5;
    } else if (std::strcmp(argv[i], "--entities") == 0 && i + 1 < argc) {
      entities = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
      rate = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: change_feed_bench [--entities N] [--rate R] [--seconds S] [--quick]\n");
      return 2;
    }
  }
  vecsync::Bench bench;

  // 3 first, at a tenth of the size: the idle cost of a small domain.
  bench.SeedAndSync(entities / 10);
  bench.StartFeed();
  const int64_t idle_small = bench.IdleRowsRead();

  bench.SeedAndSync(entities);
  bench.StartFeed();
  const int64_t idle_large = bench.IdleRowsRead();

  int64_t edits = 0;
  std::vector<double> latencies = bench.MeasureFreshness(rate, seconds, &edits);
  const double p50 = vecsync::Percentile(latencies, 0.50);
  const double p95 = vecsync::Percentile(latencies, 0.95);
  std::printf("1. %d edits/s for %d s over %lld actions (%lld edits, %zu actions' last edits):\n",
              rate, seconds, static_cast<long long>(entities), static_cast<long long>(edits),
              latencies.size());
  std::printf(
      "   commit -> ClickHouse p50 %.2f s, p95 %.2f s; p95 / 5 s target = %.2f (target "
      "<= 1)\n",
      p50, p95, p95 / 5.0);

  const int64_t burst = bench.BurstCost();
  std::printf("2. 50 edits of one action within 2 s: %lld summaries (target <= 2)\n",
              static_cast<long long>(burst));

  std::printf(
      "3. idle for 10 s: %lld rows read at %lld actions, %lld at %lld; ratio %.2f "
      "(flat: near 1, not 10)\n",
      static_cast<long long>(idle_large), static_cast<long long>(entities),
      static_cast<long long>(idle_small), static_cast<long long>(entities / 10),
      static_cast<double>(idle_large + 1) / static_cast<double>(idle_small + 1));
  return p95 <= 5.0 && burst <= 2 ? 0 : 1;
}
