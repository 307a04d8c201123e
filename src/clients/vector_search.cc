#include "src/clients/vector_search.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"

namespace vecsync::clients {

absl::StatusOr<std::vector<SearchHit>> SearchSimilar(ClickHouseClient& clickhouse,
                                                     const SearchRequest& request) {
  if (request.domain.empty()) return absl::InvalidArgumentError("domain is required");
  if (request.query.empty()) return absl::InvalidArgumentError("the query vector is empty");
  if (request.limit < 1 || request.limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit must be between 1 and 1000, got ", request.limit));
  }
  const std::string query_vector = absl::StrCat(
      "[",
      absl::StrJoin(request.query, ",",
                    [](std::string* out, float x) { absl::StrAppend(out, absl::SixDigits(x)); }),
      "]");
  const std::string sql = absl::StrCat(
      "SELECT id, 1 - arraySum(arrayMap((x, y) -> x * y, vec, ", query_vector,
      ")) AS distance, txt, props FROM ("
      "  SELECT id, argMax(vector, version) AS vec, argMax(text, version) AS txt, "
      "    argMax(properties, version) AS props, argMax(is_deleted, version) AS deleted "
      "  FROM ",
      request.table, " WHERE domain = ", ClickHouseQuote(request.domain),
      "  AND team_id = ", request.team_id,
      " GROUP BY id) "
      "WHERE deleted = 0 AND length(vec) = ",
      request.query.size(), " ORDER BY distance, id LIMIT ", request.limit, " FORMAT JSONEachRow");
  ASSIGN_OR_RETURN(std::string body, clickhouse.Query(sql));
  std::vector<SearchHit> hits;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    Json row = Json::parse(line, nullptr, false);
    if (row.is_discarded()) return absl::InternalError("ClickHouse returned a malformed row");
    SearchHit hit;
    hit.id = row["id"].get<std::string>();
    hit.distance = row["distance"].is_number() ? row["distance"].get<double>() : 0;
    hit.text = row["txt"].get<std::string>();
    Json props = Json::parse(row["props"].get<std::string>(), nullptr, false);
    hit.properties = props.is_discarded() ? Json::object() : props;
    hits.push_back(std::move(hit));
  }
  return hits;
}

absl::StatusOr<std::map<VectorKey, StoredVector>> LatestVectors(
    ClickHouseClient& clickhouse, const std::string& table, const std::string& domain,
    int embedding_version, const std::vector<VectorKey>& keys) {
  std::map<VectorKey, StoredVector> out;
  if (keys.empty()) return out;
  std::string teams, ids;
  for (const VectorKey& key : keys) {
    absl::StrAppend(&teams, teams.empty() ? "" : ",", key.first);
    absl::StrAppend(&ids, ids.empty() ? "" : ",", ClickHouseQuote(key.second));
  }
  ASSIGN_OR_RETURN(const std::string body,
                   clickhouse.Query(absl::StrCat(
                       "SELECT team_id, id, argMax(is_deleted, version), argMax(vector, version), "
                       "max(version) FROM ",
                       table, " WHERE domain = ", ClickHouseQuote(domain),
                       " AND embedding_version = ", embedding_version, " AND team_id IN (", teams,
                       ") AND id IN (", ids, ") GROUP BY team_id, id FORMAT RowBinary")));
  const std::set<VectorKey> wanted(keys.begin(), keys.end());
  RowBinaryReader rows(body);
  while (!rows.done()) {
    ASSIGN_OR_RETURN(int64_t team_id, rows.Int64());
    ASSIGN_OR_RETURN(absl::string_view id, rows.String());
    ASSIGN_OR_RETURN(uint8_t is_deleted, rows.UInt8());
    ASSIGN_OR_RETURN(absl::string_view vector, rows.Float32Array());
    ASSIGN_OR_RETURN(int64_t version, rows.Int64());
    VectorKey key(team_id, std::string(id));
    // The IN lists cross teams with ids: keep only the pairs asked for.
    if (is_deleted == 0 && !vector.empty() && wanted.contains(key)) {
      out.emplace(std::move(key),
                  StoredVector{std::string(vector), static_cast<uint64_t>(version)});
    }
  }
  return out;
}

}  // namespace vecsync::clients
