#include "workflows/sync/ledger.h"

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/entity_events.h"
#include "workflows/sync/sql_time.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::workflows {
std::optional<std::string> TeamIdsParam(const KeyFilter& filter) {
  if (filter.team_ids.empty()) return std::nullopt;
  return PgArrayLiteral(filter.team_ids);
}

std::optional<std::string> EntityIdsParam(const KeyFilter& filter) {
  if (filter.entity_ids.empty()) return std::nullopt;
  return PgArrayLiteral(filter.entity_ids);
}

absl::StatusOr<std::map<EntityKey, LedgerEntry>> Ledger::Read(absl::Span<const EntityKey> keys,
                                                              int embedding_version) {
  std::vector<int64_t> teams;
  std::vector<std::string> ids;
  for (const EntityKey& key : keys) {
    teams.push_back(key.team_id);
    ids.push_back(key.id);
  }
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query(absl::StrCat("SELECT team_id, entity_id, content_hash, summary, summary_hash, "
                               "  vector_hash, embedding_version, deleted, synced_at IS NOT NULL, "
                               "  failures, properties, ",
                               MicrosOf("source_updated_at"),
                               ", COALESCE(row_version, -1) "
                               "FROM vecsync.entity_state WHERE domain = $1 "
                               "  AND embedding_version = $4 AND (team_id, entity_id) IN "
                               "    (SELECT * FROM unnest($2::bigint[], $3::text[]))"),
                  domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), embedding_version));
  std::map<EntityKey, LedgerEntry> entries;
  for (int i = 0; i < r.rows(); ++i) {
    LedgerEntry& e = entries[{r.GetInt64(i, 0), r.GetString(i, 1)}];
    e.content_hash = r.GetString(i, 2);
    e.summary = r.GetString(i, 3);
    e.summary_hash = r.GetString(i, 4);
    e.vector_hash = r.GetString(i, 5);
    e.embedding_version = static_cast<int>(r.GetInt64(i, 6, -1));
    e.deleted = r.GetBool(i, 7);
    e.synced = r.GetBool(i, 8);
    e.failures = static_cast<int>(r.GetInt64(i, 9));
    e.properties = r.GetJson(i, 10);
    e.source_updated_at = absl::FromUnixMicros(r.GetInt64(i, 11));
    e.row_version = r.GetInt64(i, 12);
  }
  return entries;
}

absl::StatusOr<std::map<EntityKey, ReusableSummary>> Ledger::SummariesOfContent(
    absl::Span<const ContentKey> wanted) {
  std::map<EntityKey, ReusableSummary> found;
  if (wanted.empty()) return found;
  std::vector<int64_t> teams;
  std::vector<std::string> ids, hashes;
  for (const ContentKey& w : wanted) {
    teams.push_back(w.key.team_id);
    ids.push_back(w.key.id);
    hashes.push_back(w.content_hash);
  }
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query("SELECT DISTINCT ON (st.team_id, st.entity_id) st.team_id, st.entity_id, "
                  "  st.summary, st.summary_hash "
                  "FROM unnest($2::bigint[], $3::text[], $4::text[]) AS w(team_id, entity_id, "
                  "  content_hash) "
                  "JOIN vecsync.entity_state st ON st.domain = $1 AND st.team_id = w.team_id "
                  "  AND st.entity_id = w.entity_id AND st.content_hash = w.content_hash "
                  "WHERE st.summary IS NOT NULL AND st.summary <> '' "
                  "ORDER BY st.team_id, st.entity_id, st.embedding_version DESC",
                  domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(hashes)));
  for (int i = 0; i < r.rows(); ++i) {
    found[{r.GetInt64(i, 0), r.GetString(i, 1)}] = {r.GetString(i, 2), r.GetString(i, 3)};
  }
  return found;
}

