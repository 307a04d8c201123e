#include "workflows/sync/process.h"

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "src/clients/openai_client.h"
#include "src/clients/token_usage.h"
#include "src/common/json_fields.h"
#include "src/common/log.h"
#include "src/common/stable_hash.h"
#include "src/common/status_macros.h"
#include "workflows/sync/committed_results.h"
#include "workflows/sync/keep_alive.h"
#include "workflows/sync/ledger.h"
#include "workflows/sync/pending_batches.h"
#include "workflows/sync/queued_rows.h"
#include "workflows/sync/source_rows.h"
#include "workflows/sync/sync_metrics.h"

namespace vecsync::workflows {
namespace {

using entities::EntityConfig;
using entities::EntityRecord;

// Summaries from a provider are asked for, and recorded, this many at a time.
constexpr size_t kSummaryChunk = 16;

// One key of the batch, and what becomes of it.
struct Work {
  EntityKey key;
  std::optional<EntityRecord> entity;  // nullopt: gone from the source, or out of scope.
  std::optional<LedgerEntry> ledger;   // nullopt: the ledger has never seen it.
  std::string rendered, content_hash, summary, summary_hash, text, vector_hash;
  Json properties;
  std::string properties_json;  // `properties` as queued.
  uint64_t row_version = 0;     // ClickHouse's `version` for the row queued.
  std::string error;            // Set when this item failed.
  // The ledger holds `summary` at the run's version already (reused from it, or recorded as a
  // provider's summaries arrive); otherwise the row queued carries it to the flush's record.
  bool summary_recorded = false;
  bool awaiting_summary = false;  // Planning: the summary would be made, so it is not known.

  bool live() const { return entity && !entity->deleted; }
  // ClickHouse holds a live row of it.
  bool held_live() const { return ledger && ledger->synced && !ledger->deleted; }
};

// The version of the row `w` queues: its content's, and newer than the row the ledger last
// recorded for the entity at the same embedding version, so that the new row wins in ClickHouse
// and in the ledger even when updated_at did not move (a new summary, properties alone).
// `when` is the time of the content queued (the source row's updated_at, or when a tombstone for
// a row gone from the source was made).
uint64_t NextRowVersion(const Work& w, int version, absl::Time when) {
  const uint64_t content = RowVersion(version, when);
  if (!w.ledger || w.ledger->row_version < 0) return content;
  const auto recorded = static_cast<uint64_t>(w.ledger->row_version);
  return EmbeddingVersionOf(recorded) == version ? std::max(content, recorded + 1) : content;
}

// When the content a row of `w` carries was made: the source row's, or now for a tombstone of a
// row that is gone.
absl::Time ContentTime(const Work& w) { return w.entity ? w.entity->updated_at : absl::Now(); }

// The context of a plan: it is no activity, and its Process never heartbeats or records.
class PlanningContext : public engine::ActivityContext {
 public:
  const engine::ActivityInfo& info() const override { return info_; }
  absl::Status Heartbeat(const Json&) override { return absl::OkStatus(); }
  bool IsCancelRequested() const override { return false; }

 private:
  engine::ActivityInfo info_;
};

class Process {
 public:
  Process(const SyncEnvironment& env, engine::ActivityContext& ctx, const ProcessInput& in,
          const EntityConfig& config)
      : env_(env), ctx_(ctx), in_(in), config_(config), prompt_(config.summary_prompt()) {}

  // The decisions Run() makes, counted, with nothing asked of a provider and nothing written.
  absl::StatusOr<ProcessPlan> PlanOnly() {
    ASSIGN_OR_RETURN(PgPool::Lease conn, env_.pool->Acquire());
    RETURN_IF_ERROR(Load(*conn));
    Plan();
    RETURN_IF_ERROR(ReuseSummariesOfOtherVersions(*conn));
    ProcessPlan plan;
    plan.selected = result_.selected;
    plan.summarize = static_cast<int64_t>(to_summarize_.size());
    const int64_t prompt = clients::EstimateTokens(prompt_);
    for (Work* w : to_summarize_) {
      w->awaiting_summary = true;
      const int64_t summary = w->ledger && !w->ledger->summary.empty()
                                  ? clients::EstimateTokens(w->ledger->summary)
                                  : kEstimatedSummaryTokens;
      plan.prompt_tokens += prompt + clients::EstimateTokens(w->rendered);
      plan.completion_tokens += summary;
      plan.embedding_tokens +=
          summary + clients::EstimateTokens(config_.EmbeddingText(*w->entity, ""));
    }
    DecideVectors();
    RefreshFromClickHouse();
    for (Work* w : to_embed_) plan.embedding_tokens += clients::EstimateTokens(w->text);
    plan.embed = plan.summarize + static_cast<int64_t>(to_embed_.size());
    plan.refresh = static_cast<int64_t>(refreshed_.size());
    plan.tombstone = static_cast<int64_t>(tombstones_.size());
    plan.unchanged = result_.skipped_unchanged;
    return plan;
  }

