// The change feed: PostgreSQL logical replication, decoded in vecsync, turned into short
// targeted syncs seconds after a commit.
//
// vecsync owns a publication (kPublication) on every registered domain's source table and the
// tables its scope reads, and a slot (named after the database) that streams it with the
// built-in pgoutput plugin: no extension, no trigger in the source schema. A change of a source
// row becomes a change of its entity; a row deleted outright names its id only, and is looked up
// in the ledger; a truncated source table queues every team the ledger holds; a change of a
// scope table (an organization's approval, a team deleted) makes the domain's next run compare
// the teams in scope (scope_teams.h), which fans out to every entity of the teams that entered
// or left it.
//
// Changes are coalesced per entity in memory and debounced: an entity is queued once it has
// been quiet for `quiet`, or `max_delay` after its first change, so fifty edits in two seconds
// cost one or two summaries, not fifty. They are queued durably (change_queue.h), and only then
// is the slot's position confirmed up to the last transaction whose every change is queued: a
// crash at any point loses nothing, and at worst queues a change twice (coalesced). For each
// domain with queued changes the feed starts a `changes` run (workflow id
// "vecsync-changes-<domain>"), one at a time; what comes meanwhile waits for the next.
//
// Where logical replication is not available (wal_level is not logical, no REPLICATION
// permission, no right to create the publication) the feed says so once, at start, and stays
// off: schedules keep polling, and every correctness guarantee holds, only later.
//
// Thread-safe. Runs one thread of its own between Start() and Stop().
#ifndef VECSYNC_WORKFLOWS_SYNC_CHANGE_FEED_H_
#define VECSYNC_WORKFLOWS_SYNC_CHANGE_FEED_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "entities/registry.h"
#include "src/common/mutex.h"
#include "src/common/pg.h"
#include "src/engine/client.h"

namespace vecsync::workflows {

inline constexpr char kPublication[] = "vecsync_changes";
inline constexpr char kChangesWorkflowIdPrefix[] = "vecsync-changes-";

struct ChangeFeedOptions {
  std::string pg_url;  // vecsync's database, which holds the source tables.
  // An entity is queued once it has had no change for this long,
  absl::Duration quiet = absl::Milliseconds(300);
  // or this long after its first change, whichever comes first.
  absl::Duration max_delay = absl::Seconds(2);
  // After the stream fails, or before looking again for what was missing (source tables).
  absl::Duration retry_interval = absl::Seconds(5);
};

// The replication slot's name for the database `database`: vecsync_<name>, with characters a
// slot name may not hold replaced.
std::string SlotName(const std::string& database);

// Creates (or brings up to date) the publication over `domains`' tables that exist, and the
// slot. FAILED_PRECONDITION, saying why and what to do, where logical replication is not
// available; NOT_FOUND when no domain's table exists yet.
absl::Status SetUpLogicalReplication(PgConnection& conn,
                                     const entities::EntityConfigRegistry& domains);

// Drops the slot and the publication (when a database is retired, or in tests), waiting up to
// 10 s for a feed that just stopped to let go of the slot.
absl::Status DropLogicalReplication(PgConnection& conn);

class ChangeFeed {
 public:
  enum class State { kStarting, kStreaming, kUnavailable, kStopped };

  // None of the pointers is owned; all must outlive the feed.
  ChangeFeed(ChangeFeedOptions options, const entities::EntityConfigRegistry* domains,
             engine::Client* client);
  ~ChangeFeed();

  void Start();
  // Stops the thread; changes not yet queued are left to the slot, which sends them again.
  void Stop();

  State state() const;
  // Why the feed is unavailable, or why it last failed.
  std::string reason() const;

 private:
  class Session;
  void Loop();
  void SetState(State state, std::string reason);

  const ChangeFeedOptions options_;
  const entities::EntityConfigRegistry* const domains_;
  engine::Client* const client_;
  Notification stop_;
  std::thread thread_;
  mutable Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kStarting;
  std::string reason_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_CHANGE_FEED_H_
