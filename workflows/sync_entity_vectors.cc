#include "workflows/sync_entity_vectors.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "entities/registry.h"
#include "src/common/status_macros.h"
#include "workflows/sync_input.h"

namespace vecsync::workflows {
namespace {

using engine::ActivityHandle;
using engine::ActivityOptions;
using engine::WorkflowContext;

// Flushes in flight at once: one can embed or insert while another records what it inserted.
constexpr size_t kMaxFlushes = 2;

// Entities per sync-process with a local summarizer, unless the input says otherwise. Its
// summaries cost nothing, but every activity costs ~3 ms of CPU between PostgreSQL and vecsync
// (claiming, reading, queueing, recording): at PostHog's 96 that was a third of a sync's cost.
constexpr int kLocalSummarizeBatchSize = 1000;
// With a provider: PostHog's default, which sizes the LLM work one activity does.
constexpr int kProviderSummarizeBatchSize = 96;

// "refreshed": written again with the vector it had, because only its properties changed.
// "carried_over": queued by an earlier run that did not flush it (it failed or was cancelled),
// and inserted or failed by this run's flushes; not among "selected".
constexpr const char* kCounters[] = {"selected",   "summarized",        "embedded",
                                     "refreshed",  "skipped_unchanged", "failed",
                                     "tombstoned", "inserted",          "carried_over"};

ActivityOptions Options(absl::Duration start_to_close) {
  ActivityOptions o;
  o.start_to_close_timeout = start_to_close;
  o.heartbeat_timeout = absl::Minutes(5);
  o.retry_policy.initial_interval = absl::Seconds(1);
  o.retry_policy.maximum_interval = absl::Minutes(1);
  o.retry_policy.maximum_attempts = 10;
  o.retry_policy.non_retryable_error_types = {"BAD_INPUT", "INVALID_ARGUMENT", "UNAUTHENTICATED",
                                              "PERMISSION_DENIED"};
  return o;
}

// The run's position and totals, saved at every checkpoint.
struct Position {
  Json doc;

  static Position Initial(const SyncInput& in) {
    Json counters = Json::object();
    for (const char* c : kCounters) counters[c] = 0;
    return {{{"phase", "retry"},
             {"cursor", Json::object()},
             {"counters", counters},
             {"domain", in.domain},
             {"embedding_version", in.embedding_version}}};
  }
  void Add(const Json& counts) {
    for (const auto& [k, v] : counts.items()) {
      if (doc["counters"].contains(k)) {
        doc["counters"][k] = doc["counters"][k].get<int64_t>() + v.get<int64_t>();
      }
    }
  }
};

class SyncRun {
 public:
  SyncRun(WorkflowContext& ctx, SyncInput in, const entities::EntityConfig* config)
      : ctx_(ctx), in_(std::move(in)), config_(config) {}

