// sync-process: summarizes a batch of selected entities and queues what ClickHouse should get
// (ProcessInput → ProcessResult).
//
// For each key it reads the source row (in scope only) and the ledger entry, then:
//   - gone, soft-deleted or out of scope, and synced before: a tombstone, with no LLM call;
//   - content (rendered entity, summarizer, prompt) unchanged: the recorded summary is reused,
//     the run's version's or another version's (a new embedding model pays for no summary);
//     otherwise the summarizer is asked (a provider's summaries are recorded 16 at a time as
//     they arrive, so a retry never pays for one twice);
//   - vector inputs (embedded text, model, dimensions, embedding version) unchanged: skipped,
//     or, when only its properties changed, written again with the vector ClickHouse holds;
//   - otherwise queued to be embedded by a flush.
// The batch is queued as pending batches (pending_batches.h) in the statement that records the
// attempt's result, with the batch's failures in the same transaction: a retry of an attempt
// that committed returns that result, and queues nothing twice. One bad item never fails its
// batch; a provider outage fails the attempt (the engine retries it); a refused key fails the
// run.
#ifndef VECSYNC_WORKFLOWS_SYNC_PROCESS_H_
#define VECSYNC_WORKFLOWS_SYNC_PROCESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/json.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/entity_key.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::workflows {

struct ProcessInput {
  std::string domain;
  std::vector<EntityKey> keys;
  int embedding_version = 1;
  // The domain has other embedding versions, whose summaries may serve this one's content; false
  // spares every batch of a domain's only version the lookup.
  bool other_versions = true;
  // Rows per pending batch, so a flush fills an insert with whole batches; 0: one batch.
  int insert_batch_size = 0;

  Json ToJson() const;
  static absl::StatusOr<ProcessInput> FromJson(const Json& json);
};

// Every key ends as exactly one of embedded-to-be (queued without a vector), refreshed,
// skipped_unchanged, failed or tombstoned.
struct ProcessResult {
  int64_t selected = 0;
  int64_t summarized = 0;         // Summaries made (paid for, with a provider).
  int64_t refreshed = 0;          // Queued with the vector ClickHouse holds: properties changed.
  int64_t skipped_unchanged = 0;  // Nothing to do (or nothing to tombstone).
  int64_t failed = 0;             // Recorded against the entity, retried by later runs.
  int64_t tombstoned = 0;
  int64_t queued = 0;  // Rows queued for the flushes: to embed, refreshed and tombstones.
  // Tokens the summarizer's provider reported for this batch's summaries (0 for a local one).
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // A result recorded by an older vecsync, whose sync-process embedded and inserted its rows
  // itself: how many it embedded (its results have no `queued`). 0 otherwise.
  int64_t embedded_by_older_vecsync = 0;

  Json ToJson() const;
  static absl::StatusOr<ProcessResult> FromJson(const Json& json);
};

inline constexpr engine::ActivityType<ProcessInput, ProcessResult> kProcessActivity{"sync-process"};

// What sync-process would make of a batch now, decided as it decides, without asking a provider
// or writing anything. Tokens are estimates (four bytes a token): a summary to be made is taken
// to be as long as the entity's last one, or kEstimatedSummaryTokens.
struct ProcessPlan {
  int64_t selected = 0;
  int64_t summarize = 0;  // Summaries to pay for.
  // Vectors to make: for new summaries, and for summaries kept. An upper bound: a new summary
  // that comes out as the old one keeps its vector.
  int64_t embed = 0;
  int64_t refresh = 0;  // Written again with the vector ClickHouse holds (properties changed).
  int64_t tombstone = 0;
  int64_t unchanged = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t embedding_tokens = 0;

  void Add(const ProcessPlan& other);
};

inline constexpr int64_t kEstimatedSummaryTokens = 80;

absl::StatusOr<ProcessPlan> PlanProcess(const SyncEnvironment& env, const ProcessInput& in);

absl::Status RegisterProcessActivity(engine::Registry* registry, const SyncEnvironment* env);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_PROCESS_H_
