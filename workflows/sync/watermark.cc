#include "workflows/sync/watermark.h"

#include "absl/strings/str_cat.h"
#include "src/common/json_fields.h"
#include "src/common/status_macros.h"
#include "workflows/sync/change_queue.h"
#include "workflows/sync/committed_results.h"
#include "workflows/sync/domain_claim.h"
#include "workflows/sync/embedding_versions.h"
#include "workflows/sync/entity_events.h"
#include "workflows/sync/scope_teams.h"
#include "workflows/sync/sql_time.h"
#include "workflows/sync/sync_metrics.h"

namespace vecsync::workflows {
namespace {

// The database's clock, held back to the start of the oldest transaction in this database that
// has written and is still open (of the sessions the role may see).
absl::StatusOr<int64_t> DatabaseSnapshot(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult r,
                   conn.Query(absl::StrCat(
                       "SELECT ", MicrosOf("LEAST(clock_timestamp(), (SELECT min(xact_start) "
                                           "FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
                                           "AND datname = current_database() "
                                           "AND pid <> pg_backend_pid()))"))));
  return r.GetInt64(0, 0);
}

absl::StatusOr<PrepareResult> Prepare(const SyncEnvironment& env, engine::ActivityContext& ctx,
                                      const PrepareInput& in) {
  PrepareResult result;
  ASSIGN_OR_RETURN(const entities::EntityConfig* config, env.domains->Find(in.domain));
  ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
  ASSIGN_OR_RETURN(result.held_by, ClaimDomain(*conn, in.domain, ctx.info().run_id));
  if (result.held_by) return result;
  ASSIGN_OR_RETURN(result.datetime64, env.vectors->CreateIfMissing());
  result.summarizer_local = env.summarizer->local();
  RETURN_IF_ERROR(ForgetResultsOfEndedRuns(*conn));
  RETURN_IF_ERROR(PruneEntityEvents(*conn, kEntityEventRetention));
  const EmbeddingProfile profile{
      env.summarizer->version(config->summary_prompt()),
      absl::StrCat(env.embedder->model(), "/", env.embedder->dimensions())};
  ASSIGN_OR_RETURN(const int version,
                   ResolveEmbeddingVersion(*conn, in.domain, profile, in.embedding_version));
  result.embedding_version = version;
  ASSIGN_OR_RETURN(std::vector<EmbeddingVersion> versions, ListEmbeddingVersions(*conn, in.domain));
  result.other_versions = versions.size() > 1;
  ASSIGN_OR_RETURN(PgResult r, conn->Query(absl::StrCat("SELECT ", MicrosOf("watermark"),
                                                        " FROM vecsync.sync_watermarks "
                                                        "WHERE domain = $1 AND "
                                                        "embedding_version = $2"),
                                           in.domain, version));
  if (r.rows() > 0) result.watermark_us = r.GetInt64(0, 0);
  result.overlap_us = absl::ToInt64Microseconds(kWatermarkOverlap);
  ASSIGN_OR_RETURN(result.snapshot_us, DatabaseSnapshot(*conn));
  if (!in.take_changes) return result;
  const bool walks_everything =
      in.mode == SyncMode::kReconcile ||
      (in.mode == SyncMode::kIncremental && !result.watermark_us.has_value());
  RETURN_IF_ERROR(RefreshScopeTeams(*conn, *config, /*queue_entered=*/!walks_everything));
  ChangeQueue queue(*conn, in.domain);
  ASSIGN_OR_RETURN(result.changes_upto, queue.NewestSeq());
  ASSIGN_OR_RETURN(result.changed_teams, queue.TeamsUpTo(result.changes_upto));
  return result;
}

absl::StatusOr<engine::NoResult> Finish(const SyncEnvironment& env, engine::ActivityContext& ctx,
                                        const FinishInput& in) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
  PgTransaction txn(*conn);
  RETURN_IF_ERROR(txn.Begin());
  if (in.snapshot_us) {
    RETURN_IF_ERROR(
        conn->Query(absl::StrCat("INSERT INTO vecsync.sync_watermarks (domain, embedding_version, "
                                 "watermark) VALUES ($1, $2, ",
                                 kTimestampFromMicros,
                                 "$3::bigint) "
                                 "ON CONFLICT (domain, embedding_version) DO UPDATE SET "
                                 "watermark = GREATEST(sync_watermarks.watermark, "
                                 "EXCLUDED.watermark)"),
                    in.domain, in.embedding_version, *in.snapshot_us)
            .status());
  }
  if (in.completes_version) {
    RETURN_IF_ERROR(CompleteEmbeddingVersion(*conn, in.domain, in.embedding_version));
  }
  std::vector<double> latencies;
  if (in.changes_upto > 0) {
    ASSIGN_OR_RETURN(latencies, ChangeQueue(*conn, in.domain).Remove(in.changes_upto));
  }
  RETURN_IF_ERROR(ReleaseDomain(*conn, in.domain, ctx.info().run_id));
  RETURN_IF_ERROR(txn.Commit());
  ObserveCommitToClickHouse(in.domain, latencies);
  return engine::NoResult{};
}

}  // namespace

