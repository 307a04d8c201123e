// SIGKILL of `vecsync server` in the middle of a sync, then a restart: the run finishes with
// exact counts, and ClickHouse holds every live entity once, nothing lost, nothing extra.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "entities/sample_data.h"
#include "src/clients/clickhouse_client.h"
#include "tests/engine_fixture.h"
#include "tests/fake_provider.h"
#include "workflows/sync/sync_entity_vectors.h"
#include "workflows/sync/sync_migrations.h"

namespace vecsync::workflows {
namespace {

using ::vecsync::testing::WaitUntil;

class SyncCrashTest : public testing::EngineTest {
 protected:
  // The sync's schema, and `actions` actions over four teams from `first_team`: team ids unique
  // to this run keep its rows apart in the shared ClickHouse table.
  void SeedActions(int64_t first_team, int actions) {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(engine::Migrate(**conn, SyncMigrations()).ok());
    ASSERT_TRUE(entities::DropSourceTables(**conn).ok());
    entities::SeedOptions seed;
    seed.teams = 4;
    seed.actions = actions;
    seed.cohorts = 0;
    seed.event_definitions = 0;
    seed.first_team_id = first_team;
    ASSERT_TRUE(entities::SeedSourceTables(**conn, seed).ok());
  }

  // A server with the offline providers: its change feed streams the database's changes.
  pid_t StartOfflineServer() {
    pid_t pid = fork();
    if (pid == 0) {
      freopen("/dev/null", "w", stderr);
      const std::string url = testing::TestDatabaseUrl();
      execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--pg-url", url.c_str(), "--listen",
            "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--console-listen", "off", "--lease",
            "2s", static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  pid_t StartServer(const std::string& provider_url) {
    pid_t pid = fork();
    if (pid == 0) {
      freopen("/dev/null", "w", stderr);
      const std::string url = testing::TestDatabaseUrl();
      execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--pg-url", url.c_str(), "--listen",
            "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--console-listen", "off", "--lease",
            "2s", "--summarizer", "openai", "--openai-base-url", provider_url.c_str(), "--embedder",
            "hashing", "--embedding-dimensions", "32", static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }
};

TEST_F(SyncCrashTest, KilledMidRunARestartFinishesWithExactCounts) {
  const char* ch_url = std::getenv("VECSYNC_CLICKHOUSE_URL");
  ASSERT_NE(ch_url, nullptr);
  auto clickhouse = clients::ClickHouseClient::Create(ch_url);
  ASSERT_TRUE(clickhouse.ok());
  SeedActions(1000000 + (getpid() % 100000) * 10, 600);
  // The server process runs the activities; this registry only validates the start.
  static const entities::EntityConfigRegistry domains = entities::EntityConfigRegistry::BuiltIn();
  static SyncEnvironment validation_only{.domains = &domains};
  ASSERT_TRUE(RegisterSyncEntityVectors(registry_.get(), &validation_only).ok());
  testing::FakeProvider fake(32);
  fake.Control({{"latency_ms", 40}});  // ~600 × 40 ms / 5 parallel ≈ 5 s of summarizing

  pid_t first = StartServer(fake.base_url());
  auto started =
      Start(kSyncEntityVectorsWorkflow, {{"domain", "action"}, {"insert_batch_size", 100}});
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE synced_at IS NOT NULL") >
               50;
      },
      absl::Seconds(60)));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  waitpid(first, nullptr, 0);
  ASSERT_LT(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE synced_at IS NOT NULL"),
            QueryInt("SELECT count(*) FROM posthog_action WHERE NOT deleted"))
      << "the kill must land mid-run";

  pid_t second = StartServer(fake.base_url());
  engine::ExecutionInfo e = WaitClosed(started, absl::Seconds(120));
  kill(second, SIGTERM);
  waitpid(second, nullptr, 0);
  ASSERT_EQ(e.status, engine::WorkflowStatus::kCompleted) << e.failure.dump();

  const int64_t live = QueryInt(
      "SELECT count(*) FROM posthog_action s JOIN posthog_team t ON t.id = s.team_id "
      "JOIN posthog_organization o ON o.id = t.organization_id "
      "WHERE o.is_ai_data_processing_approved AND NOT s.deleted");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.entity_state WHERE synced_at IS NOT NULL"),
            live);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM vecsync.pending_batches"), 0);
  // Exact counts: an attempt the kill interrupted after it committed is not redone, and its
  // retry reports what it did.
  EXPECT_EQ(e.result["embedded"], live);
  EXPECT_EQ(e.result["inserted"], live);
  const std::string teams = std::to_string(QueryInt("SELECT min(id) FROM posthog_team")) + " AND " +
                            std::to_string(QueryInt("SELECT max(id) FROM posthog_team"));
  auto rows = (*clickhouse)
                  ->Query(
                      "SELECT count(), uniqExact(team_id, id) FROM pg_embeddings FINAL WHERE "
                      "domain = 'action' "
                      "AND is_deleted = 0 AND team_id BETWEEN " +
                      teams);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, std::to_string(live) + "\t" + std::to_string(live) + "\n");
  (void)(*clickhouse)->Execute("ALTER TABLE pg_embeddings DELETE WHERE team_id BETWEEN " + teams);
}

