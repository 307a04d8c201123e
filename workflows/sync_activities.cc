#include "workflows/sync_activities.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "entities/registry.h"
#include "src/clients/vector_search.h"
#include "src/common/log.h"
#include "src/common/metrics.h"
#include "src/common/status_macros.h"
#include "src/engine/errors.h"
#include "workflows/embed_batches.h"
#include "workflows/queued_rows.h"
#include "workflows/rows_in_order.h"

namespace vecsync::workflows {
namespace {

using entities::EntityConfig;
using entities::EntityRecord;

constexpr char kEpoch[] = "'epoch'::timestamptz + interval '1 microsecond' * ";

uint64_t Fnv1a(absl::string_view s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string Us(absl::string_view column) {
  return absl::StrCat("(EXTRACT(EPOCH FROM ", column, ") * 1000000)::bigint");
}

// The key of an entity within a domain: (team_id, id).
using Key = clients::VectorKey;

struct Keys {
  std::vector<int64_t> teams;
  std::vector<std::string> ids;
};

absl::StatusOr<Keys> ParseKeys(const Json& keys) {
  Keys out;
  if (!keys.is_array()) return absl::InvalidArgumentError("keys must be an array");
  for (const Json& k : keys) {
    if (!k.is_array() || k.size() != 2) return absl::InvalidArgumentError("bad key");
    out.teams.push_back(k[0].get<int64_t>());
    out.ids.push_back(k[1].get<std::string>());
  }
  return out;
}

// ClickHouse's row version: newer embedding versions win, then newer source content.
uint64_t RowVersion(int embedding_version, absl::Time source_updated_at) {
  const uint64_t ms =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(source_updated_at)));
  return (static_cast<uint64_t>(embedding_version) << 44) | (ms & ((1ULL << 44) - 1));
}

// ---- sync-prepare ---------------------------------------------------------------------------

// Entities through each stage, counted when the stage's transaction committed.
metrics::Counter& SyncEntities() {
  static metrics::Counter& entities = metrics::Counter::Get(
      "vecsync_sync_entities_total",
      "Entities through each sync stage: selected, summarized, embedded, refreshed, "
      "skipped_unchanged, failed, tombstoned, inserted, carried_over (queued by an earlier run, "
      "flushed by a later one)",
      {"domain", "stage"});
  return entities;
}

absl::StatusOr<Json> Prepare(SyncEnvironment* env, engine::ActivityContext&, const Json& input) {
  ASSIGN_OR_RETURN(clients::ClickHouseVersion version, env->clickhouse->Version());
  const char* timestamp_type = version.has_datetime64() ? "DateTime64(6)" : "DateTime";
  RETURN_IF_ERROR(env->clickhouse->Execute(
      absl::StrCat("CREATE TABLE IF NOT EXISTS ", env->table,
                   " (domain String, team_id Int64, id String, vector Array(Float32), text String, "
                   "properties String, timestamp ",
                   timestamp_type,
                   " DEFAULT now(), is_deleted UInt8, "
                   "embedding_version UInt32, version UInt64) "
                   "ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, domain, id)")));
  ASSIGN_OR_RETURN(PgPool::Lease conn, env->pool->Acquire());
  // What activity attempts of closed runs recorded is of no use any more.
  RETURN_IF_ERROR(conn->Query("DELETE FROM vecsync.committed_steps q WHERE NOT EXISTS ("
                              "  SELECT 1 FROM vecsync.executions e "
                              "  WHERE e.run_id = q.run_id AND e.status = 'RUNNING')")
                      .status());
  const std::string domain = input["domain"];
  const int embedding_version = input["embedding_version"];
  // The run's watermark, and the newest version a sync of the domain completed. ClickHouse keeps
  // the row of the newest embedding version: a run at an older one would pay for embeddings
  // that lose to stale rows of the newer one.
  ASSIGN_OR_RETURN(PgResult r,
                   conn->Query(absl::StrCat("SELECT ",
                                            Us("max(watermark) FILTER (WHERE "
                                               "embedding_version = $2)"),
                                            ", max(embedding_version) "
                                            "FROM vecsync.sync_watermarks WHERE domain = $1"),
                               domain, embedding_version));
  if (!r.IsNull(0, 1) && r.GetInt64(0, 1) > embedding_version) {
    return absl::InvalidArgumentError(absl::StrCat(
        "embedding_version ", embedding_version, " is older than version ", r.GetInt64(0, 1),
        ", which a sync of domain '", domain,
        "' has completed: ClickHouse keeps the newer version's rows, so this run's would be "
        "discarded. Sync at embedding_version ",
        r.GetInt64(0, 1), " or higher (a higher one re-embeds everything)"));
  }
  return Json{{"watermark_us", r.IsNull(0, 0) ? Json() : Json(r.GetInt64(0, 0))},
              {"datetime64", version.has_datetime64()},
              {"summarizer_local", env->summarizer->local()}};
}

// ---- sync-select ----------------------------------------------------------------------------

absl::StatusOr<Json> Select(SyncEnvironment* env, engine::ActivityContext&, const Json& input) {
  ASSIGN_OR_RETURN(const EntityConfig* config,
                   entities::EntityConfigRegistry::Default().Find(input["domain"]));
  const std::string phase = input["phase"];
  const Json& cursor = input["cursor"];
  const int limit = input["limit"];
  const std::optional<std::string> teams =
      input["team_ids"].empty() ? std::nullopt
                                : std::optional<std::string>(PgArrayLiteral(
                                      input["team_ids"].get<std::vector<int64_t>>()));
  const std::optional<std::string> ids =
      input["entity_ids"].empty() ? std::nullopt
                                  : std::optional<std::string>(PgArrayLiteral(
                                        input["entity_ids"].get<std::vector<std::string>>()));
  const std::string id = config->id_sql();
  ASSIGN_OR_RETURN(PgPool::Lease conn, env->pool->Acquire());
  PgResult r;
  if (phase == "changed") {
    // Rows of approved organizations changed after the watermark and up to the snapshot, in
    // (updated_at, team_id, id) order: an index range on updated_at, never a full scan.
    ASSIGN_OR_RETURN(
        r,
        conn->Query(absl::StrCat("SELECT s.team_id, ", id, ", ", Us("s.updated_at"), " FROM ",
                                 config->table(),
                                 " s JOIN posthog_team t ON t.id = s.team_id "
                                 "JOIN posthog_organization o ON o.id = t.organization_id "
                                 "WHERE o.is_ai_data_processing_approved "
                                 "AND s.updated_at <= ",
                                 kEpoch,
                                 "$1::bigint "
                                 "AND s.updated_at > ",
                                 kEpoch,
                                 "$2::bigint "
                                 "AND (s.updated_at, s.team_id, ",
                                 id, ") > (", kEpoch,
                                 "$3::bigint, $4::bigint, $5::text) "
                                 "AND ($6::bigint[] IS NULL OR s.team_id = ANY($6::bigint[])) "
                                 "AND ($7::text[] IS NULL OR ",
                                 id,
                                 " = ANY($7::text[])) "
                                 "ORDER BY s.updated_at, s.team_id, ",
                                 id, " LIMIT $8"),
                    input["snapshot_us"].get<int64_t>(), input["watermark_us"].get<int64_t>(),
                    cursor.value("updated_us", int64_t{-1}), cursor.value("team_id", int64_t{-1}),
                    cursor.value("id", std::string()), teams, ids, limit));
  } else if (phase == "retry" || phase == "hard_deleted") {
    // Entities whose last attempt failed, or (for domains whose rows are deleted outright)
    // synced entities whose source row is gone: one never synced has no row to tombstone.
    const std::string condition =
        phase == "retry"
            ? std::string("st.failures > 0 AND NOT st.quarantined")
            : absl::StrCat(
                  "NOT st.deleted AND st.synced_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ",
                  config->table(), " s WHERE s.id = st.entity_id::", config->id_type(), ")");
    ASSIGN_OR_RETURN(
        r,
        conn->Query(absl::StrCat("SELECT st.team_id, st.entity_id, 0 FROM vecsync.entity_state st "
                                 "WHERE st.domain = $1 AND ",
                                 condition,
                                 " AND (st.team_id, st.entity_id) > ($2::bigint, $3::text) "
                                 "AND ($4::bigint[] IS NULL OR st.team_id = ANY($4::bigint[])) "
                                 "AND ($5::text[] IS NULL OR st.entity_id = ANY($5::text[])) "
                                 "ORDER BY st.team_id, st.entity_id LIMIT $6"),
                    config->domain(), cursor.value("team_id", int64_t{-1}),
                    cursor.value("id", std::string()), teams, ids, limit));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown phase ", phase));
  }
  Json keys = Json::array();
  Json next = cursor;
  for (int i = 0; i < r.rows(); ++i) {
    keys.push_back(Json::array({r.GetInt64(i, 0), r.GetString(i, 1)}));
    next = {
        {"updated_us", r.GetInt64(i, 2)}, {"team_id", r.GetInt64(i, 0)}, {"id", r.GetString(i, 1)}};
  }
  return Json{{"keys", keys}, {"cursor", next}, {"done", r.rows() < limit}};
}

// ---- sync-process ---------------------------------------------------------------------------

// Summaries from a provider are asked for, and recorded, this many at a time.
constexpr size_t kSummaryChunk = 16;

struct State {
  std::string content_hash, summary, summary_hash, vector_hash;
  Json properties;  // As last written to ClickHouse; null when unknown.
  int embedding_version = -1;
  absl::Time source_updated_at;  // Of the content last written to ClickHouse.
  bool deleted = false;
  bool synced = false;
  int failures = 0;
  int64_t row_version = -1;  // Of the newest row recorded for the entity; -1 when unknown.
};

struct Work {
  Key key;
  std::optional<EntityRecord> entity;  // nullopt: gone from the source (or not approved).
  State state;
  bool has_state = false;
  std::string rendered, content_hash, summary, summary_hash, vector_hash;
  Json properties;
  std::string properties_json;  // `properties` as queued.
  uint64_t row_version = 0;     // ClickHouse's `version` for the row queued.
  std::string error;            // Set when this item failed.
};

// The row `w` queues for ClickHouse: its summary, without a vector.
QueuedRow ToQueuedRow(const Work& w, int version) {
  QueuedRow row;
  row.team_id = w.key.first;
  row.id = w.key.second;
  row.text = w.summary;
  row.properties = w.properties_json;
  row.embedding_version = version;
  row.row_version = static_cast<int64_t>(w.row_version);
  row.source_updated_us = absl::ToUnixMicros(w.entity->updated_at);
  row.vector_hash = w.vector_hash;
  return row;
}

// The version of the row `w` queues: its content's, and newer than the row entity_state last
// recorded for the entity at the same embedding version, so that the new row wins in ClickHouse
// and in entity_state even when updated_at did not move (a new summary, properties alone).
// `when` is the time of the content queued (the source row's updated_at, or when a tombstone for
// a row gone from the source was made).
uint64_t NextRowVersion(const Work& w, int version, absl::Time when) {
  const uint64_t content = RowVersion(version, when);
  if (!w.has_state || w.state.row_version < 0) return content;
  const auto recorded = static_cast<uint64_t>(w.state.row_version);
  return recorded >> 44 == static_cast<uint64_t>(version) ? std::max(content, recorded + 1)
                                                          : content;
}

// Records the summaries of `items` (those that did not fail) in entity_state: a later attempt
// or run with the same content reuses them instead of asking the provider again.
absl::Status RecordSummaries(PgConnection& conn, const std::string& domain,
                             absl::Span<Work* const> items) {
  std::vector<int64_t> teams, updated_us;
  std::vector<std::string> ids, content_hashes, summaries, summary_hashes;
  for (const Work* w : items) {
    if (!w->error.empty()) continue;
    teams.push_back(w->key.first);
    ids.push_back(w->key.second);
    content_hashes.push_back(w->content_hash);
    summaries.push_back(w->summary);
    summary_hashes.push_back(w->summary_hash);
    updated_us.push_back(absl::ToUnixMicros(w->entity->updated_at));
  }
  if (teams.empty()) return absl::OkStatus();
  return conn
      .Query(absl::StrCat("INSERT INTO vecsync.entity_state (domain, team_id, entity_id, "
                          "  content_hash, summary, summary_hash, source_updated_at) "
                          "SELECT $1, v.team_id, v.entity_id, v.content_hash, v.summary, "
                          "  v.summary_hash, ",
                          kEpoch,
                          "v.updated_us "
                          "FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], "
                          "  $6::text[], $7::bigint[]) "
                          "  AS v(team_id, entity_id, content_hash, summary, summary_hash, "
                          "       updated_us) "
                          "ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET "
                          "  content_hash = EXCLUDED.content_hash, summary = EXCLUDED.summary, "
                          "  summary_hash = EXCLUDED.summary_hash, updated_at = now()"),
             domain, PgArrayLiteral(teams), PgArrayLiteral(ids), PgArrayLiteral(content_hashes),
             PgArrayLiteral(summaries), PgArrayLiteral(summary_hashes), PgArrayLiteral(updated_us))
      .status();
}

// Records that `key` failed with `error` for its row `row_version`: later runs retry it, and
// after kMaxEntityFailures failures it is quarantined. Moot, and not recorded, when entity_state
// holds a newer row of the entity already. Otherwise the failed row's version becomes the one
// entity_state holds, so that an older row of the entity flushed later cannot clear the failure.
absl::Status RecordFailure(PgConnection& conn, const std::string& domain, const Key& key,
                           const std::string& error, int64_t row_version) {
  return conn
      .Query(
          "INSERT INTO vecsync.entity_state AS st (domain, team_id, entity_id, failures, "
          "  last_error, quarantined, row_version) "
          "VALUES ($1, $2, $3, 1, $4, 1 >= $5, $6) "
          "ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET "
          "  failures = st.failures + 1, last_error = EXCLUDED.last_error, "
          "  quarantined = st.failures + 1 >= $5, row_version = EXCLUDED.row_version, "
          "  updated_at = now() "
          "WHERE COALESCE(st.row_version, -1) <= EXCLUDED.row_version",
          domain, key.first, key.second, error, kMaxEntityFailures, row_version)
      .status();
}

// Clears the failures of `key`, an entity that failed and was then deleted (or is gone, or no
// longer approved) before it was ever synced: nothing is left to retry, and the retry phase would
// otherwise select it in every run. Moot when entity_state holds a newer row of the entity (it
// came back, and failed again); otherwise `row_version` becomes the one entity_state holds.
absl::Status ClearFailures(PgConnection& conn, const std::string& domain, const Key& key,
                           int64_t row_version) {
  return conn
      .Query(
          "UPDATE vecsync.entity_state SET failures = 0, last_error = NULL, quarantined = false, "
          "  row_version = $4, updated_at = now() "
          "WHERE domain = $1 AND team_id = $2 AND entity_id = $3 AND failures > 0 "
          "  AND COALESCE(row_version, -1) <= $4",
          domain, key.first, key.second, row_version)
      .status();
}

// Whether a provider error may pass (an outage, a rate limit, a timeout): the activity fails
// and the engine retries it. Any other error is the items' own, recorded against them.
bool ProviderMayRecover(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kResourceExhausted ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

// Whether a provider error belongs to the items of the request (rejected input, a bad answer
// for them): recorded against them. Otherwise the attempt fails: retried when the provider may
// recover, and failing the run when it refuses vecsync itself (a bad or revoked key), before
// every queued item is counted as failed.
bool ItemsAtFault(const absl::Status& s) {
  return !ProviderMayRecover(s) && s.code() != absl::StatusCode::kUnauthenticated &&
         s.code() != absl::StatusCode::kPermissionDenied;
}

// What an attempt of the activity `info` describes returned when it committed its work, or
// nullopt when none did. Attempts are numbered anew when a worker hands an activity back, so
// the attempt's number tells nothing: every attempt that may redo committed work looks.
absl::StatusOr<std::optional<Json>> CommittedResult(PgConnection& conn,
                                                    const engine::ActivityInfo& info) {
  ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT counts FROM vecsync.committed_steps "
                                          "WHERE run_id = $1::uuid AND seq = $2",
                                          info.run_id, info.seq));
  if (r.rows() == 0) return std::nullopt;
  return r.GetJson(0, 0);
}

