#include "workflows/sync/change_feed.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "src/common/log.h"
#include "src/common/status_macros.h"
#include "src/replication/pgoutput.h"
#include "src/replication/replication_stream.h"
#include "workflows/sync/change_queue.h"
#include "workflows/sync/sync_entity_vectors.h"

namespace vecsync::workflows {
namespace {

using pgoutput::Lsn;

// How often the feed queues what is ready, confirms the slot and starts runs.
constexpr absl::Duration kTick = absl::Milliseconds(100);
// The slot's position is confirmed at least this often, even when it did not move.
constexpr absl::Duration kConfirmInterval = absl::Seconds(10);

// `table` as a relation's schema and name: "public.t" or "t" (any schema).
bool SameTable(const std::string& table, const pgoutput::Relation& rel) {
  const size_t dot = table.find('.');
  if (dot == std::string::npos) return table == rel.name;
  return table.substr(0, dot) == rel.schema && table.substr(dot + 1) == rel.name;
}

// The tables the feed watches, of those that exist (and vecsync's role sees), each once; NOT_FOUND
// naming them when there are none.
absl::StatusOr<std::vector<std::string>> ExistingTables(
    PgConnection& conn, const entities::EntityConfigRegistry& domains) {
  std::set<std::string> wanted;
  for (const std::string& name : domains.Domains()) {
    const entities::EntityConfig* config = *domains.Find(name);
    wanted.insert(config->table());
    for (const std::string& t : config->scope().tables) wanted.insert(t);
  }
  std::vector<std::string> existing;
  for (const std::string& table : wanted) {
    ASSIGN_OR_RETURN(PgResult r, conn.Query("SELECT to_regclass($1) IS NOT NULL", table));
    if (r.GetBool(0, 0)) existing.push_back(table);
  }
  if (existing.empty()) {
    return absl::NotFoundError(absl::StrCat("none of the domains' tables (",
                                            absl::StrJoin(wanted, ", "),
                                            ") exists, or vecsync's role cannot see them"));
  }
  return existing;
}

absl::Status NotAvailable(absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("logical replication is not available: ", why,
                   "; vecsync polls instead (run sync-entity-vectors on a schedule)"));
}

}  // namespace

std::string SlotName(const std::string& database) {
  std::string slot = "vecsync_";
  for (char c : database) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    slot.push_back(ok ? c : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '_');
  }
  return slot.substr(0, 63);
}

absl::Status SetUpLogicalReplication(PgConnection& conn,
                                     const entities::EntityConfigRegistry& domains) {
  ASSIGN_OR_RETURN(PgResult level, conn.Query("SELECT current_setting('wal_level')"));
  if (level.GetString(0, 0) != "logical") {
    return NotAvailable(absl::StrCat("wal_level is '", level.GetString(0, 0),
                                     "', not 'logical' (set wal_level = logical in "
                                     "postgresql.conf and restart PostgreSQL)"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> tables, ExistingTables(conn, domains));
  ASSIGN_OR_RETURN(PgResult exists,
                   conn.Query("SELECT 1 FROM pg_publication WHERE pubname = $1", kPublication));
  const std::string list = absl::StrJoin(tables, ", ");
  absl::Status published = conn.Execute(
      exists.rows() == 0 ? absl::StrCat("CREATE PUBLICATION ", kPublication, " FOR TABLE ", list)
                         : absl::StrCat("ALTER PUBLICATION ", kPublication, " SET TABLE ", list));
  if (!published.ok()) {
    if (PgSqlState(published) == "42501") {
      return NotAvailable(absl::StrCat("vecsync's role may not publish the source tables (",
                                       published.message(), ")"));
    }
    return published;
  }
  ASSIGN_OR_RETURN(PgResult db, conn.Query("SELECT current_database()"));
  const std::string slot = SlotName(db.GetString(0, 0));
  ASSIGN_OR_RETURN(PgResult slots,
                   conn.Query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", slot));
  if (slots.rows() > 0) return absl::OkStatus();
  absl::Status created =
      conn.Query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot).status();
  if (!created.ok() && PgSqlState(created) == "42501") {
    return NotAvailable(absl::StrCat("vecsync's role may not create a replication slot (",
                                     created.message(), "); grant it REPLICATION"));
  }
  if (!created.ok() && PgSqlState(created) == "53400") {
    return NotAvailable(absl::StrCat("no replication slot is free (", created.message(),
                                     "); raise max_replication_slots"));
  }
  return created;
}

absl::Status DropLogicalReplication(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult db, conn.Query("SELECT current_database()"));
  // A feed just stopped leaves its walsender for a moment: the slot stays active until it ends.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    absl::Status dropped = conn.Query(
                                   "SELECT pg_drop_replication_slot(slot_name) FROM "
                                   "pg_replication_slots WHERE slot_name = $1",
                                   SlotName(db.GetString(0, 0)))
                               .status();
    if (dropped.ok()) break;
    if (PgSqlState(dropped) != "55006" || absl::Now() > deadline) return dropped;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return conn.Execute(absl::StrCat("DROP PUBLICATION IF EXISTS ", kPublication));
}

