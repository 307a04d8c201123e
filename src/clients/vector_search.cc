#include "src/clients/vector_search.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/common/status_macros.h"

namespace vecsync::clients {
namespace {

// Quotes a string literal for ClickHouse SQL.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

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
      request.table, " WHERE domain = ", Quote(request.domain), "  AND team_id = ", request.team_id,
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

}  // namespace vecsync::clients
