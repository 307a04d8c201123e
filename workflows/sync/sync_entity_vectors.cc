#include "workflows/sync/sync_entity_vectors.h"

#include <algorithm>
#include <vector>

#include "absl/time/clock.h"
#include "src/common/status_macros.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/flush.h"
#include "workflows/sync/process.h"
#include "workflows/sync/selection.h"
#include "workflows/sync/sync_input.h"
#include "workflows/sync/sync_position.h"
#include "workflows/sync/watermark.h"

namespace vecsync::workflows {
namespace {

using engine::ActivityOptions;
using engine::TypedHandle;
using engine::WorkflowContext;

// Flushes in flight at once: one can embed or insert while another records what it inserted.
constexpr int kMaxFlushes = 2;

// Entities per sync-process with a local summarizer, unless the input says otherwise. Its
// summaries cost nothing, but every activity costs ~3 ms of CPU between PostgreSQL and vecsync
// (claiming, reading, queueing, recording): at PostHog's 96 that was a third of a sync's cost.
constexpr int kLocalSummarizeBatchSize = 1000;
// With a provider: PostHog's default, which sizes the LLM work one activity does.
constexpr int kProviderSummarizeBatchSize = 96;

// A page holds enough keys for every parallel request, twice over.
constexpr int kMinPageSize = 100;
// Pages between checkpoints.
constexpr int kPagesPerCheckpoint = 20;

// The longest a run waits between two looks at whether its domain's turn has come.
constexpr absl::Duration kMaxTurnWait = absl::Seconds(10);

ActivityOptions Options(absl::Duration start_to_close) {
  ActivityOptions o;
  o.start_to_close_timeout = start_to_close;
  o.heartbeat_timeout = absl::Minutes(5);
  o.retry_policy.initial_interval = absl::Seconds(1);
  o.retry_policy.maximum_interval = absl::Minutes(1);
  o.retry_policy.maximum_attempts = 10;
  o.retry_policy.non_retryable_error_types = {engine::kBadInputErrorType, "INVALID_ARGUMENT",
                                              "UNAUTHENTICATED", "PERMISSION_DENIED"};
  return o;
}

// For activities that call the provider (sync-process summarizes, sync-flush embeds): a
// rate-limited provider can take hours over a batch; heartbeats, not this timeout, tell a live
// attempt from a dead one.
ActivityOptions ProviderOptions() { return Options(absl::Hours(6)); }

class SyncRun {
 public:
  SyncRun(WorkflowContext& ctx, SyncInput in) : ctx_(ctx), in_(std::move(in)) {}