absl::Status Ledger::RecordSummaries(absl::Span<const SummaryRecord> summaries,
                                     int embedding_version) {
  if (summaries.empty()) return absl::OkStatus();
  std::vector<int64_t> teams, updated_us;
  std::vector<std::string> ids, content_hashes, texts, summary_hashes;
  for (const SummaryRecord& s : summaries) {
    teams.push_back(s.key.team_id);
    ids.push_back(s.key.id);
    content_hashes.push_back(s.content_hash);
    texts.push_back(s.summary);
    summary_hashes.push_back(s.summary_hash);
    updated_us.push_back(s.source_updated_us);
  }
  return conn_
      .Query(
          absl::StrCat("INSERT INTO vecsync.entity_state (domain, embedding_version, team_id, "
                       "  entity_id, content_hash, summary, summary_hash, source_updated_at) "
                       "SELECT $1, $8, v.team_id, v.entity_id, v.content_hash, v.summary, "
                       "  v.summary_hash, ",
                       kTimestampFromMicros,
                       "v.updated_us "
                       "FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], "
                       "  $6::text[], $7::bigint[]) "
                       "  AS v(team_id, entity_id, content_hash, summary, summary_hash, "
                       "       updated_us) "
                       "ON CONFLICT (domain, embedding_version, team_id, entity_id) DO UPDATE SET "
                       "  content_hash = EXCLUDED.content_hash, summary = EXCLUDED.summary, "
                       "  summary_hash = EXCLUDED.summary_hash, updated_at = now()"),
          domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(content_hashes),
          PgArrayLiteral(texts), PgArrayLiteral(summary_hashes), PgArrayLiteral(updated_us),
          embedding_version)
      .status();
}

absl::Status Ledger::RecordFailure(const EntityKey& key, const std::string& error,
                                   int64_t row_version) {
  return conn_
      .Query(
          "INSERT INTO vecsync.entity_state AS st (domain, embedding_version, team_id, entity_id, "
          "  failures, last_error, quarantined, row_version) "
          "VALUES ($1, $7, $2, $3, 1, $4, 1 >= $5, $6) "
          "ON CONFLICT (domain, embedding_version, team_id, entity_id) DO UPDATE SET "
          "  failures = st.failures + 1, last_error = EXCLUDED.last_error, "
          "  quarantined = st.failures + 1 >= $5, row_version = EXCLUDED.row_version, "
          "  updated_at = now() "
          "WHERE COALESCE(st.row_version, -1) <= EXCLUDED.row_version",
          domain_, key.team_id, key.id, error, kMaxEntityFailures, row_version,
          EmbeddingVersionOf(static_cast<uint64_t>(row_version)))
      .status();
}

absl::Status Ledger::ClearFailures(const EntityKey& key, int64_t row_version) {
  return conn_
      .Query(
          "UPDATE vecsync.entity_state SET failures = 0, last_error = NULL, quarantined = false, "
          "  row_version = $4, updated_at = now() "
          "WHERE domain = $1 AND embedding_version = $5 AND team_id = $2 AND entity_id = $3 "
          "  AND failures > 0 AND COALESCE(row_version, -1) <= $4",
          domain_, key.team_id, key.id, row_version,
          EmbeddingVersionOf(static_cast<uint64_t>(row_version)))
      .status();
}

absl::Status Ledger::RecordTouched(absl::Span<const TouchedEntity> touched, int embedding_version) {
  if (touched.empty()) return absl::OkStatus();
  std::vector<int64_t> teams, updated_us;
  std::vector<std::string> ids, vector_hashes;
  for (const TouchedEntity& t : touched) {
    teams.push_back(t.key.team_id);
    ids.push_back(t.key.id);
    updated_us.push_back(t.source_updated_us);
    vector_hashes.push_back(t.vector_hash);
  }
  return conn_
      .Query(absl::StrCat(
                 "UPDATE vecsync.entity_state st SET source_updated_at = ", kTimestampFromMicros,
                 "t.updated_us, updated_at = now() "
                 "FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[]) "
                 "  AS t(team_id, entity_id, updated_us, vector_hash) "
                 "WHERE st.domain = $1 AND st.embedding_version = $6 AND st.team_id = t.team_id "
                 "  AND st.entity_id = t.entity_id AND st.vector_hash = t.vector_hash "
                 "  AND NOT st.deleted AND st.failures = 0 AND (st.source_updated_at IS NULL "
                 "    OR st.source_updated_at < ",
                 kTimestampFromMicros, "t.updated_us)"),
             domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(updated_us),
             PgArrayLiteral(vector_hashes), embedding_version)
      .status();
}