// One streaming session: from connecting to the slot until the stream fails or the feed stops.
class ChangeFeed::Session {
 public:
  Session(ChangeFeed& feed, PgConnection& conn) : feed_(feed), conn_(conn) {}

  absl::Status Run() {
    ASSIGN_OR_RETURN(PgResult db, conn_.Query("SELECT current_database()"));
    ASSIGN_OR_RETURN(stream_,
                     ReplicationStream::Start(feed_.options_.pg_url, SlotName(db.GetString(0, 0)),
                                              kPublication, /*start=*/0));
    feed_.SetState(State::kStreaming, "");
    LogInfo("change feed streaming", {{"slot", SlotName(db.GetString(0, 0))}});
    // What changed while no feed ran is in the slot, and is sent again; a scope change that
    // was confirmed and not yet looked at is found by the first run of each domain.
    for (const std::string& name : feed_.domains_->Domains()) dirty_.insert(name);
    absl::Time next_tick = absl::Now();
    while (!feed_.stop_.HasBeenNotified()) {
      ASSIGN_OR_RETURN(std::optional<ReplicationStream::Event> event,
                       stream_->Next(std::max(next_tick - absl::Now(), absl::ZeroDuration())));
      if (event) RETURN_IF_ERROR(Handle(*event));
      if (absl::Now() >= next_tick) {
        RETURN_IF_ERROR(Tick());
        next_tick = absl::Now() + kTick;
      }
    }
    return absl::OkStatus();
  }

 private:
  // Where a row change of a relation goes.
  struct Watched {
    std::vector<const entities::EntityConfig*> sources;  // Domains whose source table it is.
    std::vector<std::string> scoped;                     // Domains whose scope reads it.
    int team_column = -1, id_column = -1;
  };
  // A change of one entity waiting in memory for its debounce.
  struct Waiting {
    absl::Time first_seen, last_seen;
    int64_t committed_us = 0;  // The earliest commit that changed it.
    uint64_t txn = 0;          // The earliest transaction (by arrival) that changed it.
  };
  // (domain, team_id, id); team_id -1: a row deleted outright, known by its id only.
  using WaitingKey = std::pair<std::string, EntityKey>;