  absl::StatusOr<ProcessResult> Run() {
    ASSIGN_OR_RETURN(PgPool::Lease conn, env_.pool->Acquire());
    RETURN_IF_ERROR(Load(*conn));
    Plan();
    RETURN_IF_ERROR(ReuseSummariesOfOtherVersions(*conn));
    // An attempt that committed (and then died, or timed out) queued the batch already. A retry
    // finds its result when it queues, and returns it; but before it asks a provider for
    // anything (which costs, and may fail the retry of work that was done) it looks. A local
    // summarizer's work is redone instead: that costs nothing, and spares every batch the lookup.
    if (!to_summarize_.empty() && !env_.summarizer->local()) {
      ASSIGN_OR_RETURN(std::optional<Json> committed, FindCommittedResult(*conn, ctx_.info()));
      if (committed) return ProcessResult::FromJson(*committed);
    }
    {
      clients::TokenUsage::Scope counted(&usage_);
      RETURN_IF_ERROR(Summarize(*conn));
    }
    result_.prompt_tokens = usage_.prompt_tokens();
    result_.completion_tokens = usage_.completion_tokens();
    DecideVectors();
    RefreshFromClickHouse();
    return Commit(*conn);
  }

 private:
  // Reads the batch's source rows (in scope) and ledger entries.
  absl::Status Load(PgConnection& conn) {
    for (const EntityKey& key : in_.keys) work_[key].key = key;
    ASSIGN_OR_RETURN(std::vector<EntityRecord> rows, SourceRows(conn, config_).Read(in_.keys));
    for (EntityRecord& e : rows) {
      auto it = work_.find({e.team_id, e.id});
      if (it != work_.end()) it->second.entity = std::move(e);
    }
    ASSIGN_OR_RETURN(auto entries,
                     Ledger(conn, config_.domain()).Read(in_.keys, in_.embedding_version));
    for (auto& [key, entry] : entries) {
      auto it = work_.find(key);
      if (it != work_.end()) it->second.ledger = std::move(entry);
    }
    result_.selected = static_cast<int64_t>(work_.size());
    return absl::OkStatus();
  }

  // Sorts the batch: tombstones, entities with nothing to tombstone, and live ones, whose
  // recorded summary is reused when their content did not change.
  void Plan() {
    const std::string summarizer = env_.summarizer->version(prompt_);
    for (auto& [key, w] : work_) {
      if (!w.live()) {
        if (w.held_live()) {
          tombstones_.push_back(&w);
        } else {
          ++result_.skipped_unchanged;
          if (w.ledger && w.ledger->failures > 0) gone_failed_.push_back(&w);
        }
        continue;
      }
      w.rendered = config_.Render(*w.entity);
      w.properties = config_.Properties(*w.entity);
      w.properties["embedding_version"] = in_.embedding_version;
      w.content_hash = StableHash(absl::StrCat(summarizer, "\n", w.rendered));
      if (w.ledger && w.ledger->content_hash == w.content_hash && !w.ledger->summary.empty()) {
        w.summary = w.ledger->summary;
        w.summary_hash = w.ledger->summary_hash;
        w.summary_recorded = true;
      } else {
        to_summarize_.push_back(&w);
      }
    }
  }

  // A version made for another embedding model has the same content as one made before: its
  // summaries are taken from the ledger, and no summarizer is asked.
  absl::Status ReuseSummariesOfOtherVersions(PgConnection& conn) {
    if (to_summarize_.empty() || !in_.other_versions) return absl::OkStatus();
    std::vector<ContentKey> wanted;
    for (Work* w : to_summarize_) wanted.push_back({w->key, w->content_hash});
    ASSIGN_OR_RETURN(auto found, Ledger(conn, config_.domain()).SummariesOfContent(wanted));
    std::vector<Work*> still;
    for (Work* w : to_summarize_) {
      auto it = found.find(w->key);
      if (it == found.end()) {
        still.push_back(w);
        continue;
      }
      w->summary = std::move(it->second.summary);
      w->summary_hash = std::move(it->second.summary_hash);
    }
    to_summarize_ = std::move(still);
    return absl::OkStatus();
  }

