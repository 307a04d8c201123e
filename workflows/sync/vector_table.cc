#include "workflows/sync/vector_table.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

constexpr char kColumns[] =
    " (domain, team_id, id, vector, text, properties, timestamp, is_deleted, embedding_version, "
    "version)";

}  // namespace

uint64_t RowVersion(int embedding_version, absl::Time source_updated_at) {
  const uint64_t ms =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(source_updated_at)));
  return (static_cast<uint64_t>(embedding_version) << 44) | (ms & ((1ULL << 44) - 1));
}

VectorTable::VectorTable(clients::ClickHouseClient* clickhouse, std::string name)
    : clickhouse_(clickhouse), name_(std::move(name)) {}

absl::StatusOr<bool> VectorTable::CreateIfMissing() {
  if (const int checked = checked_.load(); checked != kUnchecked) {
    RETURN_IF_ERROR(Create(checked == 1));
    return checked == 1;
  }
  ASSIGN_OR_RETURN(clients::ClickHouseVersion version, clickhouse_->Version());
  const bool datetime64 = version.has_datetime64();
  const std::string before_versions = name_ + "_before_versions";
  // A table from before versions sat side by side (sorted without embedding_version: a newer
  // version's row replaced an older one's) moves aside, and its rows into the new table below.
  ASSIGN_OR_RETURN(std::string exists,
                   clickhouse_->Query(absl::StrCat("EXISTS TABLE ", name_, " FORMAT TSV")));
  if (absl::StripAsciiWhitespace(exists) == "1") {
    ASSIGN_OR_RETURN(std::string ddl,
                     clickhouse_->Query(absl::StrCat("SHOW CREATE TABLE ", name_, " FORMAT TSV")));
    if (ddl.find("embedding_version)") == std::string::npos) {
      RETURN_IF_ERROR(
          clickhouse_->Execute(absl::StrCat("RENAME TABLE ", name_, " TO ", before_versions)));
    }
  }
  RETURN_IF_ERROR(Create(datetime64));
  // Copied after the new table took new rows: a row copied twice, or older than one inserted
  // since, loses to the newest by `version`, as any row does.
  ASSIGN_OR_RETURN(
      exists, clickhouse_->Query(absl::StrCat("EXISTS TABLE ", before_versions, " FORMAT TSV")));
  if (absl::StripAsciiWhitespace(exists) == "1") {
    RETURN_IF_ERROR(clickhouse_->Execute(absl::StrCat(
        "INSERT INTO ", name_, kColumns, " SELECT ",
        absl::StrReplaceAll(kColumns, {{"(", ""}, {")", ""}}), " FROM ", before_versions)));
    RETURN_IF_ERROR(clickhouse_->Execute(absl::StrCat("DROP TABLE ", before_versions)));
  }
  checked_.store(datetime64 ? 1 : 0);
  return datetime64;
}

absl::Status VectorTable::Create(bool datetime64) {
  return clickhouse_->Execute(
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", name_,
                   " (domain String, team_id Int64, id String, vector Array(Float32), text String, "
                   "properties String, timestamp ",
                   datetime64 ? "DateTime64(6)" : "DateTime",
                   " DEFAULT now(), is_deleted UInt8, embedding_version UInt32, version UInt64) "
                   "ENGINE = ReplacingMergeTree(version) "
                   "ORDER BY (team_id, domain, id, embedding_version)"));
}

void VectorTable::AppendRow(clients::RowBinaryWriter& out, const VectorRow& row, bool datetime64) {
  out.String(row.domain);
  out.Int64(row.team_id);
  out.String(row.id);
  out.Float32Array(row.vector);
  out.String(row.text);
  out.String(row.properties);
  if (datetime64) {
    out.Int64(row.timestamp_us);
  } else {
    out.DateTime(static_cast<uint32_t>(row.timestamp_us / 1000000));
  }
  out.UInt8(row.deleted ? 1 : 0);
  out.UInt32(row.embedding_version);
  out.UInt64(row.version);
}

absl::Status VectorTable::Insert(const std::string& rows) {
  return clickhouse_->InsertRowBinary(absl::StrCat(name_, kColumns), rows);
}

absl::StatusOr<std::unique_ptr<clients::ClickHouseInsert>> VectorTable::StartInsert() {
  return clickhouse_->StartInsert(absl::StrCat(name_, kColumns));
}

absl::StatusOr<std::map<EntityKey, StoredVector>> VectorTable::LatestVectors(
    const std::string& domain, int embedding_version, const std::vector<EntityKey>& keys) {
  std::map<EntityKey, StoredVector> out;
  if (keys.empty()) return out;
  std::string teams, ids;
  for (const EntityKey& key : keys) {
    absl::StrAppend(&teams, teams.empty() ? "" : ",", key.team_id);
    absl::StrAppend(&ids, ids.empty() ? "" : ",", clients::ClickHouseQuote(key.id));
  }
  ASSIGN_OR_RETURN(const std::string body,
                   clickhouse_->Query(absl::StrCat(
                       "SELECT team_id, id, argMax(is_deleted, version), argMax(vector, version), "
                       "max(version) FROM ",
                       name_, " WHERE domain = ", clients::ClickHouseQuote(domain),
                       " AND embedding_version = ", embedding_version, " AND team_id IN (", teams,
                       ") AND id IN (", ids, ") GROUP BY team_id, id FORMAT RowBinary")));
  const std::set<EntityKey> wanted(keys.begin(), keys.end());
  clients::RowBinaryReader rows(body);
  while (!rows.done()) {
    ASSIGN_OR_RETURN(int64_t team_id, rows.Int64());
    ASSIGN_OR_RETURN(absl::string_view id, rows.String());
    ASSIGN_OR_RETURN(uint8_t is_deleted, rows.UInt8());
    ASSIGN_OR_RETURN(absl::string_view vector, rows.Float32Array());
    ASSIGN_OR_RETURN(int64_t version, rows.Int64());
    EntityKey key{team_id, std::string(id)};
    // The IN lists cross teams with ids: keep only the pairs asked for.
    if (is_deleted == 0 && !vector.empty() && wanted.contains(key)) {
      out.emplace(std::move(key),
                  StoredVector{std::string(vector), static_cast<uint64_t>(version)});
    }
  }
  return out;
}

absl::StatusOr<std::vector<SearchHit>> VectorTable::Search(const SearchRequest& request) {
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
      name_, " WHERE domain = ", clients::ClickHouseQuote(request.domain),
      "  AND team_id = ", request.team_id,
      request.embedding_version
          ? absl::StrCat(" AND embedding_version = ", *request.embedding_version)
          : std::string(),
      " GROUP BY id) "
      "WHERE deleted = 0 AND length(vec) = ",
      request.query.size(), " ORDER BY distance, id LIMIT ", request.limit, " FORMAT JSONEachRow");
  ASSIGN_OR_RETURN(std::string body, clickhouse_->Query(sql));
  std::vector<SearchHit> hits;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    Json row = Json::parse(line, nullptr, false);
    if (row.is_discarded() || !row["id"].is_string() || !row["txt"].is_string() ||
        !row["props"].is_string()) {
      return absl::InternalError("ClickHouse returned a malformed row");
    }
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

}  // namespace vecsync::workflows
