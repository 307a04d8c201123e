// Sample source tables shaped like PostHog's, for the demo, tests and benchmarks.
//
// CreateSourceTables creates posthog_organization, posthog_team, posthog_action,
// posthog_cohort and posthog_eventdefinition when absent. SeedSourceTables adds varied,
// deterministic rows: actions with selectors, texts, URLs and property filters; nested cohort
// filters; some rows deleted; every fifth organization has not approved AI processing.
#ifndef VECSYNC_ENTITIES_SAMPLE_DATA_H_
#define VECSYNC_ENTITIES_SAMPLE_DATA_H_

#include <cstdint>

#include "absl/status/status.h"
#include "src/common/pg.h"

namespace vecsync::entities {

struct SeedOptions {
  int teams = 4;
  int64_t actions = 100;
  int64_t cohorts = 50;
  int64_t event_definitions = 100;
  // Team ids are first_team_id, first_team_id + 1, …; organization ids likewise.
  int64_t first_team_id = 1;
};

absl::Status CreateSourceTables(PgConnection& conn);
// Drops the sample tables (tests and benchmarks start from scratch with it).
absl::Status DropSourceTables(PgConnection& conn);
// INVALID_ARGUMENT for negative counts or fewer than one team.
absl::Status SeedSourceTables(PgConnection& conn, const SeedOptions& options);

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_SAMPLE_DATA_H_
