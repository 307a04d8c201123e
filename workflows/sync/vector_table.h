// The ClickHouse table the sync writes and search reads (`pg_embeddings`, PostHog's columns plus
// `embedding_version` and `version`): its schema, the encoding of its rows, and the queries
// that read it. Nothing else in vecsync names its columns.
//
//   pg_embeddings (domain String, team_id Int64, id String, vector Array(Float32), text String,
//                  properties String, timestamp DateTime64(6) | DateTime, is_deleted UInt8,
//                  embedding_version UInt32, version UInt64)
//   ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, domain, id, embedding_version)
//
// Embedding versions sit side by side: each entity has a row per version (embedding_versions.h),
// and search reads one version. Within a version, `version` orders an entity's rows by content
// (see RowVersion), so a retried or late insert never lets older content win. Readers take each
// entity's row of the highest version and drop it if deleted, so an older live row of a deleted
// entity never comes back before a merge. A table made before versions sat side by side is
// rebuilt with this key by CreateIfMissing(). Works on ClickHouse 18.16 (DateTime, no
// cosineDistance) and current releases (DateTime64(6)).
//
// Thread-safe, as the ClickHouse client is.
#ifndef VECSYNC_WORKFLOWS_SYNC_VECTOR_TABLE_H_
#define VECSYNC_WORKFLOWS_SYNC_VECTOR_TABLE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/clients/clickhouse_client.h"
#include "src/common/json.h"
#include "workflows/sync/entity_key.h"

namespace vecsync::workflows {

// ClickHouse's `version` of a row: the embedding version in the high 20 bits, then the source
// row's updated_at in milliseconds.
uint64_t RowVersion(int embedding_version, absl::Time source_updated_at);
// The embedding version a row version was made with.
inline int64_t EmbeddingVersionOf(uint64_t row_version) {
  return static_cast<int64_t>(row_version >> 44);
}

// One row of the table. Strings are views into the caller's data.
struct VectorRow {
  absl::string_view domain;
  int64_t team_id = 0;
  absl::string_view id;
  absl::string_view vector;  // Little-endian float32 bytes; empty for a tombstone.
  absl::string_view text;
  absl::string_view properties;  // A JSON object.
  int64_t timestamp_us = 0;
  bool deleted = false;
  uint32_t embedding_version = 0;
  uint64_t version = 0;
};

struct SearchHit {
  std::string id;
  double distance = 0;
  std::string text;
  Json properties;
};

struct SearchRequest {
  std::string domain;
  int64_t team_id = 0;
  // The version to search (the domain's active one); nullopt: each entity's newest version.
  std::optional<int> embedding_version;
  std::vector<float> query;
  int limit = 10;  // 1..1000
};

// The newest row of an entity, as LatestVectors() finds it.
struct StoredVector {
  std::string vector;    // Little-endian float32 bytes.
  uint64_t version = 0;  // The row's `version`.
};

class VectorTable {
 public:
  // `clickhouse` is not owned and must outlive the table.
  VectorTable(clients::ClickHouseClient* clickhouse, std::string name);

  const std::string& name() const { return name_; }

  // Creates the table when it does not exist, or rebuilds it with the key above: the old table is
  // renamed `<name>_before_versions`, and its rows copied into the new one (an insert between the
  // rename and the create fails, and its flush is retried); a rebuild is looked for once per
  // VectorTable. Returns whether its `timestamp` is DateTime64(6) (true on servers that have it),
  // which AppendRow() must be told.
  absl::StatusOr<bool> CreateIfMissing();

  // Appends `row` to an insert body in the column order Insert() names.
  static void AppendRow(clients::RowBinaryWriter& out, const VectorRow& row, bool datetime64);

  // Inserts rows encoded by AppendRow(). UNAVAILABLE when ClickHouse cannot take them (retry).
  absl::Status Insert(const std::string& rows);
  // Starts an insert whose rows (encoded by AppendRow()) are sent as they are written.
  absl::StatusOr<std::unique_ptr<clients::ClickHouseInsert>> StartInsert();

  // The newest row of each of `keys` among `domain`'s rows of `embedding_version`, when it is
  // not deleted; keys with no such row are absent from the result. Lets a row be written again
  // (new properties) with the vector it already has, without embedding again.
  absl::StatusOr<std::map<EntityKey, StoredVector>> LatestVectors(
      const std::string& domain, int embedding_version, const std::vector<EntityKey>& keys);

  // One team's entities of a domain, nearest to the query vector first. The distance is 1 − dot
  // product, the cosine distance for the unit vectors vecsync stores (arrayMap/arraySum, so it
  // runs on 18.16 too). INVALID_ARGUMENT for an empty domain or query, or a limit out of range.
  absl::StatusOr<std::vector<SearchHit>> Search(const SearchRequest& request);

 private:
  // CREATE TABLE IF NOT EXISTS with the key above.
  absl::Status Create(bool datetime64);

  clients::ClickHouseClient* const clickhouse_;
  const std::string name_;
  // Set once the table was found (or made) with the key above, and whether its `timestamp` is
  // DateTime64: later calls only make sure it still exists, with one statement instead of five.
  std::atomic<int> checked_{kUnchecked};
  static constexpr int kUnchecked = -1;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_VECTOR_TABLE_H_