// The result another attempt of `info`'s activity recorded, once recording this attempt's result
// conflicted with it.
absl::StatusOr<std::optional<Json>> ResultOfTheAttemptThatCommitted(
    PgConnection& conn, const engine::ActivityInfo& info) {
  ASSIGN_OR_RETURN(std::optional<Json> committed, CommittedResult(conn, info));
  if (!committed) {
    return absl::InternalError(absl::StrCat("the result recorded for step ", info.seq, " of run ",
                                            info.run_id, " conflicted, and then was not there"));
  }
  return committed;
}

// Queues `rows` for the flushes, as queued by the attempt `info`: one pending batch, or one per
// `max_rows` rows, so that a flush can fill an insert of max_rows with whole batches. Records
// `result` as what the attempt returns in the same statement (atomic without a transaction of
// its own). When another attempt of the activity recorded its result first, queues nothing and
// returns that result: the caller rolls back what else it wrote, and returns it.
absl::StatusOr<std::optional<Json>> QueueBatches(PgConnection& conn, const std::string& domain,
                                                 const engine::ActivityInfo& info,
                                                 const Json& result,
                                                 absl::Span<const QueuedRow> rows,
                                                 size_t max_rows) {
  PgBinaryArray row_counts = PgBinaryArray::Int64(), bodies = PgBinaryArray::Bytea();
  for (size_t first = 0; first < rows.size(); first += max_rows) {
    const absl::Span<const QueuedRow> batch = rows.subspan(first, max_rows);
    row_counts.Add(static_cast<int64_t>(batch.size()));
    bodies.Add(EncodeQueuedRows(batch));
  }
  ASSIGN_OR_RETURN(
      PgResult r,
      conn.Query("WITH recorded AS (INSERT INTO vecsync.committed_steps (run_id, seq, counts) "
                 "  VALUES ($1::uuid, $2, $3::jsonb) ON CONFLICT (run_id, seq) DO NOTHING "
                 "  RETURNING 1), "
                 "queued AS (INSERT INTO vecsync.pending_batches (domain, queued_by, row_count, "
                 "  body) SELECT $4, $1::uuid, b.row_count, b.body "
                 "  FROM unnest($5::bigint[], $6::bytea[]) AS b(row_count, body) "
                 "  WHERE EXISTS (SELECT 1 FROM recorded)) "
                 "SELECT count(*) FROM recorded",
                 info.run_id, info.seq, result.dump(), domain, std::move(row_counts).Build(),
                 std::move(bodies).Build()));
  if (r.GetInt64(0, 0) == 1) return std::nullopt;
  return ResultOfTheAttemptThatCommitted(conn, info);
}

