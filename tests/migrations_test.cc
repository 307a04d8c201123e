// Migration sets: each owner's applied once, in order, under concurrency; a newer database
// refused; and a database made before the sets were split (one numbering for every owner, as
// every vecsync up to the split made it) upgraded in place.
#include "src/engine/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "src/common/pg.h"
#include "tests/test_env.h"
#include "workflows/register_all.h"
#include "workflows/sync/sync_migrations.h"

namespace vecsync::engine {
namespace {

std::unique_ptr<PgConnection> Connect() {
  auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
  EXPECT_TRUE(conn.ok()) << conn.status();
  return std::move(*conn);
}

int64_t QueryInt(PgConnection& conn, const std::string& sql) {
  auto r = conn.Query(sql);
  EXPECT_TRUE(r.ok()) << r.status() << ": " << sql;
  return r.ok() && r->rows() > 0 ? r->GetInt64(0, 0) : -1;
}

// The migrations made before the split, in the order the single set of then numbered them.
std::vector<const Migration*> InLegacyOrder() {
  std::vector<const Migration*> all;
  for (const MigrationSet* set : workflows::AllMigrationSets()) {
    for (const Migration& m : set->migrations) {
      if (m.legacy_version > 0) all.push_back(&m);
    }
  }
  EXPECT_EQ(all.size(), 9u) << "the split's nine";
  std::sort(all.begin(), all.end(), [](const Migration* a, const Migration* b) {
    return a->legacy_version < b->legacy_version;
  });
  return all;
}

// A database as a vecsync from before the split left it, at legacy version `upto`.
void MakeLegacyDatabase(PgConnection& conn, int upto) {
  ASSERT_TRUE(conn.Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  ASSERT_TRUE(conn.Execute("CREATE SCHEMA vecsync; CREATE TABLE vecsync.schema_migrations ("
                           "  version integer PRIMARY KEY, name text NOT NULL,"
                           "  applied_at timestamptz NOT NULL DEFAULT now())")
                  .ok());
  for (const Migration* m : InLegacyOrder()) {
    if (m->legacy_version > upto) break;
    ASSERT_TRUE(conn.Execute(m->sql).ok()) << m->name;
    ASSERT_TRUE(conn.Query("INSERT INTO vecsync.schema_migrations (version, name) "
                           "VALUES ($1, $2)",
                           m->legacy_version, m->name)
                    .ok());
  }
}

TEST(MigrationsTest, EachSetAppliesOnceAndIsANoOpAfterwards) {
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  for (const MigrationSet* set : workflows::AllMigrationSets()) {
    absl::StatusOr<std::vector<int>> first = Migrate(*conn, *set);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->size(), set->migrations.size()) << set->component;
    absl::StatusOr<std::vector<int>> second = Migrate(*conn, *set);
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_TRUE(second->empty());
    EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM vecsync.schema_migrations WHERE component = '" +
                                  set->component + "'"),
              static_cast<int64_t>(set->migrations.size()));
  }
}

TEST(MigrationsTest, TheEnginesSetCreatesEngineTablesOnly) {
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  ASSERT_TRUE(Migrate(*conn, EngineMigrations()).ok());
  auto tables = conn->Query(
      "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
      "WHERE table_schema = 'vecsync'");
  ASSERT_TRUE(tables.ok());
  EXPECT_EQ(tables->GetString(0, 0), "executions,history,schedules,schema_migrations,steps")
      << "the engine's set made tables that are not the engine's";
}

TEST(MigrationsTest, ConcurrentServersApplyEachMigrationExactlyOnce) {
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  std::atomic<int> applied{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto c = PgConnection::Connect(testing::TestDatabaseUrl());
      if (!c.ok()) {
        ++failed;
        return;
      }
      auto r = workflows::MigrateAll(**c);
      if (!r.ok()) {
        ++failed;
        return;
      }
      applied += *r;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  size_t total = 0;
  for (const MigrationSet* set : workflows::AllMigrationSets()) total += set->migrations.size();
  EXPECT_EQ(applied.load(), static_cast<int>(total));
}

TEST(MigrationsTest, RefusesADatabaseFromANewerVecsync) {
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  ASSERT_TRUE(workflows::MigrateAll(*conn).ok());
  const MigrationSet& sync = workflows::SyncMigrations();
  ASSERT_TRUE(conn->Query("INSERT INTO vecsync.schema_migrations (component, version, name) "
                          "VALUES ('sync', $1, 'future')",
                          sync.latest() + 1)
                  .ok());
  absl::StatusOr<std::vector<int>> r = Migrate(*conn, sync);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("upgrade vecsync"), absl::string_view::npos);
  EXPECT_NE(r.status().message().find("sync"), absl::string_view::npos) << r.status();
  EXPECT_TRUE(Migrate(*conn, EngineMigrations()).ok()) << "another owner's set is not refused";
  ASSERT_TRUE(testing::ResetEngineSchema().ok());
}

