#include "src/engine/migrations.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "src/common/log.h"
#include "src/common/status_macros.h"

namespace vecsync::engine {
namespace {

// pg_advisory_lock key for migrations: "vecsync" in ASCII.
constexpr char kMigrationLockKey[] = "7955819911010599";

absl::StatusOr<std::vector<int>> MigrateLocked(PgConnection& conn) {
  RETURN_IF_ERROR(
      conn.Execute("CREATE SCHEMA IF NOT EXISTS vecsync;"
                   "CREATE TABLE IF NOT EXISTS vecsync.schema_migrations ("
                   "  version integer PRIMARY KEY, name text NOT NULL,"
                   "  applied_at timestamptz NOT NULL DEFAULT now())"));
  ASSIGN_OR_RETURN(PgResult rows, conn.Query("SELECT version FROM vecsync.schema_migrations"));
  std::set<int> applied;
  for (int i = 0; i < rows.rows(); ++i) applied.insert(static_cast<int>(rows.GetInt64(i, 0)));
  if (!applied.empty() && *applied.rbegin() > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database schema is at version ", *applied.rbegin(),
        " but this vecsync binary knows only up to ", LatestSchemaVersion(), ": upgrade vecsync"));
  }
  std::vector<int> newly_applied;
  for (const Migration& m : internal::EmbeddedMigrations()) {
    if (applied.contains(m.version)) continue;
    PgTransaction txn(conn);
    RETURN_IF_ERROR(txn.Begin());
    absl::Status s = conn.Execute(m.sql);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("migration ", m.name, " failed: ", s.message()));
    }
    RETURN_IF_ERROR(
        conn.Query("INSERT INTO vecsync.schema_migrations (version, name) VALUES ($1, $2)",
                   m.version, m.name)
            .status());
    RETURN_IF_ERROR(txn.Commit());
    LogInfo("applied migration", {{"version", std::to_string(m.version)}, {"name", m.name}});
    newly_applied.push_back(m.version);
  }
  return newly_applied;
}

}  // namespace

int LatestSchemaVersion() {
  int latest = 0;
  for (const Migration& m : internal::EmbeddedMigrations()) latest = std::max(latest, m.version);
  return latest;
}

absl::StatusOr<std::vector<int>> Migrate(PgConnection& conn) {
  RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_lock($1::bigint)", kMigrationLockKey).status());
  absl::StatusOr<std::vector<int>> result = MigrateLocked(conn);
  absl::Status unlock =
      conn.Query("SELECT pg_advisory_unlock($1::bigint)", kMigrationLockKey).status();
  if (result.ok() && !unlock.ok()) return unlock;
  return result;
}

}  // namespace vecsync::engine