  absl::StatusOr<Json> Run(bool hard_deletes) {
    if (!ctx_.checkpoint().is_null()) {
      ASSIGN_OR_RETURN(position_, SyncPosition::FromJson(ctx_.checkpoint()));
    }
    // Runs that began before flushes ran in parallel keep one at a time, or their replay would
    // start a flush where the run recorded something else.
    if (!position_.max_flushes) {
      ASSIGN_OR_RETURN(int version, ctx_.GetVersion("parallel-flushes", 1));
      position_.max_flushes = version >= 1 ? kMaxFlushes : 1;
    }
    // Runs that began before they converged to the desired state walk as they were recorded.
    if (!position_.converges) {
      if (position_.snapshot_us) {
        position_.converges = false;  // A checkpoint of an older vecsync, past its start.
      } else {
        ASSIGN_OR_RETURN(int version, ctx_.GetVersion("converge", 1));
        position_.converges = version >= 1;
      }
    }
    if (!position_.snapshot_us) RETURN_IF_ERROR(Prepare());
    // (A checkpoint of a vecsync from before local batches has no size.)
    summarize_batch_size_ = position_.summarize_batch_size.value_or(
        in_.summarize_batch_size.value_or(kProviderSummarizeBatchSize));
    const std::vector<SelectPhase> phases = Phases(hard_deletes);
    int pages_since_checkpoint = 0;
    while (true) {
      ASSIGN_OR_RETURN(
          SelectResult page,
          engine::ExecuteActivity(ctx_, kSelectActivity, SelectPage(), Options(absl::Minutes(5))));
      position_.listed += static_cast<int64_t>(page.keys.size());
      for (EntityKey& key : page.keys) {
        batch_.push_back(std::move(key));
        if (static_cast<int>(batch_.size()) == summarize_batch_size_) {
          RETURN_IF_ERROR(StartBatch());
        }
      }
      position_.cursor = page.cursor;
      if (page.done) {
        if (!batch_.empty()) RETURN_IF_ERROR(StartBatch());
        auto next = std::find(phases.begin(), phases.end(), position_.phase) + 1;
        if (next == phases.end()) {
          selection_done_ = true;
          break;
        }
        if (*position_.converges) RETURN_IF_ERROR(FinishPhase());
        position_.phase = *next;
        position_.cursor = SelectCursor();
      }
      if (in_.delay_between_batches > 0) {
        RETURN_IF_ERROR(ctx_.Sleep(absl::Seconds(in_.delay_between_batches)));
      }
      // Checkpoint now and then, to keep the history bounded. A checkpoint needs every activity
      // closed, and waiting out a ClickHouse insert would idle the summarizing: once one is
      // due, no new flush starts, and the checkpoint waits for those in flight to finish on
      // their own while the pages go on. (A hold still on after the last page is lifted by
      // FlushPending().)
      if (++pages_since_checkpoint >= kPagesPerCheckpoint) hold_flushes_ = true;
      if (hold_flushes_ && batch_.empty() && flushes_.empty()) {
        RETURN_IF_ERROR(Drain());
        RETURN_IF_ERROR(ctx_.Checkpoint(position_.ToJson()));
        hold_flushes_ = false;
        pages_since_checkpoint = 0;
      }
    }
    RETURN_IF_ERROR(FlushPending());
    if (*position_.converges || !in_.filtered()) {
      FinishInput finish{in_.domain, version(), std::nullopt, position_.changes_upto};
      // Only a walk by change time of the whole domain moves its watermark; a walk of every row
      // (by change time from the beginning, or reconcile) completes the version it made.
      if (in_.mode == SyncMode::kIncremental && !in_.filtered()) {
        finish.snapshot_us = *position_.snapshot_us;
      }
      finish.completes_version =
          *position_.converges && !in_.filtered() &&
          (in_.mode == SyncMode::kReconcile ||
           (in_.mode == SyncMode::kIncremental && position_.watermark_us < 0));
      RETURN_IF_ERROR(
          engine::ExecuteActivity(ctx_, kFinishActivity, finish, Options(absl::Minutes(1)))
              .status());
    }
    stage_ = "done";
    RETURN_IF_ERROR(Report());
    return position_.counters.ToJson();
  }

 private:
  // The phases the run walks, in order (selection.h).
  std::vector<SelectPhase> Phases(bool hard_deletes) const {
    if (!*position_.converges) {
      std::vector<SelectPhase> phases = {SelectPhase::kRetry, SelectPhase::kChanged};
      if (hard_deletes) phases.push_back(SelectPhase::kHardDeleted);
      return phases;
    }
    std::vector<SelectPhase> phases = {SelectPhase::kRetry};
    if (position_.changes_upto > 0) phases.push_back(SelectPhase::kQueued);
    if (!position_.changed_teams.empty()) {
      phases.push_back(SelectPhase::kScopeTeams);
      phases.push_back(SelectPhase::kScopeTeamsGone);
    }
    switch (in_.mode) {
      case SyncMode::kIncremental:
        phases.push_back(SelectPhase::kChanged);
        if (hard_deletes) phases.push_back(SelectPhase::kHardDeleted);
        break;
      case SyncMode::kChanges:
        break;
      case SyncMode::kReconcile:
        phases.push_back(SelectPhase::kReconcile);
        phases.push_back(SelectPhase::kHardDeleted);
        break;
    }
    return phases;
  }

