// Versioned schema migrations in the `vecsync` PostgreSQL schema, one set per owner: the
// engine's (its tables only, src/engine/migrations/) and each workflow's that keeps state of its
// own (the sync's, workflows/sync/migrations/). Each owner owns its schema.
//
// A set is the files <folder>/NNNN_name.sql, embedded at build time (embed_migrations.cmake)
// and applied in version order. Each applied migration is recorded in vecsync.schema_migrations
// under its set's component. Migrate() holds a session advisory lock while it works, so two
// servers starting at once apply each migration exactly once.
//
// Example (where the program is composed):
//   RETURN_IF_ERROR(engine::Migrate(conn, engine::EngineMigrations()).status());
//   RETURN_IF_ERROR(engine::Migrate(conn, workflows::SyncMigrations()).status());
//
// Databases from before the sets were split recorded every migration in one numbering. Such a
// table is upgraded in place: its rows become component "legacy", and each set's migration that
// declares a legacy version (a "-- vecsync-legacy-version: N" line) counts as applied when the
// legacy row N is there, which then moves under the set's component.
#ifndef VECSYNC_ENGINE_MIGRATIONS_H_
#define VECSYNC_ENGINE_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/pg.h"

namespace vecsync::engine {

struct Migration {
  int version;
  std::string name;
  std::string sql;
  int legacy_version = 0;  // Its number in the single set of before the split; 0: none.
};

struct MigrationSet {
  std::string component;              // "engine", "sync", …: the owner.
  std::vector<Migration> migrations;  // In version order.

  // The newest version of the set.
  int latest() const { return migrations.empty() ? 0 : migrations.back().version; }
};

// Applies every migration of `set` not yet applied, each in its own transaction. Returns the
// versions it applied (empty when the schema was current). FAILED_PRECONDITION when the
// database holds a newer version of the set than this binary knows.
absl::StatusOr<std::vector<int>> Migrate(PgConnection& conn, const MigrationSet& set);

// The engine's tables: executions, steps, history, schedules.
const MigrationSet& EngineMigrations();

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_MIGRATIONS_H_