TEST(MigrationsTest, ADatabaseFromBeforeTheSplitUpgradesInPlaceAndKeepsItsData) {
  // As every vecsync up to the split left it: nine migrations in one numbering, with a run, a
  // schedule and synced entities in it.
  auto conn = Connect();
  MakeLegacyDatabase(*conn, 9);
  ASSERT_TRUE(
      conn->Execute("INSERT INTO vecsync.executions (run_id, workflow_id, workflow_type, status, "
                    "  input) VALUES ('00000000-0000-0000-0000-000000000001', 'w', 't', "
                    "  'COMPLETED', '{}'); "
                    "INSERT INTO vecsync.schedules (schedule_id, cron, workflow_type, "
                    "  catchup_window_ms) VALUES ('s', '@daily', 't', 1000); "
                    "INSERT INTO vecsync.entity_state (domain, team_id, entity_id, "
                    "  content_hash, row_version) VALUES ('action', 1, '2', 'h', 7); "
                    "INSERT INTO vecsync.sync_watermarks VALUES ('action', 1, now())")
          .ok());

  absl::StatusOr<int> applied = workflows::MigrateAll(*conn);
  ASSERT_TRUE(applied.ok()) << applied.status();
  int made_since = 0;  // Migrations made after the split run; none of before does again.
  for (const MigrationSet* set : workflows::AllMigrationSets()) {
    for (const Migration& m : set->migrations) made_since += m.legacy_version == 0 ? 1 : 0;
  }
  EXPECT_EQ(*applied, made_since) << "a migration that had run ran again";
  EXPECT_EQ(QueryInt(*conn,
                     "SELECT count(*) FROM vecsync.schema_migrations "
                     "WHERE component = 'legacy'"),
            0);
  EXPECT_EQ(QueryInt(*conn,
                     "SELECT count(*) FROM vecsync.schema_migrations "
                     "WHERE component = 'engine'"),
            static_cast<int64_t>(EngineMigrations().migrations.size()));
  EXPECT_EQ(QueryInt(*conn,
                     "SELECT count(*) FROM vecsync.schema_migrations "
                     "WHERE component = 'sync'"),
            static_cast<int64_t>(workflows::SyncMigrations().migrations.size()));
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM vecsync.executions"), 1);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM vecsync.schedules"), 1);
  EXPECT_EQ(QueryInt(*conn, "SELECT row_version FROM vecsync.entity_state"), 7);
  EXPECT_EQ(QueryInt(*conn, "SELECT count(*) FROM vecsync.sync_watermarks"), 1);
  // And the next start finds it current.
  applied = workflows::MigrateAll(*conn);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, 0);
  ASSERT_TRUE(testing::ResetEngineSchema().ok());
}

TEST(MigrationsTest, RowsLeftInThePerEntityHandOffAreRetriedAfterTheUpgrade) {
  // A database at legacy version 8, with two entities queued in the per-entity hand-off table:
  // one never synced, one quarantined after failing before.
  auto conn = Connect();
  MakeLegacyDatabase(*conn, 8);
  ASSERT_TRUE(conn->Execute("INSERT INTO vecsync.entity_state (domain, team_id, entity_id, "
                            "  failures, quarantined, last_error) "
                            "VALUES ('action', 1, '2', 5, true, 'the model refused'); "
                            "INSERT INTO vecsync.pending_rows (domain, team_id, entity_id, text, "
                            "  properties, is_deleted, embedding_version, row_version) "
                            "VALUES ('action', 1, '1', 'a summary', '{}', false, 1, 10), "
                            "       ('action', 1, '2', 'another', '{}', false, 1, 11)")
                  .ok());

  ASSERT_TRUE(Migrate(*conn, EngineMigrations()).ok());
  absl::StatusOr<std::vector<int>> applied = Migrate(*conn, workflows::SyncMigrations());
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_GE(applied->size(), 1u);
  EXPECT_EQ(applied->front(), 7) << "the old 9, pending_batches, is the sync's 7";
  auto r = conn->Query(
      "SELECT entity_id, failures, quarantined, last_error FROM vecsync.entity_state "
      "ORDER BY entity_id");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), 2);
  // Both are selected by the next run's retry phase (failures > 0, not quarantined).
  EXPECT_EQ(r->GetInt64(0, 1), 1);
  EXPECT_FALSE(r->GetBool(0, 2));
  EXPECT_NE(r->GetString(0, 3).find("upgrade"), std::string::npos);
  EXPECT_EQ(r->GetInt64(1, 1), 5) << "the upgrade is not one more failure";
  EXPECT_FALSE(r->GetBool(1, 2));
  auto table = conn->Query("SELECT to_regclass('vecsync.pending_rows') IS NULL");
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->GetBool(0, 0)) << "an older vecsync must find nothing to queue into";
  ASSERT_TRUE(testing::ResetEngineSchema().ok());
}

}  // namespace
}  // namespace vecsync::engine