absl::Status Ledger::RecordSynced(absl::Span<const QueuedRow* const> rows) {
  if (rows.empty()) return absl::OkStatus();
  // Binary arrays: 10,000 summaries as text literals were quoted here and parsed by array_in.
  PgBinaryArray teams = PgBinaryArray::Int64(), ids = PgBinaryArray::Text(),
                vector_hashes = PgBinaryArray::Text(), embedding_versions = PgBinaryArray::Int64(),
                deleted = PgBinaryArray::Int64(), updated_us = PgBinaryArray::Int64(),
                properties = PgBinaryArray::Text(), content_hashes = PgBinaryArray::Text(),
                summaries = PgBinaryArray::Text(), summary_hashes = PgBinaryArray::Text(),
                row_versions = PgBinaryArray::Int64();
  for (const QueuedRow* row : rows) {
    teams.Add(row->team_id);
    ids.Add(row->id);
    vector_hashes.Add(row->vector_hash);
    embedding_versions.Add(row->embedding_version);
    deleted.Add(int64_t{row->deleted ? 1 : 0});
    updated_us.Add(row->source_updated_us);
    properties.Add(row->properties);
    row_versions.Add(row->row_version);
    // Summaries the row carries (a local summarizer's); others are recorded already.
    if (row->content_hash.has_value()) {
      content_hashes.Add(*row->content_hash);
      summaries.Add(row->summary.value_or(row->text));
      summary_hashes.Add(*row->summary_hash);
    } else {
      content_hashes.AddNull();
      summaries.AddNull();
      summary_hashes.AddNull();
    }
  }
  RETURN_IF_ERROR(LockEntityEventAppends(conn_));
  // The rows that move the ledger (not those it holds a newer row of) are appended to the
  // outbox in the same statement.
  return conn_
      .Query(absl::StrCat(
                 "WITH written AS (INSERT INTO vecsync.entity_state AS st (domain, team_id, "
                 "entity_id, "
                 "  vector_hash, embedding_version, synced_at, deleted, source_updated_at, "
                 "  properties, content_hash, summary, summary_hash, row_version) "
                 "SELECT $1, v.team_id, v.entity_id, NULLIF(v.vector_hash, ''), "
                 "  v.embedding_version, now(), v.deleted <> 0, ",
                 kTimestampFromMicros,
                 "v.updated_us, v.properties::jsonb, v.content_hash, v.summary, "
                 "  v.summary_hash, v.row_version "
                 "FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], "
                 "  $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], "
                 "  $12::bigint[]) AS v(team_id, entity_id, vector_hash, embedding_version, "
                 "  deleted, updated_us, properties, content_hash, summary, summary_hash, "
                 "  row_version) "
                 "ON CONFLICT (domain, embedding_version, team_id, entity_id) DO UPDATE SET "
                 "  vector_hash = EXCLUDED.vector_hash, properties = EXCLUDED.properties, "
                 "  content_hash = COALESCE(EXCLUDED.content_hash, st.content_hash), "
                 "  summary = COALESCE(EXCLUDED.summary, st.summary), "
                 "  summary_hash = COALESCE(EXCLUDED.summary_hash, st.summary_hash), "
                 "  synced_at = now(), "
                 "  deleted = EXCLUDED.deleted, source_updated_at = EXCLUDED.source_updated_at, "
                 "  row_version = EXCLUDED.row_version, failures = 0, last_error = NULL, "
                 "  quarantined = false, updated_at = now() "
                 "WHERE COALESCE(st.row_version, -1) <= EXCLUDED.row_version "
                 "RETURNING team_id, entity_id, deleted, embedding_version, row_version) "
                 "INSERT INTO vecsync.entity_events (domain, team_id, entity_id, tombstone, "
                 "  embedding_version, row_version) "
                 "SELECT $1, team_id, entity_id, deleted, embedding_version, row_version "
                 "FROM written ORDER BY team_id, entity_id"),
             domain_, std::move(teams).Build(), std::move(ids).Build(),
             std::move(vector_hashes).Build(), std::move(embedding_versions).Build(),
             std::move(deleted).Build(), std::move(updated_us).Build(),
             std::move(properties).Build(), std::move(content_hashes).Build(),
             std::move(summaries).Build(), std::move(summary_hashes).Build(),
             std::move(row_versions).Build())
      .status();
}