  // Summarizes what changed. From a provider, summaries are recorded as each chunk arrives, so
  // a retry after a failure or a timeout never pays for one twice, and a thread heartbeats
  // while a chunk waits on a slow or rate-limited provider. A local summarizer does all at once.
  absl::Status Summarize(PgConnection& conn) {
    const bool local = env_.summarizer->local();
    const size_t chunk = local ? std::max<size_t>(1, to_summarize_.size()) : kSummaryChunk;
    for (size_t start = 0; start < to_summarize_.size(); start += chunk) {
      const auto items = absl::MakeConstSpan(to_summarize_).subspan(start, chunk);
      std::vector<std::string> inputs;
      for (Work* w : items) inputs.push_back(w->rendered);
      absl::StatusOr<std::vector<absl::StatusOr<std::string>>> summaries;
      {
        KeepAlive keep_alive(ctx_, env_.keep_alive_interval,
                             {{"stage", "summarizing"}, {"summarized", start}});
        summaries = env_.summarizer->Summarize(prompt_, inputs);
      }
      RETURN_IF_ERROR(summaries.status());
      std::vector<SummaryRecord> records;
      for (size_t i = 0; i < items.size(); ++i) {
        Work* w = items[i];
        if (!(*summaries)[i].ok()) {
          w->error = std::string((*summaries)[i].status().message());
          continue;
        }
        w->summary = *std::move((*summaries)[i]);
        w->summary_hash = StableHash(w->summary);
        ++result_.summarized;
        w->summary_recorded = !local;
        if (!local) {
          records.push_back({w->key, w->content_hash, w->summary, w->summary_hash,
                             absl::ToUnixMicros(w->entity->updated_at)});
        }
      }
      RETURN_IF_ERROR(
          Ledger(conn, config_.domain()).RecordSummaries(records, in_.embedding_version));
      RETURN_IF_ERROR(
          ctx_.Heartbeat({{"stage", "summarizing"}, {"summarized", start + items.size()}}));
    }
    return absl::OkStatus();
  }

  // Decides, for every live entity with a summary, whether its vector must be made, whether the
  // one ClickHouse holds can be written again with new properties, or nothing is to be done.
  void DecideVectors() {
    const std::string embedder =
        absl::StrCat(env_.embedder->model(), "/", env_.embedder->dimensions());
    for (auto& [key, w] : work_) {
      if (!w.live() || !w.error.empty() || w.awaiting_summary) continue;
      w.text = config_.EmbeddingText(*w.entity, w.summary);
      // The summary's hash when the text is the summary, as vecsync has always hashed it.
      const std::string text_hash = w.text == w.summary ? w.summary_hash : StableHash(w.text);
      w.vector_hash = StableHash(absl::StrCat(text_hash, "/", embedder));
      if (w.held_live() && w.ledger->vector_hash == w.vector_hash &&
          w.ledger->embedding_version == in_.embedding_version) {
        if (w.ledger->properties == w.properties) {
          ++result_.skipped_unchanged;
          if (w.ledger->source_updated_at != w.entity->updated_at) {
            touched_.push_back({w.key, absl::ToUnixMicros(w.entity->updated_at), w.vector_hash});
          }
        } else {
          to_refresh_.push_back(&w);  // Only properties changed (a cohort's count): same vector.
        }
      } else {
        to_embed_.push_back(&w);
      }
    }
  }

  // Rows whose properties alone changed are written again with the vector ClickHouse holds, if
  // it holds exactly the row the ledger describes; otherwise they are embedded again.
  void RefreshFromClickHouse() {
    if (to_refresh_.empty()) return;
    std::vector<EntityKey> keys;
    for (Work* w : to_refresh_) keys.push_back(w->key);
    auto stored = env_.vectors->LatestVectors(config_.domain(), in_.embedding_version, keys);
    std::map<EntityKey, StoredVector> found;
    if (stored.ok()) {
      found = *std::move(stored);
    } else {
      // The summaries are paid for: rather than fail the batch, embed these again.
      LogWarning("reading vectors back from ClickHouse failed; embedding them again",
                 {{"domain", config_.domain()},
                  {"entities", std::to_string(to_refresh_.size())},
                  {"error", stored.status().ToString()}});
    }
    for (Work* w : to_refresh_) {
      const uint64_t written =
          w->ledger->row_version >= 0
              ? static_cast<uint64_t>(w->ledger->row_version)
              : RowVersion(w->ledger->embedding_version, w->ledger->source_updated_at);
      auto it = found.find(w->key);
      if (it == found.end() || it->second.version != written ||
          it->second.vector.size() != sizeof(float) * env_.embedder->dimensions()) {
        to_embed_.push_back(w);
        continue;
      }
      // Strictly newer than the row it replaces, even if updated_at did not move.
      w->row_version =
          std::max(NextRowVersion(*w, in_.embedding_version, w->entity->updated_at), written + 1);
      refreshed_.push_back({w, std::move(it->second.vector)});
    }
  }

