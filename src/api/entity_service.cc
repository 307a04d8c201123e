#include "src/api/entity_service.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/api/grpc_status.h"
#include "src/api/proto_convert.h"
#include "workflows/sync/entity_events.h"
#include "workflows/sync/failed_entities.h"
#include "workflows/sync/plan.h"
#include "workflows/sync/sync_status.h"

namespace vecsync::api {
namespace {

// Events read from the outbox at a time.
constexpr int kPage = 500;

// Tokens are the outbox's sequence numbers, prefixed so that a token is recognizably one.
constexpr char kTokenPrefix[] = "e";

std::string Token(int64_t seq) { return absl::StrCat(kTokenPrefix, seq); }

absl::StatusOr<int64_t> SeqOfToken(const std::string& token) {
  int64_t seq = 0;
  if (token.rfind(kTokenPrefix, 0) != 0 ||
      !absl::SimpleAtoi(absl::string_view(token).substr(1), &seq) || seq < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resume_token \"", token,
        "\" is not one this server gave: pass the resume_token of the last event processed, "
        "or none to watch from now"));
  }
  return seq;
}

}  // namespace

EntityService::EntityService(PgPool* pool, const entities::EntityConfigRegistry* domains,
                             const BearerAuth* auth, const workflows::SyncEnvironment* sync,
                             const clients::PriceTable* prices)
    : pool_(pool), domains_(domains), auth_(auth), sync_(sync), prices_(prices) {}

namespace {

void ToProto(const workflows::EntityCounts& counts, int64_t team_id, v1::EntityCounts* out) {
  out->set_team_id(team_id);
  out->set_in_scope(counts.in_scope);
  out->set_synced(counts.synced);
  out->set_stale(counts.stale);
  out->set_failed(counts.failed);
  out->set_quarantined(counts.quarantined);
  out->set_to_remove(counts.to_remove);
  if (counts.oldest_unsynced_change) {
    ToProtoTime(*counts.oldest_unsynced_change, out->mutable_oldest_unsynced_change());
  }
}

// The embedding model of a profile's embedder, "model/dimensions".
std::string ModelOf(const std::string& embedder) { return embedder.substr(0, embedder.rfind('/')); }

void SetCost(const clients::TokenCost& cost, v1::SyncRun* out) {
  if (cost.usd) out->set_cost_usd(*cost.usd);
  for (const std::string& model : cost.unpriced_models) out->add_unpriced_models(model);
}

void ToProto(const workflows::SyncRunInfo& run, v1::SyncRun* out) {
  out->set_workflow_id(run.workflow_id);
  out->set_run_id(run.run_id);
  out->set_status(run.status);
  ToProtoTime(run.start_time, out->mutable_start_time());
  if (run.close_time) ToProtoTime(*run.close_time, out->mutable_close_time());
  out->set_input_json(run.input.dump());
  if (!run.result.is_null()) out->set_result_json(run.result.dump());
  if (!run.failure.is_null()) out->set_failure_json(run.failure.dump());
}

void ToProto(const workflows::DomainStatus& status, v1::DomainSyncStatus* out) {
  out->set_domain(status.domain);
  out->set_embedding_version(status.embedding_version);
  if (status.version) {
    out->set_active(status.version->active);
    if (status.version->profile) {
      out->set_summarizer(status.version->profile->summarizer);
      out->set_embedder(status.version->profile->embedder);
    }
  }
  out->set_building_version(status.building_version.value_or(0));
  ToProto(status.totals, 0, out->mutable_totals());
  for (const workflows::TeamStatus& team : status.teams) {
    ToProto(team.counts, team.team_id, out->add_teams());
  }
  out->set_queued_changes(status.queued_changes);
  if (status.oldest_queued_change) {
    ToProtoTime(*status.oldest_queued_change, out->mutable_oldest_queued_change());
  }
  if (status.last_run) ToProto(*status.last_run, out->mutable_last_run());
  if (status.running) ToProto(*status.running, out->mutable_running());
}

}  // namespace

