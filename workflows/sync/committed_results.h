// What activity attempts that committed their work returned (vecsync.committed_steps), so that
// a retry of an attempt that committed and then died (or timed out before it reported) returns
// that result instead of doing the work again: queueing a batch twice, or flushing other
// batches under its name while those it flushed went uncounted.
//
// An attempt records its result in the transaction (or the statement) that commits its work;
// the first to record wins, and a later one finds it there and rolls back. Attempts are
// numbered anew when a worker hands an activity back, so the attempt's number tells nothing:
// every attempt that may redo committed work looks.
#ifndef VECSYNC_WORKFLOWS_SYNC_COMMITTED_RESULTS_H_
#define VECSYNC_WORKFLOWS_SYNC_COMMITTED_RESULTS_H_

#include <optional>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "src/engine/activity_context.h"

namespace vecsync::workflows {

// What an attempt of the activity `info` describes recorded when it committed, or nullopt.
absl::StatusOr<std::optional<Json>> FindCommittedResult(PgConnection& conn,
                                                        const engine::ActivityInfo& info);

// Records `result` as what the attempt `info` returns, in the transaction open on `conn`.
// Returns nullopt when it was recorded; the result another attempt recorded first otherwise
// (the caller then rolls back what else it wrote, and returns that).
absl::StatusOr<std::optional<Json>> RecordCommittedResult(PgConnection& conn,
                                                          const engine::ActivityInfo& info,
                                                          const Json& result);

// The result another attempt of `info`'s activity recorded, once recording this attempt's
// conflicted with it. INTERNAL when it is not there after all.
absl::StatusOr<std::optional<Json>> ResultOfTheAttemptThatCommitted(
    PgConnection& conn, const engine::ActivityInfo& info);

// Forgets what attempts of runs that no longer run recorded: no retry of theirs will come.
absl::Status ForgetResultsOfEndedRuns(PgConnection& conn);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_COMMITTED_RESULTS_H_
