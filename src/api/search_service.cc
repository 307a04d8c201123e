#include "src/api/search_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/api/grpc_status.h"
#include "src/common/log.h"
#include "workflows/sync/embedding_versions.h"

namespace vecsync::api {

SearchService::SearchService(workflows::VectorTable* vectors,
                             const entities::EntityConfigRegistry* domains,
                             clients::Embedder* embedder, const BearerAuth* auth, PgPool* pool,
                             EmbedderForProfile embedder_for)
    : vectors_(vectors),
      domains_(domains),
      embedder_(embedder),
      auth_(auth),
      pool_(pool),
      embedder_for_(std::move(embedder_for)) {}

grpc::Status SearchService::SearchSimilar(grpc::ServerContext* context,
                                          const v1::SearchSimilarRequest* request,
                                          v1::SearchSimilarResponse* response) {
  if (absl::Status s = auth_->Check(*context); !s.ok()) return ToGrpcStatus(s);
  if (request->domain().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("domain is required"));
  }
  if (auto config = domains_->Find(request->domain()); !config.ok()) {
    return ToGrpcStatus(config.status());
  }
  if (absl::StripAsciiWhitespace(request->query()).empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("query is required"));
  }
  if (request->query().size() > kMaxQueryBytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "query is ", request->query().size(), " bytes; the limit is ", kMaxQueryBytes)));
  }
  workflows::SearchRequest search;
  search.domain = request->domain();
  search.team_id = request->team_id();
  search.limit = request->limit() == 0 ? 10 : request->limit();
  if (search.limit < 1 || search.limit > 1000) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("limit must be between 1 and 1000, got ", request->limit())));
  }
  // The active version, and an embedder that embeds the query as its vectors were.
  std::optional<workflows::EmbeddingVersion> active;
  {
    auto conn = pool_->Acquire();
    if (!conn.ok()) return ToGrpcStatus(conn.status());
    absl::StatusOr<std::optional<workflows::EmbeddingVersion>> found =
        workflows::ActiveEmbeddingVersionOf(**conn, search.domain);
    if (!found.ok()) return ToGrpcStatus(found.status());
    active = *std::move(found);
  }
  clients::Embedder* embedder = embedder_;
  if (active) {
    search.embedding_version = active->version;
    const std::string configured = absl::StrCat(embedder_->model(), "/", embedder_->dimensions());
    if (active->profile && active->profile->embedder != configured) {
      absl::StatusOr<clients::Embedder*> other =
          embedder_for_ ? embedder_for_(active->profile->embedder)
                        : absl::FailedPreconditionError(absl::StrCat(
                              "the active version's vectors were made by ",
                              active->profile->embedder, "; this server embeds with ", configured));
      if (!other.ok()) return ToGrpcStatus(other.status());
      embedder = *other;
    }
  }
  absl::StatusOr<std::vector<std::vector<float>>> query = embedder->Embed({request->query()});
  if (!query.ok()) {
    // The provider's answer is the server's business (it may quote the key, and a 4xx there
    // is not the caller's fault): log it, and tell the caller only that it failed.
    LogWarning("search: embedding the query failed", {{"error", query.status().ToString()}});
    return ToGrpcStatus(absl::UnavailableError(
        "the embedding provider could not embed the query; see the server log"));
  }
  search.query = std::move((*query)[0]);
  absl::StatusOr<std::vector<workflows::SearchHit>> hits = vectors_->Search(search);
  if (!hits.ok()) return ToGrpcStatus(hits.status());
  for (const workflows::SearchHit& hit : *hits) {
    v1::SearchHit* out = response->add_hits();
    out->set_entity_id(hit.id);
    out->set_distance(hit.distance);
    out->set_text(hit.text);
    out->set_properties_json(hit.properties.is_null() ? "{}" : hit.properties.dump());
  }
  return grpc::Status::OK;
}

}  // namespace vecsync::api