  absl::StatusOr<Json> Run() {
    position_ = ctx_.checkpoint().is_null() ? Position::Initial(in_) : Position{ctx_.checkpoint()};
    for (const char* c : kCounters) {  // A checkpoint from an older vecsync may lack some.
      if (!position_.doc["counters"].contains(c)) position_.doc["counters"][c] = 0;
    }
    // What decides when the next flush starts: a replay must start it where the run did.
    pending_ = position_.doc.value("pending", int64_t{0});
    // Runs that began before flushes ran in parallel keep one at a time, or their replay would
    // start a flush where the run recorded something else.
    if (!position_.doc.contains("max_flushes")) {
      ASSIGN_OR_RETURN(int version, ctx_.GetVersion("parallel-flushes", 1));
      position_.doc["max_flushes"] = version >= 1 ? kMaxFlushes : 1;
    }
    max_flushes_ = position_.doc["max_flushes"].get<size_t>();
    if (!position_.doc.contains("snapshot_us")) {
      ASSIGN_OR_RETURN(absl::Time now, ctx_.Now());
      position_.doc["snapshot_us"] = absl::ToUnixMicros(in_.start_dt.value_or(now));
      ASSIGN_OR_RETURN(Json prepared,
                       ctx_.ExecuteActivity(
                           "sync-prepare",
                           {{"domain", in_.domain}, {"embedding_version", in_.embedding_version}},
                           Options(absl::Minutes(1))));
      // A full scan for a new embedding version or a first run; the watermark otherwise.
      position_.doc["watermark_us"] =
          prepared["watermark_us"].is_null() ? Json(int64_t{-1}) : prepared["watermark_us"];
      position_.doc["datetime64"] = prepared["datetime64"];
      // From the activity's recorded result: a replay sizes the batches as the run did.
      position_.doc["summarize_batch_size"] = in_.summarize_batch_size.value_or(
          prepared.value("summarizer_local", false) ? kLocalSummarizeBatchSize
                                                    : kProviderSummarizeBatchSize);
    }
    // (A checkpoint of a vecsync from before local batches lacks it.)
    summarize_batch_size_ = position_.doc.value(
        "summarize_batch_size", in_.summarize_batch_size.value_or(kProviderSummarizeBatchSize));
    const std::vector<std::string> phases =
        config_->hard_deletes() ? std::vector<std::string>{"retry", "changed", "hard_deleted"}
                                : std::vector<std::string>{"retry", "changed"};
    int pages_since_checkpoint = 0;
    while (true) {
      const std::string phase = position_.doc["phase"];
      ASSIGN_OR_RETURN(Json page, ctx_.ExecuteActivity("sync-select", SelectInput(phase),
                                                       Options(absl::Minutes(5))));
      for (const Json& key : page["keys"]) {
        batch_.push_back(key);
        if (static_cast<int>(batch_.size()) == summarize_batch_size_) {
          RETURN_IF_ERROR(StartBatch());
        }
      }
      position_.doc["cursor"] = page["cursor"];
      if (page["done"].get<bool>()) {
        if (!batch_.empty()) RETURN_IF_ERROR(StartBatch());
        auto next = std::find(phases.begin(), phases.end(), phase) + 1;
        if (next == phases.end()) break;
        position_.doc["phase"] = *next;
        position_.doc["cursor"] = Json::object();
      }
      if (in_.delay_between_batches > 0) {
        RETURN_IF_ERROR(ctx_.Sleep(absl::Seconds(in_.delay_between_batches)));
      }
      // Checkpoint now and then, to keep the history bounded. A checkpoint needs every activity
      // closed, and waiting out a ClickHouse insert would idle the summarizing: once one is
      // due, no new flush starts, and the checkpoint waits for those in flight to finish on
      // their own while the pages go on. (A hold still on after the last page is lifted by
      // FlushPending().)
      if (++pages_since_checkpoint >= 20) hold_flushes_ = true;
      if (hold_flushes_ && batch_.empty() && flushes_.empty()) {
        RETURN_IF_ERROR(Drain());
        position_.doc["pending"] = pending_;
        RETURN_IF_ERROR(ctx_.Checkpoint(position_.doc));
        hold_flushes_ = false;
        pages_since_checkpoint = 0;
      }
    }
    RETURN_IF_ERROR(FlushPending());
    if (!in_.filtered()) {
      RETURN_IF_ERROR(ctx_.ExecuteActivity("sync-finish",
                                           {{"domain", in_.domain},
                                            {"embedding_version", in_.embedding_version},
                                            {"snapshot_us", position_.doc["snapshot_us"]}},
                                           Options(absl::Minutes(1)))
                          .status());
    }
    RETURN_IF_ERROR(Report());
    return position_.doc["counters"];
  }

 private:
  Json SelectInput(const std::string& phase) const {
    // A page holds enough keys for every parallel request, twice over.
    const int limit = std::max(summarize_batch_size_ * in_.max_parallel_requests * 2, 100);
    return {{"domain", in_.domain},
            {"phase", phase},
            {"cursor", position_.doc["cursor"]},
            {"limit", limit},
            {"snapshot_us", position_.doc["snapshot_us"]},
            {"watermark_us", position_.doc["watermark_us"]},
            {"team_ids", in_.team_ids},
            {"entity_ids", in_.entity_ids}};
  }

  // For activities that call the provider (sync-process summarizes, sync-flush embeds): a
  // rate-limited provider can take hours over a batch; heartbeats, not this timeout, tell a
  // live attempt from a dead one.
  static ActivityOptions ProviderOptions() { return Options(absl::Hours(6)); }