  // The rows to queue: without vectors (the flush embeds them right before inserting them, so
  // no vector is written to PostgreSQL), with the vector ClickHouse holds, or tombstones.
  std::vector<QueuedRow> RowsToQueue() {
    const int version = in_.embedding_version;
    std::vector<QueuedRow> rows;
    rows.reserve(to_embed_.size() + refreshed_.size() + tombstones_.size());
    auto live_row = [&](Work& w) -> QueuedRow& {
      w.properties_json = w.properties.dump();
      QueuedRow& row = rows.emplace_back();
      row.team_id = w.key.team_id;
      row.id = w.key.id;
      row.text = w.text;
      row.properties = w.properties_json;
      row.embedding_version = version;
      row.row_version = static_cast<int64_t>(w.row_version);
      row.source_updated_us = absl::ToUnixMicros(w.entity->updated_at);
      row.vector_hash = w.vector_hash;
      return row;
    };
    for (Work* w : to_embed_) {
      w->row_version = NextRowVersion(*w, version, w->entity->updated_at);
      QueuedRow& row = live_row(*w);
      // A local summarizer's summaries, and those of another version, are recorded by the flush,
      // with the vector.
      if (!w->summary_recorded) {
        row.content_hash = w->content_hash;
        row.summary_hash = w->summary_hash;
        row.summary = w->summary;
      }
    }
    for (auto& [w, vector] : refreshed_) live_row(*w).vector = vector;
    for (Work* w : tombstones_) {
      const absl::Time when = ContentTime(*w);
      w->row_version = NextRowVersion(*w, version, when);
      QueuedRow& row = rows.emplace_back();
      row.team_id = w->key.team_id;
      row.id = w->key.id;
      row.vector = "";
      row.properties = "{}";
      row.deleted = true;
      row.embedding_version = version;
      row.row_version = static_cast<int64_t>(w->row_version);
      row.source_updated_us = absl::ToUnixMicros(when);
    }
    return rows;
  }

  // Queues the batch and records the attempt's result in one statement; with the batch's
  // failures (and failures that no longer apply) in the same transaction when there are any.
  absl::StatusOr<ProcessResult> Commit(PgConnection& conn) {
    const std::vector<QueuedRow> rows = RowsToQueue();
    result_.refreshed = static_cast<int64_t>(refreshed_.size());
    result_.tombstoned = static_cast<int64_t>(tombstones_.size());
    result_.queued = static_cast<int64_t>(rows.size());
    for (const auto& [key, w] : work_) result_.failed += w.error.empty() ? 0 : 1;
    const bool in_transaction = result_.failed > 0 || !gone_failed_.empty() || !touched_.empty();
    PgTransaction txn(conn);
    if (in_transaction) RETURN_IF_ERROR(txn.Begin());
    Ledger ledger(conn, config_.domain());
    for (const auto& [key, w] : work_) {
      if (w.error.empty()) continue;
      RETURN_IF_ERROR(ledger.RecordFailure(
          key, w.error,
          static_cast<int64_t>(NextRowVersion(w, in_.embedding_version, w.entity->updated_at))));
    }
    RETURN_IF_ERROR(ledger.RecordTouched(touched_, in_.embedding_version));
    for (Work* w : gone_failed_) {
      RETURN_IF_ERROR(ledger.ClearFailures(
          w->key,
          static_cast<int64_t>(NextRowVersion(*w, in_.embedding_version, ContentTime(*w)))));
    }
    // A retry of an attempt that committed (and then died, or timed out) finds its result here:
    // queueing the batch again would embed and count its entities twice.
    const size_t max_rows =
        in_.insert_batch_size > 0 ? static_cast<size_t>(in_.insert_batch_size) : rows.size();
    ASSIGN_OR_RETURN(std::optional<Json> committed, PendingBatches(conn, config_.domain())
                                                        .Queue(ctx_.info(), result_.ToJson(), rows,
                                                               std::max<size_t>(1, max_rows)));
    if (committed) return ProcessResult::FromJson(*committed);  // This attempt rolls back.
    if (in_transaction) RETURN_IF_ERROR(txn.Commit());
    CountStages(config_.domain(), {{"selected", result_.selected},
                                   {"summarized", result_.summarized},
                                   {"refreshed", result_.refreshed},
                                   {"skipped_unchanged", result_.skipped_unchanged},
                                   {"failed", result_.failed},
                                   {"tombstoned", result_.tombstoned}});
    return result_;
  }