grpc::Status EntityService::GetSyncStatus(grpc::ServerContext* context,
                                          const v1::GetSyncStatusRequest* request,
                                          v1::GetSyncStatusResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  std::vector<std::string> domains = domains_->Domains();
  if (!request->domain().empty()) {
    if (auto config = domains_->Find(request->domain()); !config.ok()) {
      return ToGrpcStatus(config.status());
    }
    domains = {request->domain()};
  }
  const std::vector<int64_t> teams(request->team_ids().begin(), request->team_ids().end());
  auto conn = pool_->Acquire();
  if (!conn.ok()) return ToGrpcStatus(conn.status());
  for (const std::string& domain : domains) {
    absl::StatusOr<workflows::DomainStatus> status =
        workflows::ReadDomainStatus(**conn, **domains_->Find(domain), teams);
    if (!status.ok()) return ToGrpcStatus(status.status());
    v1::DomainSyncStatus* domain_status = response->add_domains();
    ToProto(*status, domain_status);
    // What the last run's recorded tokens cost.
    const Json& result = status->last_run ? status->last_run->result : Json();
    if (result.is_object() && sync_ != nullptr && prices_ != nullptr) {
      const std::string embedding_model = status->version && status->version->profile
                                              ? ModelOf(status->version->profile->embedder)
                                              : sync_->embedder->model();
      SetCost(prices_->Cost(sync_->summarizer->model(), result.value("prompt_tokens", int64_t{0}),
                            result.value("completion_tokens", int64_t{0}), embedding_model,
                            result.value("embedding_tokens", int64_t{0})),
              domain_status->mutable_last_run());
    }
  }
  return grpc::Status::OK;
}

grpc::Status EntityService::PlanSync(grpc::ServerContext* context,
                                     const v1::PlanSyncRequest* request, v1::SyncPlan* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (sync_ == nullptr || prices_ == nullptr) {
    return ToGrpcStatus(absl::UnimplementedError("this server runs no sync: it cannot plan one"));
  }
  if (auto config = domains_->Find(request->domain()); !config.ok()) {
    return ToGrpcStatus(config.status());
  }
  const std::vector<int64_t> teams(request->team_ids().begin(), request->team_ids().end());
  absl::StatusOr<workflows::SyncPlan> plan =
      workflows::PlanReconcile(*sync_, request->domain(), teams);
  if (!plan.ok()) return ToGrpcStatus(plan.status());
  const workflows::ProcessPlan& c = plan->counts;
  response->set_domain(plan->domain);
  response->set_embedding_version(plan->embedding_version);
  response->set_new_version(plan->new_version);
  response->set_summarizer(plan->profile.summarizer);
  response->set_embedder(plan->profile.embedder);
  response->set_chat_model(sync_->summarizer->model());
  response->set_embedding_model(sync_->embedder->model());
  response->set_selected(c.selected);
  response->set_summarize(c.summarize);
  response->set_embed(c.embed);
  response->set_refresh(c.refresh);
  response->set_tombstone(c.tombstone);
  response->set_unchanged(c.unchanged);
  response->set_prompt_tokens(c.prompt_tokens);
  response->set_completion_tokens(c.completion_tokens);
  response->set_embedding_tokens(c.embedding_tokens);
  const clients::TokenCost cost =
      prices_->Cost(response->chat_model(), c.prompt_tokens, c.completion_tokens,
                    response->embedding_model(), c.embedding_tokens);
  if (cost.usd) response->set_cost_usd(*cost.usd);
  for (const std::string& model : cost.unpriced_models) response->add_unpriced_models(model);
  return grpc::Status::OK;
}

grpc::Status EntityService::ListFailedEntities(grpc::ServerContext* context,
                                               const v1::ListFailedEntitiesRequest* request,
                                               v1::ListFailedEntitiesResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (auto config = domains_->Find(request->domain()); !config.ok()) {
    return ToGrpcStatus(config.status());
  }
  auto conn = pool_->Acquire();
  if (!conn.ok()) return ToGrpcStatus(conn.status());
  absl::StatusOr<std::vector<workflows::FailedEntity>> failed =
      workflows::ListFailedEntities(**conn, request->domain(), request->quarantined_only());
  if (!failed.ok()) return ToGrpcStatus(failed.status());
  for (const workflows::FailedEntity& e : *failed) {
    v1::FailedEntity* out = response->add_entities();
    out->set_team_id(e.team_id);
    out->set_entity_id(e.entity_id);
    out->set_failures(e.failures);
    out->set_quarantined(e.quarantined);
    out->set_last_error(e.last_error);
  }
  return grpc::Status::OK;
}