  absl::Status Handle(const ReplicationStream::Event& event) {
    if (event.keepalive) {
      // Nothing is in flight when no transaction is open and nothing waits: the WAL up to the
      // server's end holds nothing for vecsync (changes of other tables are not sent).
      if (!in_transaction_ && waiting_.empty() && truncated_.empty()) {
        confirmable_ = std::max(confirmable_, event.wal_end);
      }
      if (event.reply_requested) return Confirm();
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(pgoutput::Message message, pgoutput::Decode(event.data));
    if (auto* begin = std::get_if<pgoutput::Begin>(&message)) {
      in_transaction_ = true;
      commit_us_ = begin->commit_time_us;
      ++txn_;
    } else if (auto* commit = std::get_if<pgoutput::Commit>(&message)) {
      in_transaction_ = false;
      ends_.emplace_back(txn_, commit->end_lsn);
      if (waiting_.empty() && truncated_.empty()) {
        confirmable_ = std::max(confirmable_, commit->end_lsn);
      }
    } else if (auto* rel = std::get_if<pgoutput::Relation>(&message)) {
      Watch(*rel);
    } else if (auto* change = std::get_if<pgoutput::RowChange>(&message)) {
      OnRowChange(*change);
    } else if (auto* truncate = std::get_if<pgoutput::Truncate>(&message)) {
      for (uint32_t id : truncate->relation_ids) {
        for (const entities::EntityConfig* config : relations_[id].sources) {
          truncated_.insert(config->domain());
        }
      }
    }
    return absl::OkStatus();
  }

  void Watch(const pgoutput::Relation& rel) {
    Watched w;
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].name == "team_id") w.team_column = static_cast<int>(i);
      if (rel.columns[i].name == "id") w.id_column = static_cast<int>(i);
    }
    for (const std::string& name : feed_.domains_->Domains()) {
      const entities::EntityConfig* config = *feed_.domains_->Find(name);
      if (SameTable(config->table(), rel)) w.sources.push_back(config);
      for (const std::string& t : config->scope().tables) {
        if (SameTable(t, rel)) w.scoped.push_back(name);
      }
    }
    relations_[rel.id] = std::move(w);
  }

  void OnRowChange(const pgoutput::RowChange& change) {
    const Watched& w = relations_[change.relation_id];
    for (const std::string& domain : w.scoped) dirty_.insert(domain);
    if (w.sources.empty() || w.id_column < 0) return;
    const pgoutput::Tuple& tuple = change.new_tuple ? *change.new_tuple : *change.old_tuple;
    auto text = [&](int column) -> std::optional<std::string> {
      if (column < 0 || static_cast<size_t>(column) >= tuple.size() ||
          tuple[static_cast<size_t>(column)].kind != pgoutput::Value::Kind::kText) {
        return std::nullopt;
      }
      return tuple[static_cast<size_t>(column)].text;
    };
    const std::optional<std::string> id = text(w.id_column);
    if (!id) return;
    const std::optional<std::string> team = text(w.team_column);
    EntityKey key{team ? std::stoll(*team) : -1, *id};
    const absl::Time now = absl::Now();
    for (const entities::EntityConfig* config : w.sources) {
      auto [it, inserted] = waiting_.try_emplace({config->domain(), key});
      Waiting& waiting = it->second;
      if (inserted) {
        waiting.first_seen = now;
        waiting.committed_us = commit_us_;
        waiting.txn = txn_;
      }
      waiting.last_seen = now;
    }
    // The row's previous key, when an update moved it to another team.
    if (change.kind == pgoutput::RowChange::Kind::kUpdate && change.old_tuple && team) {
      const pgoutput::Tuple& old = *change.old_tuple;
      if (static_cast<size_t>(w.team_column) < old.size() &&
          old[static_cast<size_t>(w.team_column)].kind == pgoutput::Value::Kind::kText &&
          old[static_cast<size_t>(w.team_column)].text != *team) {
        for (const entities::EntityConfig* config : w.sources) {
          auto [it, inserted] = waiting_.try_emplace(
              {config->domain(),
               EntityKey{std::stoll(old[static_cast<size_t>(w.team_column)].text), *id}});
          if (inserted) it->second = {now, now, commit_us_, txn_};
        }
      }
    }
  }

  // Queues what is ready, confirms what is queued, and starts the runs it calls for.
  absl::Status Tick() {
    const absl::Time now = absl::Now();
    std::map<std::string, std::vector<EntityChange>> ready;
    std::map<std::string, std::vector<std::string>> ready_ids;  // Deleted outright.
    std::vector<std::map<WaitingKey, Waiting>::iterator> taken;
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      const Waiting& w = it->second;
      if (now - w.last_seen < feed_.options_.quiet &&
          now - w.first_seen < feed_.options_.max_delay) {
        continue;
      }
      const auto& [domain, key] = it->first;
      if (key.team_id < 0) {
        ready_ids[domain].push_back(key.id);
      } else {
        ready[domain].push_back({key, absl::FromUnixMicros(w.committed_us)});
      }
      taken.push_back(it);
    }
    if (!taken.empty() || !truncated_.empty()) {
      PgTransaction txn(conn_);
      RETURN_IF_ERROR(txn.Begin());
      for (const auto& [domain, changes] : ready) {
        RETURN_IF_ERROR(ChangeQueue(conn_, domain).AddEntities(changes));
        dirty_.insert(domain);
      }
      for (const auto& [domain, ids] : ready_ids) {
        RETURN_IF_ERROR(ChangeQueue(conn_, domain).AddLedgerEntities(ids, std::nullopt));
        dirty_.insert(domain);
      }
      for (const std::string& domain : truncated_) {
        ASSIGN_OR_RETURN(PgResult teams, conn_.Query("SELECT DISTINCT team_id FROM "
                                                     "vecsync.entity_state WHERE domain = $1",
                                                     domain));
        std::vector<int64_t> team_ids;
        for (int i = 0; i < teams.rows(); ++i) team_ids.push_back(teams.GetInt64(i, 0));
        RETURN_IF_ERROR(ChangeQueue(conn_, domain).AddTeams(team_ids));
        dirty_.insert(domain);
      }
      RETURN_IF_ERROR(txn.Commit());
      truncated_.clear();
      for (auto it : taken) waiting_.erase(it);
      // Confirmable: up to the end of the last transaction before the earliest one that still
      // has a change waiting.
      uint64_t earliest = txn_ + 1;
      for (const auto& [key, w] : waiting_) earliest = std::min(earliest, w.txn);
      while (!ends_.empty() && ends_.front().first < earliest) {
        confirmable_ = std::max(confirmable_, ends_.front().second);
        ends_.pop_front();
      }
    }
    if (confirmable_ > confirmed_ || now - last_confirm_ >= kConfirmInterval) {
      RETURN_IF_ERROR(Confirm());
    }
    StartRuns();
    return absl::OkStatus();
  }

  absl::Status Confirm() {
    RETURN_IF_ERROR(stream_->Confirm(confirmable_));
    confirmed_ = confirmable_;
    last_confirm_ = absl::Now();
    return absl::OkStatus();
  }

  // Starts a `changes` run for each domain with something to sync, unless one runs.
  void StartRuns() {
    for (auto it = dirty_.begin(); it != dirty_.end();) {
      const std::string& domain = *it;
      auto open = open_runs_.find(domain);
      if (open != open_runs_.end()) {
        absl::StatusOr<engine::ExecutionInfo> info = feed_.client_->Describe(open->second);
        if (info.ok() && info->status == engine::WorkflowStatus::kRunning) {
          ++it;
          continue;
        }
        open_runs_.erase(open);
      }
      engine::StartWorkflowRequest req;
      req.workflow_type = kSyncEntityVectorsWorkflow;
      req.workflow_id = absl::StrCat(kChangesWorkflowIdPrefix, domain);
      req.input = {{"domain", domain}, {"mode", "changes"}};
      req.conflict_policy = engine::ConflictPolicy::kUseExisting;
      absl::StatusOr<engine::StartWorkflowResult> started = feed_.client_->StartWorkflow(req);
      if (!started.ok()) {
        LogWarning("change feed could not start a run",
                   {{"domain", domain}, {"error", started.status().ToString()}});
        ++it;
        continue;
      }
      open_runs_[domain] = {started->workflow_id, started->run_id};
      // A run that was running already may have read the queue before these changes came.
      it = started->started ? dirty_.erase(it) : std::next(it);
    }
  }

  ChangeFeed& feed_;
  PgConnection& conn_;
  std::unique_ptr<ReplicationStream> stream_;
  std::map<uint32_t, Watched> relations_;
  std::map<WaitingKey, Waiting> waiting_;
  std::set<std::string> truncated_;  // Domains whose source table was truncated.
  std::set<std::string> dirty_;      // Domains with changes no run started since has seen.
  std::map<std::string, engine::RunRef> open_runs_;
  bool in_transaction_ = false;
  int64_t commit_us_ = 0;
  uint64_t txn_ = 0;                           // Transactions begun so far.
  std::deque<std::pair<uint64_t, Lsn>> ends_;  // Transactions committed: (number, end LSN).
  Lsn confirmable_ = 0, confirmed_ = 0;
  absl::Time last_confirm_ = absl::InfinitePast();
};

