// Reading vectors back from ClickHouse: the newest row of each entity (argMax by `version`),
// deleted entities excluded after that choice (so an older live row of a deleted entity never
// comes back).
//
// SearchSimilar ranks one team's entities of a domain by their distance to a query vector.
//
// The distance is 1 − dot product, which is the cosine distance for the unit vectors vecsync
// stores; computed with arrayMap/arraySum so it runs on ClickHouse 18.16 too.
#ifndef VECSYNC_CLIENTS_VECTOR_SEARCH_H_
#define VECSYNC_CLIENTS_VECTOR_SEARCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
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

// (team_id, id) of an entity in ClickHouse.
using VectorKey = std::pair<int64_t, std::string>;

struct StoredVector {
  std::string vector;    // Little-endian float32 bytes.
  uint64_t version = 0;  // The row's `version`.
};

// The newest row of each of `keys` among `domain`'s rows of `embedding_version`, when it is not
// deleted; keys with no such row are absent from the result. Lets a row be written again (new
// properties) with the vector it already has, without embedding again.
absl::StatusOr<std::map<VectorKey, StoredVector>> LatestVectors(ClickHouseClient& clickhouse,
                                                                const std::string& table,
                                                                const std::string& domain,
                                                                int embedding_version,
                                                                const std::vector<VectorKey>& keys);

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_VECTOR_SEARCH_H_
