#include "src/engine/migrations.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "src/common/log.h"
#include "src/common/status_macros.h"

namespace vecsync::engine {
namespace {

// pg_advisory_lock key for migrations: "vecsync" in ASCII.
constexpr char kMigrationLockKey[] = "7955819911010599";

// The component of the rows a table from before the split holds.
constexpr char kLegacyComponent[] = "legacy";

// Creates the table of applied migrations, or upgrades one from before the split (keyed by
// version alone) in place: its rows become the legacy component's.
absl::Status EnsureMigrationsTable(PgConnection& conn) {
  RETURN_IF_ERROR(
      conn.Execute("CREATE SCHEMA IF NOT EXISTS vecsync;"
                   "CREATE TABLE IF NOT EXISTS vecsync.schema_migrations ("
                   "  component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
                   "  applied_at timestamptz NOT NULL DEFAULT now(),"
                   "  PRIMARY KEY (component, version))"));
  ASSIGN_OR_RETURN(PgResult has_component,
                   conn.Query("SELECT count(*) FROM information_schema.columns "
                              "WHERE table_schema = 'vecsync' AND table_name = "
                              "'schema_migrations' AND column_name = 'component'"));
  if (has_component.GetInt64(0, 0) == 1) return absl::OkStatus();
  PgTransaction txn(conn);
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(conn.Execute(absl::StrCat(
      "ALTER TABLE vecsync.schema_migrations ADD COLUMN component text NOT NULL DEFAULT '",
      kLegacyComponent,
      "';"
      "ALTER TABLE vecsync.schema_migrations ALTER COLUMN component DROP DEFAULT;"
      "ALTER TABLE vecsync.schema_migrations DROP CONSTRAINT schema_migrations_pkey;"
      "ALTER TABLE vecsync.schema_migrations ADD PRIMARY KEY (component, version)")));
  LogInfo("schema_migrations: recorded migrations moved to the legacy set", {});
  return txn.Commit();
}

// Records `m` of `set` as applied, in the transaction open on `conn`; a legacy row it replaces
// goes.
absl::Status RecordApplied(PgConnection& conn, const MigrationSet& set, const Migration& m) {
  RETURN_IF_ERROR(conn.Query("INSERT INTO vecsync.schema_migrations (component, version, name) "
                             "VALUES ($1, $2, $3)",
                             set.component, m.version, m.name)
                      .status());
  if (m.legacy_version == 0) return absl::OkStatus();
  return conn
      .Query("DELETE FROM vecsync.schema_migrations WHERE component = $1 AND version = $2",
             kLegacyComponent, m.legacy_version)
      .status();
}

absl::StatusOr<std::vector<int>> MigrateLocked(PgConnection& conn, const MigrationSet& set) {
  RETURN_IF_ERROR(EnsureMigrationsTable(conn));
  ASSIGN_OR_RETURN(PgResult rows,
                   conn.Query("SELECT component, version FROM vecsync.schema_migrations "
                              "WHERE component IN ($1, $2)",
                              set.component, kLegacyComponent));
  std::set<int> applied, legacy;
  for (int i = 0; i < rows.rows(); ++i) {
    (rows.Get(i, 0) == kLegacyComponent ? legacy : applied)
        .insert(static_cast<int>(rows.GetInt64(i, 1)));
  }
  if (!applied.empty() && *applied.rbegin() > set.latest()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database's ", set.component, " schema is at version ", *applied.rbegin(),
        " but this vecsync binary knows only up to ", set.latest(), ": upgrade vecsync"));
  }
  std::vector<int> newly_applied;
  for (const Migration& m : set.migrations) {
    if (applied.contains(m.version)) continue;
    PgTransaction txn(conn);
    RETURN_IF_ERROR(txn.Begin());
    // Applied before the split, under its old number: recorded under its set, not run again.
    const bool applied_before_the_split =
        m.legacy_version != 0 && legacy.contains(m.legacy_version);
    if (!applied_before_the_split) {
      absl::Status s = conn.Execute(m.sql);
      if (!s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat(set.component, " migration ", m.name, " failed: ", s.message()));
      }
    }
    RETURN_IF_ERROR(RecordApplied(conn, set, m));
    RETURN_IF_ERROR(txn.Commit());
    if (applied_before_the_split) continue;
    LogInfo(
        "applied migration",
        {{"component", set.component}, {"version", std::to_string(m.version)}, {"name", m.name}});
    newly_applied.push_back(m.version);
  }
  return newly_applied;
}

}  // namespace

absl::StatusOr<std::vector<int>> Migrate(PgConnection& conn, const MigrationSet& set) {
  RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_lock($1::bigint)", kMigrationLockKey).status());
  absl::StatusOr<std::vector<int>> result = MigrateLocked(conn, set);
  absl::Status unlock =
      conn.Query("SELECT pg_advisory_unlock($1::bigint)", kMigrationLockKey).status();
  if (result.ok() && !unlock.ok()) return unlock;
  return result;
}

}  // namespace vecsync::engine