absl::StatusOr<std::vector<size_t>> Ledger::AlreadyHeld(absl::Span<const QueuedRow* const> rows) {
  std::vector<int64_t> teams, versions, embedding_versions, positions;
  std::vector<std::string> ids;
  for (size_t i = 0; i < rows.size(); ++i) {
    teams.push_back(rows[i]->team_id);
    ids.emplace_back(rows[i]->id);
    versions.push_back(rows[i]->row_version);
    embedding_versions.push_back(rows[i]->embedding_version);
    positions.push_back(static_cast<int64_t>(i));
  }
  std::vector<size_t> held;
  if (rows.empty()) return held;
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query("SELECT v.position FROM unnest($2::bigint[], $3::text[], "
                  "  $4::bigint[], $5::bigint[], $6::bigint[]) AS v(team_id, "
                  "  entity_id, row_version, position, embedding_version) "
                  "JOIN vecsync.entity_state st ON st.domain = $1 "
                  "  AND st.embedding_version = v.embedding_version "
                  "  AND st.team_id = v.team_id AND st.entity_id = v.entity_id "
                  "WHERE st.failures = 0 AND st.row_version >= v.row_version",
                  domain_, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(versions),
                  PgArrayLiteral(positions), PgArrayLiteral(embedding_versions)));
  for (int i = 0; i < r.rows(); ++i) held.push_back(static_cast<size_t>(r.GetInt64(i, 0)));
  return held;
}

absl::StatusOr<std::vector<EntityKey>> Ledger::FailedAfter(const EntityKey& after,
                                                           const KeyFilter& filter,
                                                           int embedding_version, int limit) {
  return KeysAfter("st.failures > 0 AND NOT st.quarantined", after, filter, embedding_version,
                   limit);
}

absl::StatusOr<std::vector<EntityKey>> Ledger::GoneFromSourceAfter(
    const entities::EntityConfig& config, const EntityKey& after, const KeyFilter& filter,
    int embedding_version, int limit) {
  return KeysAfter(
      absl::StrCat("NOT st.deleted AND st.synced_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ",
                   config.table(), " s WHERE s.id = st.entity_id::", config.id_type(),
                   " AND s.team_id = st.team_id)"),
      after, filter, embedding_version, limit);
}

absl::StatusOr<std::vector<EntityKey>> Ledger::KeysAfter(const std::string& condition,
                                                         const EntityKey& after,
                                                         const KeyFilter& filter,
                                                         int embedding_version, int limit) {
  ASSIGN_OR_RETURN(
      PgResult r,
      conn_.Query(absl::StrCat("SELECT st.team_id, st.entity_id FROM vecsync.entity_state st "
                               "WHERE st.domain = $1 AND st.embedding_version = $7 AND ",
                               condition,
                               " AND (st.team_id, st.entity_id) > ($2::bigint, $3::text) "
                               "AND ($4::bigint[] IS NULL OR st.team_id = ANY($4::bigint[])) "
                               "AND ($5::text[] IS NULL OR st.entity_id = ANY($5::text[])) "
                               "ORDER BY st.team_id, st.entity_id LIMIT $6"),
                  domain_, after.team_id, after.id, TeamIdsParam(filter), EntityIdsParam(filter),
                  limit, embedding_version));
  std::vector<EntityKey> keys;
  keys.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) keys.push_back({r.GetInt64(i, 0), r.GetString(i, 1)});
  return keys;
}

}  // namespace vecsync::workflows
