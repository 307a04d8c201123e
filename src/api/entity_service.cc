#include "src/api/entity_service.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/api/grpc_status.h"
#include "workflows/sync/entity_events.h"

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
                             const BearerAuth* auth)
    : pool_(pool), domains_(domains), auth_(auth) {}

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
