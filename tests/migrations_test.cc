#include "src/engine/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "src/common/pg.h"
#include "tests/test_env.h"

namespace vecsync::engine {
namespace {

std::unique_ptr<PgConnection> Connect() {
  auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
  EXPECT_TRUE(conn.ok()) << conn.status();
  return std::move(*conn);
}

TEST(MigrationsTest, AppliesOnceAndIsANoOpAfterwards) {
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  absl::StatusOr<std::vector<int>> first = Migrate(*conn);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), internal::EmbeddedMigrations().size());
  absl::StatusOr<std::vector<int>> second = Migrate(*conn);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->empty());
  auto r = conn->Query("SELECT count(*) FROM vecsync.schema_migrations");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->GetInt64(0, 0), static_cast<int64_t>(internal::EmbeddedMigrations().size()));
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
      auto r = Migrate(**c);
      if (!r.ok()) {
        ++failed;
        return;
      }
      applied += static_cast<int>(r->size());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<int>(internal::EmbeddedMigrations().size()));
}

TEST(MigrationsTest, RefusesADatabaseFromANewerVecsync) {
  auto conn = Connect();
  ASSERT_TRUE(testing::ResetEngineSchema().ok());
  ASSERT_TRUE(
      conn->Query("INSERT INTO vecsync.schema_migrations (version, name) VALUES ($1, 'future')",
                  LatestSchemaVersion() + 1)
          .ok());
  absl::StatusOr<std::vector<int>> r = Migrate(*conn);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("upgrade vecsync"), absl::string_view::npos);
}

TEST(MigrationsTest, RowsLeftInThePerEntityHandOffAreRetriedAfterTheUpgrade) {
  // A database at version 8, with two entities queued in the per-entity hand-off table: one
  // never synced, one quarantined after failing before.
  auto conn = Connect();
  ASSERT_TRUE(conn->Execute("DROP SCHEMA IF EXISTS vecsync CASCADE").ok());
  ASSERT_TRUE(conn->Execute("CREATE SCHEMA vecsync; CREATE TABLE vecsync.schema_migrations ("
                            "  version integer PRIMARY KEY, name text NOT NULL,"
                            "  applied_at timestamptz NOT NULL DEFAULT now())")
                  .ok());
  for (const Migration& m : internal::EmbeddedMigrations()) {
    if (m.version > 8) break;
    ASSERT_TRUE(conn->Execute(m.sql).ok()) << m.name;
    ASSERT_TRUE(conn->Query("INSERT INTO vecsync.schema_migrations (version, name) "
                            "VALUES ($1, $2)",
                            m.version, m.name)
                    .ok());
  }
  ASSERT_TRUE(conn->Execute("INSERT INTO vecsync.entity_state (domain, team_id, entity_id, "
                            "  failures, quarantined, last_error) "
                            "VALUES ('action', 1, '2', 5, true, 'the model refused'); "
                            "INSERT INTO vecsync.pending_rows (domain, team_id, entity_id, text, "
                            "  properties, is_deleted, embedding_version, row_version) "
                            "VALUES ('action', 1, '1', 'a summary', '{}', false, 1, 10), "
                            "       ('action', 1, '2', 'another', '{}', false, 1, 11)")
                  .ok());

  absl::StatusOr<std::vector<int>> applied = Migrate(*conn);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->front(), 9);
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