// Records `result` as what the attempt `info` returns, in the transaction that commits its work:
// QueueBatches() with nothing to queue.
absl::StatusOr<std::optional<Json>> RecordCommittedResult(PgConnection& conn,
                                                          const engine::ActivityInfo& info,
                                                          const Json& result) {
  return QueueBatches(conn, /*domain=*/"", info, result, /*rows=*/{}, /*max_rows=*/1);
}

// Heartbeats an activity every `interval` from a thread of its own for as long as it lives: an
// attempt blocked on a slow or rate-limited provider is not taken for a dead one.
class KeepAlive {
 public:
  KeepAlive(engine::ActivityContext& ctx, absl::Duration interval, Json details)
      : thread_([this, &ctx, interval, details = std::move(details)] {
          while (!done_.WaitForNotificationWithTimeout(interval)) {
            (void)ctx.Heartbeat(details);
          }
        }) {}
  KeepAlive(const KeepAlive&) = delete;
  KeepAlive& operator=(const KeepAlive&) = delete;
  ~KeepAlive() {
    done_.Notify();
    thread_.join();
  }

 private:
  absl::Notification done_;  // Before thread_: the thread waits on it.
  std::thread thread_;
};

absl::StatusOr<Json> Process(SyncEnvironment* env, engine::ActivityContext& ctx,
                             const Json& input) {
  ASSIGN_OR_RETURN(const EntityConfig* config,
                   entities::EntityConfigRegistry::Default().Find(input["domain"]));
  ASSIGN_OR_RETURN(Keys keys, ParseKeys(input["keys"]));
  const int version = input["embedding_version"];
  const std::string domain = config->domain();
  const std::string id = config->id_sql();
  ASSIGN_OR_RETURN(PgPool::Lease conn, env->pool->Acquire());
  std::map<Key, Work> work;
  for (size_t i = 0; i < keys.ids.size(); ++i) {
    work[{keys.teams[i], keys.ids[i]}].key = {keys.teams[i], keys.ids[i]};
  }
  ASSIGN_OR_RETURN(PgResult rows,
                   conn->Query(
                       // Joined from the keys, by the id's own type: one primary-key probe per key.
                       absl::StrCat("SELECT s.team_id, ", id, ", ", Us("s.updated_at"), ", ",
                                    config->deleted_sql(), ", ", config->fields_sql(),
                                    " FROM unnest($1::bigint[], $2::", config->id_type(),
                                    "[]) AS k(team_id, id) "
                                    "JOIN ",
                                    config->table(),
                                    " s ON s.id = k.id AND s.team_id = k.team_id "
                                    "JOIN posthog_team t ON t.id = s.team_id "
                                    "JOIN posthog_organization o ON o.id = t.organization_id "
                                    "WHERE o.is_ai_data_processing_approved"),
                       PgArrayLiteral(keys.teams), PgArrayLiteral(keys.ids)));
  for (int i = 0; i < rows.rows(); ++i) {
    EntityRecord e;
    e.team_id = rows.GetInt64(i, 0);
    e.id = rows.GetString(i, 1);
    e.updated_at = absl::FromUnixMicros(rows.GetInt64(i, 2));
    e.deleted = rows.GetBool(i, 3);
    e.fields = rows.GetJson(i, 4);
    auto it = work.find({e.team_id, e.id});
    if (it != work.end()) it->second.entity = std::move(e);
  }
  ASSIGN_OR_RETURN(
      PgResult states,
      conn->Query(
          absl::StrCat(
              "SELECT team_id, entity_id, content_hash, summary, summary_hash, vector_hash, "
              "embedding_version, deleted, synced_at IS NOT NULL, failures, properties, ",
              Us("source_updated_at"),
              ", COALESCE(row_version, -1) "
              "FROM vecsync.entity_state WHERE domain = $1 AND (team_id, entity_id) IN "
              "(SELECT * FROM unnest($2::bigint[], $3::text[]))"),
          domain, PgArrayLiteral(keys.teams), PgArrayLiteral(keys.ids)));
  for (int i = 0; i < states.rows(); ++i) {
    auto it = work.find({states.GetInt64(i, 0), states.GetString(i, 1)});
    if (it == work.end()) continue;
    State& s = it->second.state;
    s.content_hash = states.GetString(i, 2);
    s.summary = states.GetString(i, 3);
    s.summary_hash = states.GetString(i, 4);
    s.vector_hash = states.GetString(i, 5);
    s.embedding_version = static_cast<int>(states.GetInt64(i, 6, -1));
    s.deleted = states.GetBool(i, 7);
    s.synced = states.GetBool(i, 8);
    s.failures = static_cast<int>(states.GetInt64(i, 9));
    s.properties = states.GetJson(i, 10);
    s.source_updated_at = absl::FromUnixMicros(states.GetInt64(i, 11));
    s.row_version = states.GetInt64(i, 12);
    it->second.has_state = true;
  }

  Json counts = {{"selected", work.size()}, {"summarized", 0}, {"refreshed", 0},
                 {"skipped_unchanged", 0},  {"failed", 0},     {"tombstoned", 0}};
  const std::string embed_identity =
      absl::StrCat(env->embedder->model(), "/", env->embedder->dimensions());
  std::vector<Work*> to_summarize, to_embed, to_refresh, tombstones, gone_failed;
  for (auto& [key, w] : work) {
    if (!w.entity || w.entity->deleted) {
      // Deleted (or gone, or no longer approved): a tombstone if it was ever synced.
      if (w.has_state && w.state.synced && !w.state.deleted) {
        tombstones.push_back(&w);
      } else {
        counts["skipped_unchanged"] = counts["skipped_unchanged"].get<int>() + 1;
        if (w.has_state && w.state.failures > 0) gone_failed.push_back(&w);
      }
      continue;
    }
    w.rendered = config->Render(*w.entity);
    w.properties = config->Properties(*w.entity);
    w.properties["embedding_version"] = version;
    w.content_hash = StableHash(absl::StrCat(env->summarizer->version(), "\n", w.rendered));
    if (w.has_state && w.state.content_hash == w.content_hash && !w.state.summary.empty()) {
      w.summary = w.state.summary;
      w.summary_hash = w.state.summary_hash;
    } else {
      to_summarize.push_back(&w);
    }
  }
  // An attempt that committed (and then died, or timed out) queued the batch already. A retry
  // finds its result when it queues, and returns it; but before it asks a provider for anything
  // (which costs, and may fail the retry of work that was done) it looks. A local summarizer's
  // work is redone instead: that costs nothing, and spares every batch the lookup.
  if (!to_summarize.empty() && !env->summarizer->local()) {
    ASSIGN_OR_RETURN(std::optional<Json> committed, CommittedResult(*conn, ctx.info()));
    if (committed) return *std::move(committed);
  }
  // Summarize what changed. From a provider, summaries are recorded as each chunk arrives, so a
  // retry after a failure or a timeout never pays for one twice, and a thread heartbeats while
  // a chunk waits on a slow or rate-limited provider. A local summarizer does all at once.
  const size_t chunk =
      env->summarizer->local() ? std::max<size_t>(1, to_summarize.size()) : kSummaryChunk;
  for (size_t start = 0; start < to_summarize.size(); start += chunk) {
    const auto items = absl::MakeConstSpan(to_summarize).subspan(start, chunk);
    std::vector<std::string> inputs;
    for (Work* w : items) inputs.push_back(w->rendered);
    const Json progress = {{"stage", "summarizing"}, {"summarized", start}};
    absl::StatusOr<std::vector<absl::StatusOr<std::string>>> summaries;
    {
      KeepAlive keep_alive(ctx, env->keep_alive_interval, progress);
      summaries = env->summarizer->Summarize(inputs);
    }
    RETURN_IF_ERROR(summaries.status());
    for (size_t i = 0; i < items.size(); ++i) {
      Work* w = items[i];
      if (!(*summaries)[i].ok()) {
        w->error = std::string((*summaries)[i].status().message());
        continue;
      }
      w->summary = *(*summaries)[i];
      w->summary_hash = StableHash(w->summary);
      counts["summarized"] = counts["summarized"].get<int>() + 1;
    }
    if (!env->summarizer->local()) RETURN_IF_ERROR(RecordSummaries(*conn, domain, items));
    RETURN_IF_ERROR(
        ctx.Heartbeat({{"stage", "summarizing"}, {"summarized", start + items.size()}}));
  }
  for (auto& [key, w] : work) {
    if (!w.entity || w.entity->deleted || !w.error.empty()) continue;
    w.vector_hash = StableHash(absl::StrCat(w.summary_hash, "/", embed_identity));
    if (w.has_state && w.state.synced && !w.state.deleted && w.state.vector_hash == w.vector_hash &&
        w.state.embedding_version == version) {
      if (w.state.properties == w.properties) {
        counts["skipped_unchanged"] = counts["skipped_unchanged"].get<int>() + 1;
      } else {
        to_refresh.push_back(&w);  // Only properties changed (a cohort's count): same vector.
      }
    } else {
      to_embed.push_back(&w);
    }
  }
  // Rows whose properties alone changed are written again with the vector ClickHouse holds,
  // if it holds exactly the row entity_state describes; otherwise they are embedded again.
  std::vector<Work*> refreshed;
  std::vector<std::string> refreshed_vectors;
  if (!to_refresh.empty()) {
    std::vector<Key> refresh_keys;
    for (Work* w : to_refresh) refresh_keys.push_back(w->key);
    auto stored =
        clients::LatestVectors(*env->clickhouse, env->table, domain, version, refresh_keys);
    std::map<Key, clients::StoredVector> found;
    if (stored.ok()) {
      found = std::move(*stored);
    } else {
      // The summaries are paid for: rather than fail the batch, embed these again.
      LogWarning("reading vectors back from ClickHouse failed; embedding them again",
                 {{"domain", domain},
                  {"entities", std::to_string(to_refresh.size())},
                  {"error", stored.status().ToString()}});
    }
    for (Work* w : to_refresh) {
      const uint64_t written =
          w->state.row_version >= 0
              ? static_cast<uint64_t>(w->state.row_version)
              : RowVersion(w->state.embedding_version, w->state.source_updated_at);
      auto it = found.find(w->key);
      if (it == found.end() || it->second.version != written ||
          it->second.vector.size() != sizeof(float) * env->embedder->dimensions()) {
        to_embed.push_back(w);
        continue;
      }
      // Strictly newer than the row it replaces, even if updated_at did not move.
      w->row_version = std::max(NextRowVersion(*w, version, w->entity->updated_at), written + 1);
      refreshed.push_back(w);
      refreshed_vectors.push_back(std::move(it->second.vector));
    }
  }
  for (Work* w : to_embed) w->row_version = NextRowVersion(*w, version, w->entity->updated_at);

  // Queued without their vectors: the flush embeds them right before inserting them, so no
  // vector is written to PostgreSQL. A local summarizer's summaries are recorded by the flush.
  std::vector<QueuedRow> queued;
  queued.reserve(to_embed.size() + refreshed.size() + tombstones.size());
  for (Work* w : to_embed) {
    w->properties_json = w->properties.dump();
    QueuedRow& row = queued.emplace_back(ToQueuedRow(*w, version));
    if (env->summarizer->local()) {
      row.content_hash = w->content_hash;
      row.summary_hash = w->summary_hash;
    }
  }
  for (size_t i = 0; i < refreshed.size(); ++i) {
    refreshed[i]->properties_json = refreshed[i]->properties.dump();
    queued.emplace_back(ToQueuedRow(*refreshed[i], version)).vector = refreshed_vectors[i];
  }
  for (Work* w : tombstones) {
    const absl::Time when = w->entity ? w->entity->updated_at : absl::Now();
    w->row_version = NextRowVersion(*w, version, when);
    QueuedRow& row = queued.emplace_back();
    row.team_id = w->key.first;
    row.id = w->key.second;
    row.vector = "";
    row.properties = "{}";
    row.deleted = true;
    row.embedding_version = version;
    row.row_version = static_cast<int64_t>(w->row_version);
    row.source_updated_us = absl::ToUnixMicros(when);
  }
  counts["refreshed"] = static_cast<int>(refreshed.size());
  counts["tombstoned"] = static_cast<int>(tombstones.size());
  counts["queued"] = static_cast<int>(queued.size());
  for (const auto& [key, w] : work) {
    if (!w.error.empty()) counts["failed"] = counts["failed"].get<int>() + 1;
  }
  // Failures (and failures that no longer apply) are recorded in the transaction that queues
  // the batch; without any, the one statement that queues it is atomic on its own.
  const bool any_failed = counts["failed"].get<int>() > 0;
  const bool in_transaction = any_failed || !gone_failed.empty();
  PgTransaction txn(*conn);
  if (in_transaction) RETURN_IF_ERROR(txn.Begin());
  for (const auto& [key, w] : work) {
    if (w.error.empty()) continue;
    RETURN_IF_ERROR(
        RecordFailure(*conn, domain, key, w.error,
                      static_cast<int64_t>(NextRowVersion(w, version, w.entity->updated_at))));
  }
  for (Work* w : gone_failed) {
    const absl::Time when = w->entity ? w->entity->updated_at : absl::Now();
    RETURN_IF_ERROR(ClearFailures(*conn, domain, w->key,
                                  static_cast<int64_t>(NextRowVersion(*w, version, when))));
  }
  // A retry of an attempt that committed (and then died, or timed out) finds its result here:
  // queueing the batch again would embed and count its entities twice.
  ASSIGN_OR_RETURN(
      std::optional<Json> committed,
      QueueBatches(*conn, domain, ctx.info(), counts, queued,
                   std::max<size_t>(1, input.value("insert_batch_size", queued.size()))));
  if (committed) return *std::move(committed);  // Another attempt queued it: this one rolls back.
  if (in_transaction) RETURN_IF_ERROR(txn.Commit());
  for (const auto& [stage, n] : counts.items()) {
    SyncEntities().Add({domain, stage}, n.get<double>());
  }
  return counts;
}

