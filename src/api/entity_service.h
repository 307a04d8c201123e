// The gRPC EntityService (proto/vecsync/v1/entity_service.proto): GetSyncStatus reports where
// each domain's sync stands (workflows/sync/sync_status.h). WatchEntityChanges streams
// the outbox the sync's flushes append to (workflows/sync/entity_events.h), in commit order,
// from the subscriber's resume token. It polls the outbox (a keyed read of what is new) every
// kWatchPollInterval while the subscriber is connected, and sends a CHECKPOINT after
// kCheckpointInterval without an event for it.
//
// Thread-safe. The pointers must outlive the service.
#ifndef VECSYNC_API_ENTITY_SERVICE_H_
#define VECSYNC_API_ENTITY_SERVICE_H_

#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/api/bearer_auth.h"
#include "src/common/pg_pool.h"
#include "vecsync/v1/entity_service.grpc.pb.h"

namespace vecsync::api {

class EntityService final : public v1::EntityService::Service {
 public:
  static constexpr absl::Duration kWatchPollInterval = absl::Milliseconds(200);
  static constexpr absl::Duration kCheckpointInterval = absl::Seconds(5);

  EntityService(PgPool* pool, const entities::EntityConfigRegistry* domains,
                const BearerAuth* auth);

  grpc::Status GetSyncStatus(grpc::ServerContext* context,
                             const v1::GetSyncStatusRequest* request,
                             v1::GetSyncStatusResponse* response) override;

  grpc::Status WatchEntityChanges(grpc::ServerContext* context,
                                  const v1::WatchEntityChangesRequest* request,
                                  grpc::ServerWriter<v1::EntityChange>* writer) override;

 private:
  PgPool* const pool_;
  const entities::EntityConfigRegistry* const domains_;
  const BearerAuth* const auth_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_ENTITY_SERVICE_H_
