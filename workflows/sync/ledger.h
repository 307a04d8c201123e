// The sync-state ledger: what vecsync last made of each entity and what ClickHouse holds for it
// (vecsync.entity_state, one row per domain, embedding version, team and entity: versions are
// built side by side, embedding_versions.h). Its hashes decide what costs
// money: the content hash (rendered entity, summarizer, prompt) whether to summarize again, the
// vector hash (embedded text, model, dimensions) whether to embed again. It also records
// failures, and quarantines an entity after kMaxEntityFailures of them.
//
// Rows only move forward: every write carries the row version (ClickHouse's `version`) of the
// row it is about, and leaves a ledger row that records a newer one as it is, as ClickHouse's
// ReplacingMergeTree does. So an entity queued twice (by a failed run and again by a later one)
// ends as the newer row in both places, whichever flush records last.
//
//   Ledger ledger(*conn, "action");
//   ASSIGN_OR_RETURN(auto entries, ledger.Read(keys));
//   RETURN_IF_ERROR(ledger.RecordFailure(key, "the model refused", row_version));
//
// A Ledger is a view bound to a connection and a domain; it holds no state of its own.
// Thread-compatible, as the connection is.
#ifndef VECSYNC_WORKFLOWS_SYNC_LEDGER_H_
#define VECSYNC_WORKFLOWS_SYNC_LEDGER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "entities/entity_config.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "workflows/sync/entity_key.h"
#include "workflows/sync/queued_rows.h"

namespace vecsync::workflows {

// After this many failed attempts an entity is quarantined: later runs skip it until
// `vecsync entities failed --retry` clears it.
inline constexpr int kMaxEntityFailures = 5;

// What the ledger holds for one entity.
struct LedgerEntry {
  std::string content_hash, summary, summary_hash, vector_hash;
  Json properties;  // As last written to ClickHouse; null when unknown.
  int embedding_version = -1;
  absl::Time source_updated_at;  // Of the content last written to ClickHouse.
  bool deleted = false;          // The row ClickHouse holds is a tombstone.
  bool synced = false;           // ClickHouse holds a row of the entity.
  int failures = 0;
  int64_t row_version = -1;  // Of the newest row recorded for the entity; -1 when unknown.
};

// A summary to keep, so that a later attempt or run with the same content reuses it.
struct SummaryRecord {
  EntityKey key;
  std::string content_hash, summary, summary_hash;
  int64_t source_updated_us = 0;
};

// An entity whose source row moved its updated_at with nothing else ClickHouse holds changing.
struct TouchedEntity {
  EntityKey key;
  int64_t source_updated_us = 0;
  std::string vector_hash;  // What the ledger holds for it, unchanged.
};

// An entity with the hash of its content as rendered now.
struct ContentKey {
  EntityKey key;
  std::string content_hash;
};

// A summary the ledger holds for an entity's content, at any version.
struct ReusableSummary {
  std::string summary, summary_hash;
};

// Restricts a walk of the ledger (or of the source) to some teams or entities; empty: all.
struct KeyFilter {
  std::vector<int64_t> team_ids;
  std::vector<std::string> entity_ids;
};

class Ledger {
 public:
  Ledger(PgConnection& conn, std::string domain) : conn_(conn), domain_(std::move(domain)) {}

  // The entries at `embedding_version` of those of `keys` the ledger has.
  absl::StatusOr<std::map<EntityKey, LedgerEntry>> Read(absl::Span<const EntityKey> keys,
                                                        int embedding_version);

  // Of `wanted`, the entities whose content the ledger holds a summary of at some version (the
  // newest such): a new version for another embedding model pays for no summary.
  absl::StatusOr<std::map<EntityKey, ReusableSummary>> SummariesOfContent(
      absl::Span<const ContentKey> wanted);

  // Records fresh summaries (before their vectors exist) at `embedding_version`.
  absl::Status RecordSummaries(absl::Span<const SummaryRecord> summaries, int embedding_version);

  // Row versions name their embedding version (RowVersion): the methods that take one, or rows,
  // write at that version.

  // Records that `key` failed with `error` for its row `row_version`: later runs retry it, and
  // after kMaxEntityFailures failures it is quarantined. Moot when the ledger holds a newer row
  // of the entity; otherwise the failed row's version becomes the one the ledger holds, so that
  // an older row of the entity recorded later cannot clear the failure.
  absl::Status RecordFailure(const EntityKey& key, const std::string& error, int64_t row_version);

  // Clears the failures of `key`, which failed and then left the source or its scope before it
  // was ever synced: nothing is left to retry. Moot when the ledger holds a newer row.
  absl::Status ClearFailures(const EntityKey& key, int64_t row_version);

  // Moves the recorded source_updated_at of entities whose row was touched (updated_at moved)
  // without a change ClickHouse would see, while the ledger still holds the vector `vector_hash`
  // live at `embedding_version`: later walks then find them as they are, and select them no more.
  absl::Status RecordTouched(absl::Span<const TouchedEntity> touched, int embedding_version);

  // Records `rows`, inserted into ClickHouse, as synced (in key order, so that two flushes
  // recording the same entities wait for one another instead of deadlocking), and appends an
  // event for each that moved the ledger to the outbox (entity_events.h): from here to its
  // commit, the calling transaction is serialized with every other append. Rows that carry their
  // summary (a local summarizer's) record it too.
  absl::Status RecordSynced(absl::Span<const QueuedRow* const> rows);

  // Of `rows` (rows left queued by an ended run), the indexes of those the ledger holds already,
  // or holds a newer row of, without a failure: the run that queued the entity again flushed it.
  absl::StatusOr<std::vector<size_t>> AlreadyHeld(absl::Span<const QueuedRow* const> rows);

  // Up to `limit` keys after `after`, in key order, of entities whose last attempt at
  // `embedding_version` failed and that are not quarantined.
  absl::StatusOr<std::vector<EntityKey>> FailedAfter(const EntityKey& after,
                                                     const KeyFilter& filter, int embedding_version,
                                                     int limit);

  // Up to `limit` keys after `after`, in key order, of entities ClickHouse holds a live row of at
  // `embedding_version` whose source row is gone (or moved to another team, which is another key)
  // (for domains whose rows are deleted outright). One never synced has no row to tombstone.
  absl::StatusOr<std::vector<EntityKey>> GoneFromSourceAfter(const entities::EntityConfig& config,
                                                             const EntityKey& after,
                                                             const KeyFilter& filter,
                                                             int embedding_version, int limit);

 private:
  absl::StatusOr<std::vector<EntityKey>> KeysAfter(const std::string& condition,
                                                   const EntityKey& after, const KeyFilter& filter,
                                                   int embedding_version, int limit);

  PgConnection& conn_;
  const std::string domain_;
};

// `filter`'s lists as SQL array parameters; NULL for an empty list (no restriction).
std::optional<std::string> TeamIdsParam(const KeyFilter& filter);
std::optional<std::string> EntityIdsParam(const KeyFilter& filter);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_LEDGER_H_