// ---- sync-flush -----------------------------------------------------------------------------

// A pending batch a flush took, and once decoded, its rows (views into `body`).
struct TakenBatch {
  int64_t id = 0;
  bool own = false;  // Queued by the flush's own run.
  std::string body;
  std::vector<QueuedRow> rows;
};

// Locks, in the transaction open on `conn`, whole pending batches of `domain` that no other
// flush holds, up to `max_rows` rows between them (and at least one batch, however large): the
// batches of run `run_id` first, then, with `take_others`, those runs that no longer run left,
// oldest first. A batch too large for the rows left is left for a later flush. Returns whether
// a batch no flush holds was left.
absl::StatusOr<bool> TakeBatches(PgConnection& conn, const std::string& domain,
                                 const std::string& run_id, int64_t max_rows, bool take_others,
                                 std::vector<TakenBatch>& taken) {
  constexpr char kOthers[] =
      "queued_by <> $2::uuid AND NOT EXISTS (SELECT 1 FROM vecsync.executions e "
      "  WHERE e.run_id = queued_by AND e.status = 'RUNNING')";
  int64_t rows = 0;
  for (const bool own : {true, false}) {
    if (!own && !take_others) break;
    // One batch per statement: SKIP LOCKED passes over what other flushes hold, and nothing is
    // locked that is not taken.
    for (int64_t after = 0;;) {
      const int64_t room = taken.empty() ? std::numeric_limits<int64_t>::max() : max_rows - rows;
      if (room <= 0) break;
      ASSIGN_OR_RETURN(
          PgResult next,
          conn.QueryBinary(absl::StrCat("SELECT id, row_count, body FROM vecsync.pending_batches "
                                        "WHERE domain = $1 AND ",
                                        own ? "queued_by = $2::uuid" : kOthers,
                                        " AND id > $3 AND row_count <= $4::bigint "
                                        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"),
                           domain, run_id, after, room));
      if (next.rows() == 0) break;
      after = next.GetInt64(0, 0);
      taken.push_back({after, own, std::string(next.Get(0, 2)), {}});
      rows += next.GetInt64(0, 1);
    }
  }
  // Whether a batch that no flush holds waits still: looked for under a savepoint, so that the
  // one found is not held until this flush ends.
  std::vector<int64_t> ids;
  for (const TakenBatch& b : taken) ids.push_back(b.id);
  RETURN_IF_ERROR(conn.Execute("SAVEPOINT look_for_more"));
  ASSIGN_OR_RETURN(PgResult left,
                   conn.Query(absl::StrCat("SELECT 1 FROM vecsync.pending_batches "
                                           "WHERE domain = $1 AND id <> ALL($3::bigint[]) AND "
                                           "(queued_by = $2::uuid OR ($4 AND ",
                                           kOthers, ")) LIMIT 1 FOR UPDATE SKIP LOCKED"),
                              domain, run_id, PgArrayLiteral(ids), take_others));
  RETURN_IF_ERROR(conn.Execute("ROLLBACK TO SAVEPOINT look_for_more"));
  return left.rows() > 0;
}

// The newest row of each entity in `batches`, in key order, and whether its batch is the
// flush's own run's. An entity waits in two batches when a failed run queued it and a later one
// queued it again, or when two phases of a run selected it.
struct Pick {
  const QueuedRow* row;
  bool own;
};
std::vector<Pick> NewestRows(const std::vector<TakenBatch>& batches, int64_t* superseded_own) {
  std::map<std::pair<int64_t, absl::string_view>, Pick> newest;
  for (const TakenBatch& b : batches) {
    for (const QueuedRow& row : b.rows) {
      auto [it, inserted] = newest.try_emplace({row.team_id, row.id}, Pick{&row, b.own});
      if (inserted) continue;
      Pick& kept = it->second;
      // Among rows of one version, the run's own wins: it counts as the run's work.
      const bool newer = row.row_version > kept.row->row_version ||
                         (row.row_version == kept.row->row_version && b.own >= kept.own);
      const Pick& dropped = newer ? kept : Pick{&row, b.own};
      if (dropped.own && !dropped.row->vector) ++*superseded_own;
      if (newer) kept = {&row, b.own};
    }
  }
  std::vector<Pick> out;
  out.reserve(newest.size());
  for (const auto& [key, pick] : newest) out.push_back(pick);
  return out;
}

// Drops from `picks` the rows other runs queued that entity_state already holds, or holds a
// newer row of: the run that queued the entity again flushed it first.
absl::Status DropSupersededCarriedOver(PgConnection& conn, const std::string& domain,
                                       std::vector<Pick>& picks) {
  std::vector<int64_t> teams, versions, positions;
  std::vector<std::string> ids;
  for (size_t i = 0; i < picks.size(); ++i) {
    if (picks[i].own) continue;
    teams.push_back(picks[i].row->team_id);
    ids.emplace_back(picks[i].row->id);
    versions.push_back(picks[i].row->row_version);
    positions.push_back(static_cast<int64_t>(i));
  }
  if (teams.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(PgResult held,
                   conn.Query("SELECT v.position FROM unnest($2::bigint[], $3::text[], "
                              "  $4::bigint[], $5::bigint[]) AS v(team_id, entity_id, "
                              "  row_version, position) "
                              "JOIN vecsync.entity_state st ON st.domain = $1 "
                              "  AND st.team_id = v.team_id AND st.entity_id = v.entity_id "
                              "WHERE st.failures = 0 AND st.row_version >= v.row_version",
                              domain, PgArrayLiteral(teams), PgArrayLiteral(ids),
                              PgArrayLiteral(versions), PgArrayLiteral(positions)));
  std::vector<bool> drop(picks.size(), false);
  for (int i = 0; i < held.rows(); ++i) drop[static_cast<size_t>(held.GetInt64(i, 0))] = true;
  size_t kept = 0;
  for (size_t i = 0; i < picks.size(); ++i) {
    if (!drop[i]) picks[kept++] = picks[i];
  }
  picks.resize(kept);
  return absl::OkStatus();
}

// Records `rows`, inserted into ClickHouse, as synced; a row older than the one entity_state
// holds leaves it as it is.
absl::Status RecordSynced(PgConnection& conn, const std::string& domain,
                          const std::vector<const QueuedRow*>& rows) {
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
      summaries.Add(row->text);
      summary_hashes.Add(*row->summary_hash);
    } else {
      content_hashes.AddNull();
      summaries.AddNull();
      summary_hashes.AddNull();
    }
  }
  return conn
      .Query(absl::StrCat(
                 "INSERT INTO vecsync.entity_state AS st (domain, team_id, entity_id, "
                 "  vector_hash, embedding_version, synced_at, deleted, source_updated_at, "
                 "  properties, content_hash, summary, summary_hash, row_version) "
                 "SELECT $1, v.team_id, v.entity_id, NULLIF(v.vector_hash, ''), "
                 "  v.embedding_version, now(), v.deleted <> 0, ",
                 kEpoch,
                 "v.updated_us, v.properties::jsonb, v.content_hash, v.summary, "
                 "  v.summary_hash, v.row_version "
                 "FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], "
                 "  $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], "
                 "  $12::bigint[]) AS v(team_id, entity_id, vector_hash, embedding_version, "
                 "  deleted, updated_us, properties, content_hash, summary, summary_hash, "
                 "  row_version) "
                 "ON CONFLICT (domain, team_id, entity_id) DO UPDATE SET "
                 "  vector_hash = EXCLUDED.vector_hash, properties = EXCLUDED.properties, "
                 "  content_hash = COALESCE(EXCLUDED.content_hash, st.content_hash), "
                 "  summary = COALESCE(EXCLUDED.summary, st.summary), "
                 "  summary_hash = COALESCE(EXCLUDED.summary_hash, st.summary_hash), "
                 "  embedding_version = EXCLUDED.embedding_version, synced_at = now(), "
                 "  deleted = EXCLUDED.deleted, source_updated_at = EXCLUDED.source_updated_at, "
                 "  row_version = EXCLUDED.row_version, failures = 0, last_error = NULL, "
                 "  quarantined = false, updated_at = now() "
                 "WHERE COALESCE(st.row_version, -1) <= EXCLUDED.row_version"),
             domain, std::move(teams).Build(), std::move(ids).Build(),
             std::move(vector_hashes).Build(), std::move(embedding_versions).Build(),
             std::move(deleted).Build(), std::move(updated_us).Build(),
             std::move(properties).Build(), std::move(content_hashes).Build(),
             std::move(summaries).Build(), std::move(summary_hashes).Build(),
             std::move(row_versions).Build())
      .status();
}