ChangeFeed::ChangeFeed(ChangeFeedOptions options, const entities::EntityConfigRegistry* domains,
                       engine::Client* client)
    : options_(std::move(options)), domains_(domains), client_(client) {}

ChangeFeed::~ChangeFeed() { Stop(); }

void ChangeFeed::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ChangeFeed::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  SetState(State::kStopped, reason());
}

ChangeFeed::State ChangeFeed::state() const {
  MutexLock lock(&mu_);
  return state_;
}

std::string ChangeFeed::reason() const {
  MutexLock lock(&mu_);
  return reason_;
}

void ChangeFeed::SetState(State state, std::string reason) {
  MutexLock lock(&mu_);
  state_ = state;
  reason_ = std::move(reason);
}

void ChangeFeed::Loop() {
  std::string said;  // What the feed last logged about why it is not streaming.
  while (!stop_.HasBeenNotified()) {
    absl::Status status = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(options_.pg_url));
      RETURN_IF_ERROR(SetUpLogicalReplication(*conn, *domains_));
      said.clear();
      return Session(*this, *conn).Run();
    }();
    if (stop_.HasBeenNotified()) break;
    const bool unavailable = absl::IsFailedPrecondition(status);
    SetState(unavailable ? State::kUnavailable : State::kStarting, std::string(status.message()));
    // Each reason once: a feed waiting for its tables, or for a slot another server streams,
    // looks again quietly.
    if (status.ToString() != said) {
      said = status.ToString();
      LogWarning(
          unavailable ? "change feed off" : "change feed not streaming; trying again",
          {{"reason", said}, {"retry_every", absl::FormatDuration(options_.retry_interval)}});
    }
    stop_.WaitForNotificationWithTimeout(options_.retry_interval);
  }
}

}  // namespace vecsync::workflows
