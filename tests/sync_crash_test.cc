// SIGKILL of `vecsync server` in the middle of a sync, then a restart: the run finishes with
// exact counts, and ClickHouse holds every live entity once, nothing lost, nothing extra.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

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
  pid_t StartServer(const std::string& provider_url) {
    pid_t pid = fork();
    if (pid == 0) {
      freopen("/dev/null", "w", stderr);
      const std::string url = testing::TestDatabaseUrl();
      execl(VECSYNC_BINARY, VECSYNC_BINARY, "server", "--pg-url", url.c_str(), "--listen",
            "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--lease", "2s", "--summarizer",
            "openai", "--openai-base-url", provider_url.c_str(), "--embedder", "hashing",
            "--embedding-dimensions", "32", static_cast<char*>(nullptr));
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
  {
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(engine::Migrate(**conn, SyncMigrations()).ok());
    ASSERT_TRUE(entities::DropSourceTables(**conn).ok());
    entities::SeedOptions seed;
    seed.teams = 4;
    seed.actions = 600;
    seed.cohorts = 0;
    seed.event_definitions = 0;
    // Team ids unique to this run keep its rows apart in the shared ClickHouse table.
    seed.first_team_id = 1000000 + (getpid() % 100000) * 10;
    ASSERT_TRUE(entities::SeedSourceTables(**conn, seed).ok());
  }
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

}  // namespace
}  // namespace vecsync::workflows