  const SyncEnvironment& env_;
  engine::ActivityContext& ctx_;
  const ProcessInput& in_;
  const EntityConfig& config_;
  const std::string prompt_;
  clients::TokenUsage usage_;  // What the summaries cost.
  std::map<EntityKey, Work> work_;
  std::vector<TouchedEntity> touched_;  // Skipped, but their updated_at moved.
  std::vector<Work*> to_summarize_, to_embed_, to_refresh_, tombstones_;
  std::vector<Work*> gone_failed_;  // Failed, then left the source or scope, never synced.
  std::vector<std::pair<Work*, std::string>> refreshed_;  // With the vector ClickHouse holds.
  ProcessResult result_;
};

}  // namespace

Json ProcessInput::ToJson() const {
  return {{"domain", domain},
          {"keys", EntityKeysToJson(keys)},
          {"embedding_version", embedding_version},
          {"other_versions", other_versions},
          {"insert_batch_size", insert_batch_size}};
}

absl::StatusOr<ProcessInput> ProcessInput::FromJson(const Json& json) {
  ProcessInput in;
  JsonFields f(json, "sync-process input");
  f.Required("domain", &in.domain);
  f.Required("embedding_version", &in.embedding_version);
  f.Optional("insert_batch_size", &in.insert_batch_size);
  // (Absent from an older vecsync's input: look, as it did not know better.)
  f.Optional("other_versions", &in.other_versions);
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(in.keys, EntityKeysFromJson(f.Member("keys"), "sync-process input: keys"));
  return in;
}

Json ProcessResult::ToJson() const {
  return {{"selected", selected},
          {"summarized", summarized},
          {"refreshed", refreshed},
          {"skipped_unchanged", skipped_unchanged},
          {"failed", failed},
          {"tombstoned", tombstoned},
          {"queued", queued},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens}};
}

absl::StatusOr<ProcessResult> ProcessResult::FromJson(const Json& json) {
  ProcessResult r;
  JsonFields f(json, "sync-process result");
  f.Required("selected", &r.selected);
  f.Optional("summarized", &r.summarized);
  f.Optional("refreshed", &r.refreshed);
  f.Optional("skipped_unchanged", &r.skipped_unchanged);
  f.Optional("failed", &r.failed);
  f.Optional("tombstoned", &r.tombstoned);
  f.Optional("prompt_tokens", &r.prompt_tokens);
  f.Optional("completion_tokens", &r.completion_tokens);
  if (f.Has("queued")) {
    f.Required("queued", &r.queued);
  } else {  // An older vecsync's sync-process, which embedded and inserted its rows itself.
    f.Optional("embedded", &r.embedded_by_older_vecsync);
    r.queued = r.embedded_by_older_vecsync + r.refreshed + r.tombstoned;
  }
  RETURN_IF_ERROR(f.status());
  return r;
}

void ProcessPlan::Add(const ProcessPlan& other) {
  selected += other.selected;
  summarize += other.summarize;
  embed += other.embed;
  refresh += other.refresh;
  tombstone += other.tombstone;
  unchanged += other.unchanged;
  prompt_tokens += other.prompt_tokens;
  completion_tokens += other.completion_tokens;
  embedding_tokens += other.embedding_tokens;
}

absl::StatusOr<ProcessPlan> PlanProcess(const SyncEnvironment& env, const ProcessInput& in) {
  ASSIGN_OR_RETURN(const entities::EntityConfig* config, env.domains->Find(in.domain));
  PlanningContext ctx;
  return Process(env, ctx, in, *config).PlanOnly();
}

absl::Status RegisterProcessActivity(engine::Registry* registry, const SyncEnvironment* env) {
  return engine::RegisterActivity(
      registry, kProcessActivity,
      [env](engine::ActivityContext& ctx, const ProcessInput& in) -> absl::StatusOr<ProcessResult> {
        ASSIGN_OR_RETURN(const entities::EntityConfig* config, env->domains->Find(in.domain));
        return Process(*env, ctx, in, *config).Run();
      });
}

}  // namespace vecsync::workflows