  // Fixes the run's snapshot, watermark and queued changes, and sizes its batches, from
  // sync-prepare's recorded result: a replay sees what the run saw. While another run holds the
  // domain, this one waits its turn.
  absl::Status Prepare() {
    ASSIGN_OR_RETURN(absl::Time now, ctx_.Now());
    PrepareInput input{in_.domain, in_.embedding_version};
    // (Runs from before versions were resolved synced their input's, 1 by default.)
    if (!*position_.converges && !input.embedding_version) input.embedding_version = 1;
    input.take_changes = *position_.converges && !in_.filtered();
    input.mode = in_.mode;
    PrepareResult prepared;
    absl::Duration wait = absl::Seconds(1);
    while (true) {
      ASSIGN_OR_RETURN(prepared, engine::ExecuteActivity(ctx_, kPrepareActivity, input,
                                                         Options(absl::Minutes(1))));
      if (!prepared.held_by) break;
      RETURN_IF_ERROR(ctx_.SetProgress({{"domain", in_.domain},
                                        {"phase", "waiting"},
                                        {"waiting_for_run", *prepared.held_by},
                                        {"done", 0},
                                        {"total", 0}}));
      RETURN_IF_ERROR(ctx_.Sleep(wait));
      wait = std::min(wait * 2, kMaxTurnWait);
    }
    position_.snapshot_us = absl::ToUnixMicros(in_.start_dt.value_or(
        prepared.snapshot_us ? absl::FromUnixMicros(*prepared.snapshot_us) : now));
    // A full walk for a new embedding version or a first run; from the watermark otherwise.
    position_.embedding_version =
        prepared.embedding_version.value_or(in_.embedding_version.value_or(1));
    position_.other_versions = prepared.other_versions;
    position_.watermark_us = prepared.watermark_us.value_or(-1);
    position_.overlap_us = prepared.overlap_us;
    position_.datetime64 = prepared.datetime64;
    position_.changes_upto = prepared.changes_upto;
    position_.changed_teams = std::move(prepared.changed_teams);
    position_.summarize_batch_size = in_.summarize_batch_size.value_or(
        prepared.summarizer_local ? kLocalSummarizeBatchSize : kProviderSummarizeBatchSize);
    return absl::OkStatus();
  }

  // The embedding version the run syncs.
  int version() const {
    return position_.embedding_version.value_or(in_.embedding_version.value_or(1));
  }

  SelectInput SelectPage() const {
    SelectInput in;
    in.domain = in_.domain;
    in.phase = position_.phase;
    in.cursor = position_.cursor;
    in.limit = std::max(summarize_batch_size_ * in_.max_parallel_requests * 2, kMinPageSize);
    in.snapshot_us = *position_.snapshot_us;
    in.watermark_us = position_.watermark_us;
    in.overlap_us = position_.overlap_us;
    in.embedding_version = version();
    in.changes_upto = position_.changes_upto;
    in.filter = {in_.team_ids, in_.entity_ids};
    if (position_.phase == SelectPhase::kScopeTeams ||
        position_.phase == SelectPhase::kScopeTeamsGone) {
      in.filter = {position_.changed_teams, {}};
    }
    return in;
  }

  // Starts a sync-process for the keys gathered, first waiting for a free slot.
  absl::Status StartBatch() {
    while (static_cast<int>(processes_.size()) >= in_.max_parallel_requests) {
      RETURN_IF_ERROR(CollectOne());
    }
    ProcessInput input{in_.domain, std::move(batch_), version(), position_.other_versions,
                       in_.insert_batch_size};
    batch_.clear();
    ASSIGN_OR_RETURN(TypedHandle<ProcessResult> h,
                     engine::StartActivity(ctx_, kProcessActivity, input, ProviderOptions()));
    processes_.push_back(h);
    return absl::OkStatus();
  }

  // Waits for one sync-process or flush in flight. A finished sync-process adds its counts;
  // once enough rows wait, a flush starts beside the processing (up to max_flushes at a time,
  // each taking rows the others have not), so embedding and ClickHouse inserts overlap the
  // summarizing of later batches, and one another.
  absl::Status CollectOne() {
    std::vector<engine::ActivityHandle> handles;
    for (const auto& h : processes_) handles.push_back(h.handle);
    for (const auto& h : flushes_) handles.push_back(h.handle);
    ASSIGN_OR_RETURN(size_t i, ctx_.AwaitAny(handles));
    if (i >= processes_.size()) {
      const auto flush = flushes_.begin() + static_cast<std::ptrdiff_t>(i - processes_.size());
      ASSIGN_OR_RETURN(FlushResult flushed, engine::Await(ctx_, *flush));
      flushes_.erase(flush);
      position_.counters.Add(flushed);
    } else {
      const auto process = processes_.begin() + static_cast<std::ptrdiff_t>(i);
      ASSIGN_OR_RETURN(ProcessResult processed, engine::Await(ctx_, *process));
      processes_.erase(process);
      position_.counters.Add(processed);
      position_.pending += processed.queued;
    }
    RETURN_IF_ERROR(StartFlushes());
    return Report();
  }

