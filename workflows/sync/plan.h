// What a reconcile run of a domain would do if it started now, before anything is paid for: the
// entities it would select (the same walks: failed ones, queued changes, every source row the
// ledger does not describe, rows gone from the source), and what sync-process would decide for
// each (process.h, PlanProcess): summaries to pay for, vectors to make, rows to refresh or
// tombstone, with estimated tokens. Nothing is written and no provider is asked.
//
// A reconcile run started right after, with no edits in between and no provider failing,
// selects, summarizes, embeds, refreshes and tombstones exactly these counts.
//
//   ASSIGN_OR_RETURN(SyncPlan plan, PlanReconcile(env, "action", {}));
#ifndef VECSYNC_WORKFLOWS_SYNC_PLAN_H_
#define VECSYNC_WORKFLOWS_SYNC_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "workflows/sync/embedding_versions.h"
#include "workflows/sync/process.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

struct SyncPlan {
  std::string domain;
  // The version a run would sync: the one of the server's profile, or, when none is, a new one
  // (`new_version`), built beside the active one.
  int embedding_version = 0;
  bool new_version = false;
  EmbeddingProfile profile;
  ProcessPlan counts;
};

// The plan for `domain`, of the teams `team_ids` (empty: every team).
absl::StatusOr<SyncPlan> PlanReconcile(const SyncEnvironment& env, const std::string& domain,
                                       const std::vector<int64_t>& team_ids);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_PLAN_H_
