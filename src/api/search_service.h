// The gRPC SearchService (proto/vecsync/v1/search_service.proto): embeds the query with the
// server's embedder and searches the domain's vectors in ClickHouse (the sync's vector table,
// workflows/sync/vector_table.h), of the domain's active embedding version only
// (workflows/sync/embedding_versions.h): a version being built for another model is never mixed
// in, and a new one is searched from the moment it is made active.
//
// Errors: INVALID_ARGUMENT for an unknown domain (listing the known ones), an empty or
// oversized query, or a limit out of range; UNAVAILABLE when ClickHouse or the embedding
// provider fails (the provider's own message goes to the server log, not to the caller).
//
// Thread-safe. The pointers must outlive the service.
#ifndef VECSYNC_API_SEARCH_SERVICE_H_
#define VECSYNC_API_SEARCH_SERVICE_H_

#include <functional>
#include <string>

#include "entities/registry.h"
#include "src/api/bearer_auth.h"
#include "src/clients/embedder.h"
#include "src/common/pg_pool.h"
#include "vecsync/v1/search_service.grpc.pb.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::api {

inline constexpr size_t kMaxQueryBytes = 32 * 1024;

// The embedder for an embedding profile ("model/dimensions"), to embed a query as the vectors of
// the active version were; FAILED_PRECONDITION when the server cannot make it.
using EmbedderForProfile =
    std::function<absl::StatusOr<clients::Embedder*>(const std::string& profile)>;

class SearchService final : public v1::SearchService::Service {
 public:
  // Searches `vectors` (the table the sync workflow writes) for the domains of `domains`; reads
  // the active versions from `pool`'s database, and embeds queries with `embedder`, or, for an
  // active version of another profile, with what `embedder_for` makes (none: such a search is
  // FAILED_PRECONDITION).
  SearchService(workflows::VectorTable* vectors, const entities::EntityConfigRegistry* domains,
                clients::Embedder* embedder, const BearerAuth* auth, PgPool* pool,
                EmbedderForProfile embedder_for = nullptr);

  grpc::Status SearchSimilar(grpc::ServerContext* context, const v1::SearchSimilarRequest* request,
                             v1::SearchSimilarResponse* response) override;

 private:
  workflows::VectorTable* const vectors_;
  const entities::EntityConfigRegistry* const domains_;
  clients::Embedder* const embedder_;
  const BearerAuth* const auth_;
  PgPool* const pool_;
  const EmbedderForProfile embedder_for_;
};

}  // namespace vecsync::api

#endif  // VECSYNC_API_SEARCH_SERVICE_H_