  // Starts a flush per insert's worth of rows waiting, as slots free up, unless a checkpoint
  // holds them; whatever else waits goes with a later flush or the final ones.
  absl::Status StartFlushes() {
    while (position_.pending >= in_.insert_batch_size &&
           static_cast<int>(flushes_.size()) < *position_.max_flushes && !hold_flushes_) {
      RETURN_IF_ERROR(StartFlush());
      position_.pending -= in_.insert_batch_size;
    }
    return absl::OkStatus();
  }

  // Starts a flush of up to one insert of the run's own rows, beside the others in flight.
  absl::Status StartFlush() {
    ASSIGN_OR_RETURN(
        TypedHandle<FlushResult> flush,
        engine::StartActivity(ctx_, kFlushActivity, Flush(/*max_batches=*/1, /*final=*/false),
                              ProviderOptions()));
    flushes_.push_back(flush);
    return absl::OkStatus();
  }

  // Ends a phase before the next begins: every sync-process done and every row it queued
  // flushed and recorded. A key may come up again in the next phase (an entity of a team whose
  // scope changed may also have changed since the watermark); its sync-process must find what
  // this phase made of it in the ledger, or a summary and an embedding would be paid twice.
  absl::Status FinishPhase() {
    hold_flushes_ = false;
    while (!processes_.empty()) RETURN_IF_ERROR(CollectOne());
    while (position_.pending > 0) {
      while (static_cast<int>(flushes_.size()) >= *position_.max_flushes) {
        RETURN_IF_ERROR(CollectOne());
      }
      RETURN_IF_ERROR(StartFlush());
      position_.pending -= std::min<int64_t>(position_.pending, in_.insert_batch_size);
    }
    return Drain();
  }

  // Waits for every sync-process and flush in flight.
  absl::Status Drain() {
    while (!processes_.empty() || !flushes_.empty()) RETURN_IF_ERROR(CollectOne());
    return absl::OkStatus();
  }

  // Inserts every row still waiting, the run's own and then those ended runs left, once every
  // batch has started. Flushes go on as during the run until every batch has ended, even if a
  // checkpoint held them at the end: what queued up behind it goes out two inserts at a time,
  // not one after another. Once every batch has ended no more rows come, and what waits short
  // of a full insert goes out at once, beside the flushes still running, rather than alone
  // after them. Then final flushes take the rest (what ended runs left), one insert each,
  // until a flush leaves nothing: a flush that fails and is retried redoes, and counts, its own
  // insert only.
  absl::Status FlushPending() {
    if (*position_.max_flushes > 1) RETURN_IF_ERROR(FlushPastTheLastHold());
    RETURN_IF_ERROR(Drain());
    stage_ = "storing";
    RETURN_IF_ERROR(Report());
    const int max_batches = *position_.max_flushes > 1 ? 1 : 0;
    while (true) {
      ASSIGN_OR_RETURN(
          FlushResult flushed,
          engine::ExecuteActivity(ctx_, kFlushActivity, Flush(max_batches, /*final=*/true),
                                  ProviderOptions()));
      position_.counters.Add(flushed);
      RETURN_IF_ERROR(Report());
      if (max_batches == 0) break;
      // (An older vecsync's flush result has no "more": it took less than a full insert when
      // nothing was left.)
      if (!flushed.more.value_or(flushed.inserted + flushed.failed >= in_.insert_batch_size)) {
        break;
      }
    }
    position_.pending = 0;
    return absl::OkStatus();
  }