Json PrepareInput::ToJson() const {
  return {{"domain", domain},
          {"embedding_version", embedding_version ? Json(*embedding_version) : Json()},
          {"take_changes", take_changes},
          {"mode", SyncModeName(mode)}};
}

absl::StatusOr<PrepareInput> PrepareInput::FromJson(const Json& json) {
  PrepareInput in;
  JsonFields f(json, "sync-prepare input");
  f.Required("domain", &in.domain);
  // (Required, and never null, in an older vecsync's input.)
  f.Optional("embedding_version", &in.embedding_version);
  f.Optional("take_changes", &in.take_changes);
  std::string mode = SyncModeName(in.mode);
  f.Optional("mode", &mode);
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(in.mode, SyncModeFromName(mode));
  return in;
}

Json PrepareResult::ToJson() const {
  if (held_by) return {{"held_by", *held_by}};
  return {{"embedding_version", embedding_version ? Json(*embedding_version) : Json()},
          {"other_versions", other_versions},
          {"watermark_us", watermark_us ? Json(*watermark_us) : Json()},
          {"snapshot_us", snapshot_us ? Json(*snapshot_us) : Json()},
          {"overlap_us", overlap_us},
          {"changes_upto", changes_upto},
          {"changed_teams", changed_teams},
          {"datetime64", datetime64},
          {"summarizer_local", summarizer_local}};
}

absl::StatusOr<PrepareResult> PrepareResult::FromJson(const Json& json) {
  PrepareResult r;
  JsonFields f(json, "sync-prepare result");
  f.Optional("held_by", &r.held_by);
  f.Optional("embedding_version", &r.embedding_version);
  f.Optional("other_versions", &r.other_versions);
  f.Optional("watermark_us", &r.watermark_us);
  f.Optional("snapshot_us", &r.snapshot_us);
  f.Optional("overlap_us", &r.overlap_us);
  f.Optional("changes_upto", &r.changes_upto);
  f.Optional("changed_teams", &r.changed_teams);
  f.Optional("datetime64", &r.datetime64);
  // Absent from a result an older vecsync recorded: it batched as for a provider.
  f.Optional("summarizer_local", &r.summarizer_local);
  RETURN_IF_ERROR(f.status());
  return r;
}

Json FinishInput::ToJson() const {
  return {{"domain", domain},
          {"embedding_version", embedding_version},
          {"snapshot_us", snapshot_us ? Json(*snapshot_us) : Json()},
          {"changes_upto", changes_upto},
          {"completes_version", completes_version}};
}

absl::StatusOr<FinishInput> FinishInput::FromJson(const Json& json) {
  FinishInput in;
  JsonFields f(json, "sync-finish input");
  f.Required("domain", &in.domain);
  f.Required("embedding_version", &in.embedding_version);
  // (Required, and never null, in an older vecsync's input.)
  f.Optional("snapshot_us", &in.snapshot_us);
  f.Optional("changes_upto", &in.changes_upto);
  f.Optional("completes_version", &in.completes_version);
  RETURN_IF_ERROR(f.status());
  return in;
}

absl::Status CheckEmbeddingVersion(PgConnection& conn, const std::string& domain,
                                   int embedding_version) {
  return CheckNotOlderThanActive(conn, domain, embedding_version);
}

absl::Status RegisterWatermarkActivities(engine::Registry* registry, const SyncEnvironment* env) {
  RETURN_IF_ERROR(engine::RegisterActivity(
      registry, kPrepareActivity, [env](engine::ActivityContext& ctx, const PrepareInput& in) {
        return Prepare(*env, ctx, in);
      }));
  return engine::RegisterActivity(
      registry, kFinishActivity,
      [env](engine::ActivityContext& ctx, const FinishInput& in) { return Finish(*env, ctx, in); });
}

}  // namespace vecsync::workflows
