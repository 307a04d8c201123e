// The gRPC EntityService (proto/vecsync/v1/entity_service.proto): GetSyncStatus reports where
// each domain's sync stands (workflows/sync/sync_status.h); PlanSync what a reconcile run would
// do and cost (workflows/sync/plan.h), priced by the server's table (src/clients/prices.h).
// WatchEntityChanges streams the outbox the sync's flushes append to
// (workflows/sync/entity_events.h), in commit order, from the subscriber's resume token. It polls
// the outbox (a keyed read of what is new) every kWatchPollInterval while the subscriber is
// connected, and sends a CHECKPOINT after kCheckpointInterval without an event for it.
//
// Thread-safe. The pointers must outlive the service.
#ifndef VECSYNC_API_ENTITY_SERVICE_H_
#define VECSYNC_API_ENTITY_SERVICE_H_

#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/api/bearer_auth.h"
#include "src/clients/prices.h"
#include "src/common/pg_pool.h"
#include "vecsync/v1/entity_service.grpc.pb.h"
#include "workflows/sync/sync_environment.h"

namespace vecsync::api {

class EntityService final : public v1::EntityService::Service {
 public:
  static constexpr absl::Duration kWatchPollInterval = absl::Milliseconds(200);
  static constexpr absl::Duration kCheckpointInterval = absl::Seconds(5);

  // `sync` is the environment the server's sync runs in (its providers decide a plan), and
  // `prices` what their tokens cost.
  EntityService(PgPool* pool, const entities::EntityConfigRegistry* domains, const BearerAuth* auth,
                const workflows::SyncEnvironment* sync, const clients::PriceTable* prices);

  grpc::Status GetSyncStatus(grpc::ServerContext* context, const v1::GetSyncStatusRequest* request,
                             v1::GetSyncStatusResponse* response) override;

  grpc::Status PlanSync(grpc::ServerContext* context, const v1::PlanSyncRequest* request,
                        v1::SyncPlan* response) override;

  grpc::Status ListFailedEntities(grpc::ServerContext* context,
                                  const v1::ListFailedEntitiesRequest* request,
                                  v1::ListFailedEntitiesResponse* response) override;
  grpc::Status RetryFailedEntities(grpc::ServerContext* context,
                                   const v1::RetryFailedEntitiesRequest* request,
                                   v1::RetryFailedEntitiesResponse* response) override;

  grpc::Status WatchEntityChanges(grpc::ServerContext* context,
                                  const v1::WatchEntityChangesRequest* request,
                                  grpc::ServerWriter<v1::EntityChange>* writer) override;

 private:
  PgPool* const pool_;
  const entities::EntityConfigRegistry* const domains_;
  const BearerAuth* const auth_;
  const workflows::SyncEnvironment* const sync_;
  const clients::PriceTable* const prices_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_ENTITY_SERVICE_H_