  // Starts a sync-process for the keys gathered, first waiting for a free slot.
  absl::Status StartBatch() {
    while (static_cast<int>(in_flight_.size()) >= in_.max_parallel_requests) {
      RETURN_IF_ERROR(CollectOne());
    }
    ASSIGN_OR_RETURN(ActivityHandle h,
                     ctx_.StartActivity("sync-process",
                                        {{"domain", in_.domain},
                                         {"keys", batch_},
                                         {"embedding_version", in_.embedding_version},
                                         {"insert_batch_size", in_.insert_batch_size}},
                                        ProviderOptions()));
    in_flight_.push_back(h);
    batch_ = Json::array();
    return absl::OkStatus();
  }

  // Waits for one sync-process or flush in flight. A finished sync-process adds its counts;
  // once enough rows wait, a flush starts beside the processing (up to max_flushes_ at a
  // time, each taking rows the others have not), so embedding and ClickHouse inserts overlap
  // the summarizing of later batches, and one another.
  absl::Status CollectOne() {
    std::vector<ActivityHandle> handles = in_flight_;
    handles.insert(handles.end(), flushes_.begin(), flushes_.end());
    ASSIGN_OR_RETURN(size_t i, ctx_.AwaitAny(handles));
    if (i >= in_flight_.size()) {
      const auto flush = flushes_.begin() + static_cast<std::ptrdiff_t>(i - in_flight_.size());
      ASSIGN_OR_RETURN(Json flushed, ctx_.Await(*flush));
      flushes_.erase(flush);
      position_.Add(flushed);
    } else {
      ASSIGN_OR_RETURN(Json counts, ctx_.Await(in_flight_[i]));
      in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(i));
      position_.Add(counts);
      // (A sync-process of an older vecsync reports no "queued": it embedded its rows itself.)
      pending_ += counts.contains("queued")
                      ? counts["queued"].get<int64_t>()
                      : counts["embedded"].get<int64_t>() + counts.value("refreshed", int64_t{0}) +
                            counts["tombstoned"].get<int64_t>();
    }
    RETURN_IF_ERROR(StartFlushes());
    return Report();
  }

  // Starts a flush per insert's worth of rows waiting, as slots free up, unless a checkpoint
  // holds them; whatever else waits goes with a later flush or the final ones.
  absl::Status StartFlushes() {
    while (pending_ >= in_.insert_batch_size && flushes_.size() < max_flushes_ && !hold_flushes_) {
      RETURN_IF_ERROR(StartFlush());
      pending_ -= in_.insert_batch_size;
    }
    return absl::OkStatus();
  }

  // Starts a flush of up to one insert of the run's own rows, beside the others in flight.
  absl::Status StartFlush() {
    const Json input = FlushInput(/*max_batches=*/1, /*final=*/false);
    ASSIGN_OR_RETURN(ActivityHandle flush,
                     ctx_.StartActivity("sync-flush", input, ProviderOptions()));
    flushes_.push_back(flush);
    return absl::OkStatus();
  }

  // Waits for every sync-process and flush in flight.
  absl::Status Drain() {
    while (!in_flight_.empty() || !flushes_.empty()) RETURN_IF_ERROR(CollectOne());
    return absl::OkStatus();
  }