absl::StatusOr<Json> Flush(SyncEnvironment* env, engine::ActivityContext& ctx, const Json& input) {
  const std::string domain = input["domain"];
  const int limit = input["insert_batch_size"];
  const int max_batches = input.value("max_batches", 0);
  const bool datetime64 = input.value("datetime64", false);
  const int embed_batch = input.value("embed_batch_size", 96);
  const int parallel = input.value("max_parallel_requests", 5);
  // Batches that ended runs left (they failed or were cancelled) go with the run's final flushes,
  // after its own: an entity the run queued again is then flushed once, as the run's.
  const bool take_carried_over = input.value("take_carried_over", false);
  const std::string& run_id = ctx.info().run_id;
  ASSIGN_OR_RETURN(PgPool::Lease conn, env->pool->Acquire());
  // A flush of one insert records its counts as it commits: a retry whose predecessor committed
  // returns them, instead of flushing other batches under its name while those went uncounted.
  // Attempts of one flush take turns (an advisory lock on the step), so that one that started
  // beside a live predecessor waits for it instead of finding its batches locked.
  const bool one_insert = max_batches == 1;
  // Rows an earlier run queued and did not flush are inserted (or failed) here too, and counted
  // apart: the run did not select them. Rows of the run superseded by a newer row of the same
  // entity count as skipped.
  int64_t inserted = 0, embedded = 0, failed = 0, carried_over = 0, skipped = 0;
  bool more = false;
  auto result = [&] {
    return Json{{"inserted", inserted},         {"embedded", embedded},         {"failed", failed},
                {"carried_over", carried_over}, {"skipped_unchanged", skipped}, {"more", more}};
  };
  for (int batch = 1;; ++batch) {
    // The batches stay locked until their rows are recorded as inserted: flushes running at
    // once take different batches. Heartbeats go on while the rows are embedded and inserted,
    // however long that takes: an attempt that holds the locks is never taken for a dead one
    // and retried beside them.
    KeepAlive keep_alive(ctx, env->keep_alive_interval,
                         {{"stage", "flushing"}, {"inserted", inserted}});
    PgTransaction txn(*conn);
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(conn->Query("SET LOCAL idle_in_transaction_session_timeout = 0").status());
    if (one_insert) {
      RETURN_IF_ERROR(conn->Query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, "
                                  "0))",
                                  run_id, std::to_string(ctx.info().seq))
                          .status());
      ASSIGN_OR_RETURN(std::optional<Json> committed, CommittedResult(*conn, ctx.info()));
      if (committed) return *std::move(committed);
    }
    std::vector<TakenBatch> taken;
    ASSIGN_OR_RETURN(more, TakeBatches(*conn, domain, run_id, limit, take_carried_over, taken));
    if (taken.empty()) break;  // Nothing waits that another flush does not hold.
    // A batch this vecsync cannot read (another version's, or damaged) fails the flush, and
    // stays where it is, for a vecsync that can read it: nothing of it is inserted or lost.
    for (TakenBatch& b : taken) {
      absl::StatusOr<std::vector<QueuedRow>> decoded = DecodeQueuedRows(b.body);
      if (!decoded.ok()) {
        return absl::DataLossError(absl::StrCat(
            "pending batch ", b.id, " in vecsync.pending_batches cannot be read (",
            decoded.status().message(), "): was it queued by another version of vecsync?"));
      }
      b.rows = *std::move(decoded);
    }
    std::vector<Pick> picks = NewestRows(taken, &skipped);
    RETURN_IF_ERROR(DropSupersededCarriedOver(*conn, domain, picks));

    // Rows are encoded as they are read (or as their vectors arrive): the batch is held once,
    // as the insert's body, beside the pending batches it came from.
    clients::RowBinaryWriter rows;
    std::vector<const QueuedRow*> encoded;
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    auto encode = [&](const QueuedRow& row, absl::string_view vector) {
      rows.String(domain);
      rows.Int64(row.team_id);
      rows.String(row.id);
      rows.Float32Array(vector);
      rows.String(row.text);
      rows.String(row.properties);
      if (datetime64) {
        rows.Int64(now_us);
      } else {
        rows.DateTime(static_cast<uint32_t>(now_us / 1000000));
      }
      rows.UInt8(row.deleted ? 1 : 0);
      rows.UInt32(static_cast<uint32_t>(row.embedding_version));
      rows.UInt64(static_cast<uint64_t>(row.row_version));
      encoded.push_back(&row);
    };
    size_t bytes = 0;
    for (const Pick& p : picks) {
      bytes += domain.size() + 80 + p.row->id.size() + p.row->text.size() +
               p.row->properties.size() +
               (p.row->vector ? p.row->vector->size()
                              : sizeof(float) * static_cast<size_t>(env->embedder->dimensions()));
    }
    rows.Reserve(bytes);
    // Rows go into the insert in key order, which is ClickHouse's own (the domain is the same
    // for all): ClickHouse finds the block sorted and need not sort it, which was a quarter of
    // its work on an insert.
    std::vector<Pick> unembedded;
    std::vector<std::string> texts;
    std::vector<bool> waits;
    for (const Pick& p : picks) {
      waits.push_back(!p.row->vector);
      if (p.row->vector) continue;
      unembedded.push_back(p);
      texts.emplace_back(p.row->text);
    }
    const size_t chunk = static_cast<size_t>(std::max(embed_batch, 1));
    RowsInOrder order(std::move(waits), chunk);
    auto encode_embedded = [&](const Pick& p, const std::vector<float>& vector) {
      encode(*p.row, absl::string_view(reinterpret_cast<const char*>(vector.data()),
                                       vector.size() * sizeof(float)));
      ++(p.own ? embedded : carried_over);
    };
    auto encode_in_order = [&](size_t i, const std::vector<float>* vector) {
      const Pick& p = picks[i];
      if (vector != nullptr) return encode_embedded(p, *vector);
      encode(*p.row, *p.row->vector);
      if (!p.own) ++carried_over;  // The run's own refreshed rows and tombstones are counted.
    };
    // The vectors of texts [first, first + n), or why there are none.
    auto check = [](size_t n, absl::StatusOr<std::vector<std::vector<float>>>& vectors) {
      if (vectors.ok() && vectors->size() != n) {
        return absl::DataLossError(
            absl::StrCat("the embedder returned ", vectors->size(), " vectors for ", n, " texts"));
      }
      return vectors.status();
    };
    // Embed what waits for its vector, up to max_parallel_requests requests at a time. An error
    // of the provider's, not the items', fails the attempt (nothing was inserted or recorded).
    // A request the provider rejects is sent again in halves, down to single texts, so only the
    // texts it rejects fail.
    struct Rejected {
      size_t first, n;
      absl::Status error;
    };
    std::vector<Rejected> rejected;
    order.Arrived(std::nullopt, encode_in_order);  // The rows before the first that waits.
    RETURN_IF_ERROR(
        EmbedInBatches(*env->embedder, texts, embed_batch, parallel,
                       [&](size_t first, absl::StatusOr<std::vector<std::vector<float>>> vectors) {
                         const size_t n = std::min(texts.size() - first, chunk);
                         absl::Status s = check(n, vectors);
                         if (!s.ok() && !ItemsAtFault(s)) return s;
                         if (s.ok()) {
                           order.Arrived({{first, *std::move(vectors)}}, encode_in_order);
                         } else {
                           order.Arrived({{first, std::nullopt}}, encode_in_order);
                           rejected.push_back({first, n, std::move(s)});
                         }
                         return absl::OkStatus();
                       }));
    if (!order.done()) {  // Every request returned: a row left out would be dropped unsynced.
      return absl::InternalError("a flush left rows out of its insert");
    }
    std::vector<std::pair<Pick, std::string>> failures;
    std::function<absl::Status(const Rejected&)> isolate = [&](const Rejected& r) {
      if (r.n == 1) {
        failures.emplace_back(unembedded[r.first], std::string(r.error.message()));
        return absl::OkStatus();
      }
      for (const auto& [first, n] :
           {std::pair(r.first, r.n / 2), std::pair(r.first + r.n / 2, r.n - r.n / 2)}) {
        absl::StatusOr<std::vector<std::vector<float>>> vectors = env->embedder->Embed(
            std::vector<std::string>(texts.begin() + first, texts.begin() + first + n));
        absl::Status s = check(n, vectors);
        if (!s.ok()) {
          if (!ItemsAtFault(s)) return s;
          RETURN_IF_ERROR(isolate({first, n, std::move(s)}));
          continue;
        }
        for (size_t i = 0; i < n; ++i) {  // Out of order: ClickHouse sorts this insert.
          encode_embedded(unembedded[first + i], (*vectors)[i]);
        }
      }
      return absl::OkStatus();
    };
    for (const Rejected& r : rejected) RETURN_IF_ERROR(isolate(r));
    if (!encoded.empty()) {
      RETURN_IF_ERROR(env->clickhouse->InsertRowBinary(
          absl::StrCat(env->table,
                       " (domain, team_id, id, vector, text, properties, timestamp, "
                       "is_deleted, embedding_version, version)"),
          rows.data()));
    }
    // Record them as synced and drop the batches.
    std::vector<int64_t> batch_ids;
    for (const TakenBatch& b : taken) batch_ids.push_back(b.id);
    RETURN_IF_ERROR(conn->Query("DELETE FROM vecsync.pending_batches WHERE id = ANY($1::bigint[])",
                                PgArrayLiteral(batch_ids))
                        .status());
    // In key order, as every flush locks entity_state's rows: two flushes that share entities
    // wait for one another instead of deadlocking.
    auto by_key = [](const QueuedRow* a, const QueuedRow* b) {
      return std::tie(a->team_id, a->id) < std::tie(b->team_id, b->id);
    };
    std::sort(encoded.begin(), encoded.end(), by_key);
    std::sort(failures.begin(), failures.end(),
              [&](const auto& a, const auto& b) { return by_key(a.first.row, b.first.row); });
    if (!encoded.empty()) RETURN_IF_ERROR(RecordSynced(*conn, domain, encoded));
    for (const auto& [p, error] : failures) {
      RETURN_IF_ERROR(RecordFailure(*conn, domain, {p.row->team_id, std::string(p.row->id)}, error,
                                    p.row->row_version));
      ++(p.own ? failed : carried_over);
    }
    inserted += static_cast<int64_t>(encoded.size());
    if (one_insert) {
      ASSIGN_OR_RETURN(std::optional<Json> committed,
                       RecordCommittedResult(*conn, ctx.info(), result()));
      if (committed) return *std::move(committed);
    }
    RETURN_IF_ERROR(txn.Commit());
    RETURN_IF_ERROR(ctx.Heartbeat({{"inserted", inserted}}));
    if (!more || batch == max_batches) break;
  }
  SyncEntities().Add({domain, "embedded"}, static_cast<double>(embedded));
  SyncEntities().Add({domain, "failed"}, static_cast<double>(failed));
  SyncEntities().Add({domain, "inserted"}, static_cast<double>(inserted));
  SyncEntities().Add({domain, "carried_over"}, static_cast<double>(carried_over));
  SyncEntities().Add({domain, "skipped_unchanged"}, static_cast<double>(skipped));
  return result();
}