grpc::Status EntityService::RetryFailedEntities(grpc::ServerContext* context,
                                                const v1::RetryFailedEntitiesRequest* request,
                                                v1::RetryFailedEntitiesResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (auto config = domains_->Find(request->domain()); !config.ok()) {
    return ToGrpcStatus(config.status());
  }
  auto conn = pool_->Acquire();
  if (!conn.ok()) return ToGrpcStatus(conn.status());
  absl::StatusOr<int64_t> retried =
      workflows::RetryFailedEntities(**conn, request->domain(), request->quarantined_only());
  if (!retried.ok()) return ToGrpcStatus(retried.status());
  response->set_retried(*retried);
  return grpc::Status::OK;
}

grpc::Status EntityService::WatchEntityChanges(grpc::ServerContext* context,
                                               const v1::WatchEntityChangesRequest* request,
                                               grpc::ServerWriter<v1::EntityChange>* writer) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (request->domain().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("domain is required"));
  }
  if (auto config = domains_->Find(request->domain()); !config.ok()) {
    return ToGrpcStatus(config.status());
  }
  const std::vector<int64_t> teams(request->team_ids().begin(), request->team_ids().end());
  int64_t after = 0;
  if (!request->resume_token().empty()) {
    absl::StatusOr<int64_t> seq = SeqOfToken(request->resume_token());
    if (!seq.ok()) return ToGrpcStatus(seq.status());
    after = *seq;
  } else {
    auto conn = pool_->Acquire();
    if (!conn.ok()) return ToGrpcStatus(conn.status());
    absl::StatusOr<int64_t> newest = workflows::NewestEntityEventSeq(**conn);
    if (!newest.ok()) return ToGrpcStatus(newest.status());
    after = *newest;
  }
  absl::Time last_sent = absl::Now();
  while (!context->IsCancelled()) {
    absl::StatusOr<std::vector<workflows::EntityEvent>> events;
    int64_t newest = after;
    {
      // A connection per poll, not per subscriber: a thousand idle watchers hold none.
      auto conn = pool_->Acquire();
      if (!conn.ok()) return ToGrpcStatus(conn.status());
      events = workflows::EntityEventsAfter(**conn, request->domain(), after, teams, kPage);
      if (!events.ok()) return ToGrpcStatus(events.status());
      // Every event up to `newest` is committed or never will be (appends are serialized):
      // a quiet subscriber may skip to it.
      if (events->empty()) {
        absl::StatusOr<int64_t> seq = workflows::NewestEntityEventSeq(**conn);
        if (!seq.ok()) return ToGrpcStatus(seq.status());
        newest = *seq;
      }
    }
    for (const workflows::EntityEvent& e : *events) {
      v1::EntityChange change;
      change.set_resume_token(Token(e.seq));
      change.set_kind(e.tombstone ? v1::EntityChange::TOMBSTONED : v1::EntityChange::EMBEDDED);
      change.set_domain(e.domain);
      change.set_team_id(e.team_id);
      change.set_entity_id(e.entity_id);
      change.set_embedding_version(e.embedding_version);
      change.set_version(e.row_version);
      change.set_recorded_at_us(absl::ToUnixMicros(e.created_at));
      if (!writer->Write(change)) return grpc::Status::OK;  // The subscriber went away.
      after = e.seq;
      last_sent = absl::Now();
    }
    if (static_cast<int>(events->size()) == kPage) continue;
    if (newest > after && absl::Now() - last_sent >= kCheckpointInterval) {
      v1::EntityChange checkpoint;
      checkpoint.set_resume_token(Token(newest));
      checkpoint.set_kind(v1::EntityChange::CHECKPOINT);
      checkpoint.set_domain(request->domain());
      if (!writer->Write(checkpoint)) return grpc::Status::OK;
      after = newest;
      last_sent = absl::Now();
    }
    absl::SleepFor(kWatchPollInterval);
  }
  return grpc::Status::OK;
}

}  // namespace vecsync::api