  // Inserts every row still waiting, the run's own and then those ended runs left, once every
  // batch has started. Flushes go on as during the run until every batch has ended, even if a
  // checkpoint held them at the end: what queued up behind it goes out two inserts at a time,
  // not one after another. Once every batch has ended no more rows come, and what waits short
  // of a full insert goes out at once, beside the flushes still running, rather than alone
  // after them. Then final flushes take the rest (what ended runs left), one insert each,
  // until a flush leaves nothing: a flush that fails and is retried redoes, and counts, its own
  // insert only. (Runs that reached this point under an older vecsync replay as they ran: before
  // version 1 they held their flushes to the end, at version 1 the short insert was the final
  // flush's; runs that began before parallel flushes flush all in one activity.)
  absl::Status FlushPending() {
    if (max_flushes_ > 1) {
      ASSIGN_OR_RETURN(int version, ctx_.GetVersion("flushes-past-the-last-hold", 2));
      if (version >= 1) {
        hold_flushes_ = false;  // No checkpoint comes now.
        RETURN_IF_ERROR(StartFlushes());
      }
      if (version >= 2) {
        while (!in_flight_.empty()) RETURN_IF_ERROR(CollectOne());
        if (pending_ > 0) {
          while (flushes_.size() >= max_flushes_) RETURN_IF_ERROR(CollectOne());
          RETURN_IF_ERROR(StartFlush());
          pending_ = 0;
        }
      }
    }
    RETURN_IF_ERROR(Drain());
    const int max_batches = max_flushes_ > 1 ? 1 : 0;
    while (true) {
      ASSIGN_OR_RETURN(Json flushed,
                       ctx_.ExecuteActivity("sync-flush", FlushInput(max_batches, /*final=*/true),
                                            ProviderOptions()));
      position_.Add(flushed);
      if (max_batches == 0) break;
      if (flushed.contains("more")) {
        if (!flushed["more"].get<bool>()) break;
      } else {  // The result of an older vecsync's flush, recorded before an upgrade.
        const int64_t taken =
            flushed["inserted"].get<int64_t>() + flushed.value("failed", int64_t{0});
        if (taken < in_.insert_batch_size) break;
      }
    }
    pending_ = 0;
    return absl::OkStatus();
  }

  // `max_batches` 0 flushes until nothing waits. A final flush also takes what other runs left.
  Json FlushInput(int max_batches, bool final) const {
    return {{"domain", in_.domain},
            {"take_carried_over", final},
            {"insert_batch_size", in_.insert_batch_size},
            {"embed_batch_size", in_.embed_batch_size},
            {"max_parallel_requests", in_.max_parallel_requests},
            {"max_batches", max_batches},
            {"datetime64", position_.doc["datetime64"]}};
  }

  absl::Status Report() {
    Json progress = position_.doc["counters"];
    progress["domain"] = in_.domain;
    progress["phase"] = position_.doc["phase"];
    progress["in_flight"] = in_flight_.size() + flushes_.size();
    // Every selected entity ends as exactly one of these, and so does every carried-over one;
    // `done`/`total` drive progress bars.
    int64_t done = 0;
    for (const char* c :
         {"embedded", "refreshed", "skipped_unchanged", "failed", "tombstoned", "carried_over"}) {
      done += progress[c].get<int64_t>();
    }
    progress["done"] = done;
    progress["total"] =
        progress["selected"].get<int64_t>() + progress["carried_over"].get<int64_t>();
    return ctx_.SetProgress(progress);
  }

  WorkflowContext& ctx_;
  const SyncInput in_;
  const entities::EntityConfig* config_;
  Position position_;
  Json batch_ = Json::array();
  std::vector<ActivityHandle> in_flight_;
  std::vector<ActivityHandle> flushes_;                     // The sync-flushes in flight.
  size_t max_flushes_ = kMaxFlushes;                        // At once; part of the run's position.
  int summarize_batch_size_ = kProviderSummarizeBatchSize;  // Entities per sync-process.
  int64_t pending_ = 0;        // Rows queued that no flush has taken yet.
  bool hold_flushes_ = false;  // A checkpoint is due: start no flush until it is taken.
};

absl::StatusOr<Json> SyncEntityVectors(WorkflowContext& ctx, const Json& input) {
  ASSIGN_OR_RETURN(SyncInput in, SyncInput::Parse(input));
  ASSIGN_OR_RETURN(const entities::EntityConfig* config,
                   entities::EntityConfigRegistry::Default().Find(in.domain));
  return SyncRun(ctx, std::move(in), config).Run();
}

}  // namespace

absl::Status RegisterSyncEntityVectors(engine::Registry* registry, SyncEnvironment* env) {
  RETURN_IF_ERROR(RegisterSyncActivities(registry, env));
  return registry->RegisterWorkflow(
      kSyncEntityVectorsWorkflow, SyncEntityVectors,
      [](const Json& input) { return SyncInput::Parse(input).status(); });
}

}  // namespace vecsync::workflows
