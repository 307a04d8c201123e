// Versioned schema migrations for the `vecsync` PostgreSQL schema.
//
// The migrations are the files src/engine/migrations/NNNN_name.sql, embedded at build time and
// applied in version order. Each applied version is recorded in vecsync.schema_migrations.
// Migrate() holds a session advisory lock while it works, so two servers starting at once
// apply each migration exactly once.
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
};

// Applies every embedded migration not yet applied, each in its own transaction. Returns the
// versions it applied (empty when the schema was current). FAILED_PRECONDITION when the
// database holds a newer schema than this binary knows.
absl::StatusOr<std::vector<int>> Migrate(PgConnection& conn);

// The newest version this binary knows.
int LatestSchemaVersion();

namespace internal {
// Defined in the generated migrations_data.cc.
const std::vector<Migration>& EmbeddedMigrations();
}  // namespace internal

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_MIGRATIONS_H_