TEST_F(SyncCrashTest, KilledWhileChangesStreamInARestartedFeedLeavesClickHouseExact) {
  const char* ch_url = std::getenv("VECSYNC_CLICKHOUSE_URL");
  ASSERT_NE(ch_url, nullptr);
  auto clickhouse = clients::ClickHouseClient::Create(ch_url);
  ASSERT_TRUE(clickhouse.ok());
  const int64_t first_team = 2000000 + (getpid() % 100000) * 10;
  SeedActions(first_team, 300);
  static const entities::EntityConfigRegistry domains = entities::EntityConfigRegistry::BuiltIn();
  static SyncEnvironment validation_only{.domains = &domains};
  ASSERT_TRUE(RegisterSyncEntityVectors(registry_.get(), &validation_only).ok());

  pid_t first = StartOfflineServer();
  ASSERT_EQ(WaitClosed(Start(kSyncEntityVectorsWorkflow, {{"domain", "action"}}), absl::Seconds(60))
                .status,
            engine::WorkflowStatus::kCompleted);
  // The feed is streaming once its slot exists and is active.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return QueryInt(
                   "SELECT count(*) FROM pg_replication_slots WHERE active AND "
                   "database = current_database()") == 1;
      },
      absl::Seconds(30)));

  // Edits stream in (renames, deletions, restorations) while the server is killed and restarted.
  std::atomic<bool> editing{true};
  std::atomic<int> edits{0};
  std::thread writer([&] {
    auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
    ASSERT_TRUE(conn.ok());
    for (int i = 0; editing; ++i) {
      const std::string sql =
          i % 7 == 3 ? absl::StrCat(
                           "UPDATE posthog_action SET deleted = NOT deleted, updated_at = now() "
                           "WHERE id = (SELECT min(id) + ",
                           i % 300, " FROM posthog_action)")
                     : absl::StrCat("UPDATE posthog_action SET name = 'Streamed edit ", i,
                                    "', updated_at = now() WHERE id = (SELECT min(id) + ",
                                    (i * 37) % 300, " FROM posthog_action)");
      ASSERT_TRUE((*conn)->Execute(sql).ok());
      ++edits;
      absl::SleepFor(absl::Milliseconds(5));
    }
  });
  absl::SleepFor(absl::Milliseconds(1500));
  ASSERT_EQ(kill(first, SIGKILL), 0);
  waitpid(first, nullptr, 0);
  absl::SleepFor(absl::Milliseconds(1000));
  pid_t second = StartOfflineServer();
  absl::SleepFor(absl::Milliseconds(1500));
  editing = false;
  writer.join();
  ASSERT_GT(edits.load(), 200);

  // ClickHouse converges to exactly the live approved actions, each with its last name.
  auto expected = [&] {
    auto conn = pool_->Acquire();
    auto r = (*conn)->Query(
        "SELECT s.id::text, s.name FROM posthog_action s JOIN posthog_team t ON t.id = s.team_id "
        "JOIN posthog_organization o ON o.id = t.organization_id "
        "WHERE o.is_ai_data_processing_approved AND NOT s.deleted ORDER BY 1");
    std::map<std::string, std::string> names;
    for (int i = 0; r.ok() && i < r->rows(); ++i) names[r->GetString(i, 0)] = r->GetString(i, 1);
    return names;
  }();
  const std::string teams = absl::StrCat(first_team, " AND ", first_team + 9);
  auto held = [&] {
    std::map<std::string, std::string> texts;
    auto body = (*clickhouse)
                    ->Query(
                        "SELECT id, text FROM pg_embeddings FINAL WHERE domain = 'action' AND "
                        "is_deleted = 0 AND team_id BETWEEN " +
                        teams + " FORMAT TSV");
    if (!body.ok()) return texts;
    for (absl::string_view line : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('\t', 1));
      texts[kv.first] = kv.second;
    }
    return texts;
  };
  auto exact = [&] {
    const auto texts = held();
    if (texts.size() != expected.size()) return false;
    for (const auto& [id, name] : expected) {
      auto it = texts.find(id);
      if (it == texts.end() || it->second.find(name) == std::string::npos) return false;
    }
    return true;
  };
  const bool converged = WaitUntil(exact, absl::Seconds(90));
  kill(second, SIGTERM);
  waitpid(second, nullptr, 0);
  EXPECT_TRUE(converged) << held().size() << " live in ClickHouse, " << expected.size()
                         << " live in scope";
  (void)(*clickhouse)->Execute("ALTER TABLE pg_embeddings DELETE WHERE team_id BETWEEN " + teams);
}

}  // namespace
}  // namespace vecsync::workflows
