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

}  // namespace
}  // namespace vecsync::engine