// ---- sync-finish ----------------------------------------------------------------------------

absl::StatusOr<Json> Finish(SyncEnvironment* env, engine::ActivityContext&, const Json& input) {
  ASSIGN_OR_RETURN(PgPool::Lease conn, env->pool->Acquire());
  RETURN_IF_ERROR(
      conn->Query(absl::StrCat("INSERT INTO vecsync.sync_watermarks (domain, embedding_version, "
                               "watermark) VALUES ($1, $2, ",
                               kEpoch,
                               "$3::bigint) "
                               "ON CONFLICT (domain, embedding_version) DO UPDATE SET "
                               "watermark = GREATEST(sync_watermarks.watermark, "
                               "EXCLUDED.watermark)"),
                  input["domain"].get<std::string>(), input["embedding_version"].get<int>(),
                  input["snapshot_us"].get<int64_t>())
          .status());
  return Json::object();
}

template <typename Fn>
engine::ActivityFunction Bind(SyncEnvironment* env, Fn fn) {
  return [env, fn](engine::ActivityContext& ctx, const Json& input) -> absl::StatusOr<Json> {
    try {
      return fn(env, ctx, input);
    } catch (const Json::exception& e) {
      return engine::ApplicationError("BAD_INPUT", absl::StrCat("bad activity input: ", e.what()),
                                      /*non_retryable=*/true, absl::StatusCode::kInvalidArgument);
    }
  };
}

}  // namespace

std::string StableHash(absl::string_view text) {
  return absl::StrFormat("%016x%016x", Fnv1a(text, 1469598103934665603ULL),
                         Fnv1a(text, 0x84222325CBF29CE4ULL));
}

absl::Status RegisterSyncActivities(engine::Registry* registry, SyncEnvironment* env) {
  RETURN_IF_ERROR(registry->RegisterActivity("sync-prepare", Bind(env, Prepare)));
  RETURN_IF_ERROR(registry->RegisterActivity("sync-select", Bind(env, Select)));
  RETURN_IF_ERROR(registry->RegisterActivity("sync-process", Bind(env, Process)));
  RETURN_IF_ERROR(registry->RegisterActivity("sync-flush", Bind(env, Flush)));
  return registry->RegisterActivity("sync-finish", Bind(env, Finish));
}

}  // namespace vecsync::workflows