  // Runs that reached the end of their pages under an older vecsync replay as they ran: before
  // version 1 they held their flushes to the end; at version 1 the short insert was the final
  // flush's; runs that began before parallel flushes flush all in one activity.
  absl::Status FlushPastTheLastHold() {
    ASSIGN_OR_RETURN(int version, ctx_.GetVersion("flushes-past-the-last-hold", 2));
    if (version >= 1) {
      hold_flushes_ = false;  // No checkpoint comes now.
      RETURN_IF_ERROR(StartFlushes());
    }
    if (version >= 2) {
      while (!processes_.empty()) RETURN_IF_ERROR(CollectOne());
      if (position_.pending > 0) {
        while (static_cast<int>(flushes_.size()) >= *position_.max_flushes) {
          RETURN_IF_ERROR(CollectOne());
        }
        RETURN_IF_ERROR(StartFlush());
        position_.pending = 0;
      }
    }
    return absl::OkStatus();
  }

  // `max_batches` 0 flushes until nothing waits. A final flush also takes what other runs left.
  FlushInput Flush(int max_batches, bool final) const {
    FlushInput in;
    in.domain = in_.domain;
    in.insert_batch_size = in_.insert_batch_size;
    in.embed_batch_size = in_.embed_batch_size;
    in.max_parallel_requests = in_.max_parallel_requests;
    in.max_batches = max_batches;
    in.take_carried_over = final;
    in.datetime64 = position_.datetime64;
    return in;
  }

  // The progress document. `done`/`total` drive progress bars: `done` counts the entities
  // through sync-process (summarized, or found unchanged, failed or gone: the slow, paid part)
  // and those other runs left, flushed; `total`, what the run selected, is there once the
  // selection has ended, and not before (it grows as the walk goes). `inserted` counts what
  // reached ClickHouse; the phase is "storing" while the last flushes run, then "done".
  absl::Status Report() {
    const SyncCounts& c = position_.counters;
    Json progress = c.ToJson();
    progress["domain"] = in_.domain;
    progress["phase"] = stage_ != nullptr ? stage_ : SelectPhaseName(position_.phase);
    progress["in_flight"] = processes_.size() + flushes_.size();
    progress["done"] = c.selected + c.carried_over;
    if (selection_done_) progress["total"] = position_.listed + c.carried_over;
    return ctx_.SetProgress(progress);
  }

  WorkflowContext& ctx_;
  const SyncInput in_;
  SyncPosition position_;
  std::vector<EntityKey> batch_;                       // Keys gathered for the next sync-process.
  std::vector<TypedHandle<ProcessResult>> processes_;  // The sync-processes in flight.
  std::vector<TypedHandle<FlushResult>> flushes_;      // The sync-flushes in flight.
  int summarize_batch_size_ = kProviderSummarizeBatchSize;  // Entities per sync-process.
  bool hold_flushes_ = false;    // A checkpoint is due: start no flush until it is taken.
  bool selection_done_ = false;  // Every phase walked: the total is known.
  const char* stage_ = nullptr;  // Past the walk: "storing" (the last flushes), then "done".
};

}  // namespace

absl::Status RegisterSyncEntityVectors(engine::Registry* registry, const SyncEnvironment* env) {
  RETURN_IF_ERROR(RegisterWatermarkActivities(registry, env));
  RETURN_IF_ERROR(RegisterSelectActivity(registry, env));
  RETURN_IF_ERROR(RegisterProcessActivity(registry, env));
  RETURN_IF_ERROR(RegisterFlushActivity(registry, env));
  const entities::EntityConfigRegistry* domains = env->domains;
  return registry->RegisterWorkflow(
      kSyncEntityVectorsWorkflow,
      [domains](WorkflowContext& ctx, const Json& input) -> absl::StatusOr<Json> {
        ASSIGN_OR_RETURN(SyncInput in, SyncInput::Parse(input, *domains));
        ASSIGN_OR_RETURN(const entities::EntityConfig* config, domains->Find(in.domain));
        return SyncRun(ctx, std::move(in)).Run(config->hard_deletes());
      },
      [domains, pool = env->pool](const Json& input) -> absl::Status {
        ASSIGN_OR_RETURN(SyncInput in, SyncInput::Parse(input, *domains));
        RETURN_IF_ERROR(in.CheckStart(absl::Now()));
        // (A registry that only validates inputs has no database to ask.)
        if (pool == nullptr) return absl::OkStatus();
        ASSIGN_OR_RETURN(PgPool::Lease conn, pool->Acquire());
        if (!in.embedding_version) return absl::OkStatus();
        return CheckEmbeddingVersion(*conn, in.domain, *in.embedding_version);
      });
}

}  // namespace vecsync::workflows
