// Similarity search over the vectors in ClickHouse: the newest row of each entity (argMax by
// `version`), deleted entities excluded after that choice (so an older live row of a deleted
// entity never comes back), scoped to one team and domain.
//
// The distance is 1 − dot product, which is the cosine distance for the unit vectors vecsync
// stores; computed with arrayMap/arraySum so it runs on ClickHouse 18.16 too.
#ifndef VECSYNC_CLIENTS_VECTOR_SEARCH_H_
#define VECSYNC_CLIENTS_VECTOR_SEARCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/clients/clickhouse_client.h"
#include "src/common/json.h"

namespace vecsync::clients {

struct SearchHit {
  std::string id;
  double distance = 0;
  std::string text;
  Json properties;
};

struct SearchRequest {
  std::string table = "pg_embeddings";
  std::string domain;
  int64_t team_id = 0;
  std::vector<float> query;
  int limit = 10;  // 1..1000
};

// INVALID_ARGUMENT for an empty domain or query, or a limit out of range.
absl::StatusOr<std::vector<SearchHit>> SearchSimilar(ClickHouseClient& clickhouse,
                                                     const SearchRequest& request);

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_VECTOR_SEARCH_H_
