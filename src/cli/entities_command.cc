// `vecsync entities failed --domain X [--retry]`: lists the entities whose sync failed (with
// their last error); --retry lifts their quarantine so the next run tries them again.
// `vecsync entities versions --domain X [--activate N]`: lists the domain's embedding versions
// (profile, complete or building, which one search answers from); --activate makes a complete
// one active again.
// `vecsync entities watch --domain X [--team N]… [--resume-token T]`: prints one line per entity
// version embedded or tombstoned, as the server's WatchEntityChanges streams them, resuming
// (after a server restart too) from the last token it printed.
#include <iostream>

#include "absl/time/clock.h"
#include "entities/registry.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "src/common/json.h"
#include "src/common/pg.h"
#include "vecsync/v1/entity_service.grpc.pb.h"
#include "workflows/sync/embedding_versions.h"
#include "workflows/sync/failed_entities.h"

namespace vecsync::cli {
namespace {

struct EntitiesFlags {
  DatabaseFlags db;
  std::string domain;
  bool retry = false;
  bool quarantined_only = false;
  std::string output = "text";
};

struct VersionsFlags {
  DatabaseFlags db;
  std::string domain;
  int activate = 0;  // 0: list only.
  std::string output = "text";
};

void Versions(const VersionsFlags& flags) {
  auto conn = PgConnection::Connect(flags.db.pg_url);
  if (!conn.ok()) return Fail(conn.status());
  if (flags.activate > 0) {
    if (absl::Status s = workflows::ActivateEmbeddingVersion(**conn, flags.domain, flags.activate);
        !s.ok()) {
      return Fail(s);
    }
  }
  auto versions = workflows::ListEmbeddingVersions(**conn, flags.domain);
  if (!versions.ok()) return Fail(versions.status());
  Json list = Json::array();
  for (const workflows::EmbeddingVersion& v : *versions) {
    list.push_back({{"embedding_version", v.version},
                    {"summarizer", v.profile ? Json(v.profile->summarizer) : Json()},
                    {"embedder", v.profile ? Json(v.profile->embedder) : Json()},
                    {"state", v.complete ? "complete" : "building"},
                    {"active", v.active}});
    if (flags.output != "json") {
      std::cout << "version " << v.version << "  " << (v.complete ? "complete" : "building")
                << (v.active ? "  ACTIVE" : "") << "  embedder "
                << (v.profile ? v.profile->embedder : "(unknown)") << "  summarizer "
                << (v.profile ? v.profile->summarizer : "(unknown)") << "\n";
    }
  }
  if (flags.output == "json") std::cout << list.dump(2) << "\n";
  if (versions->empty() && flags.output != "json") {
    std::cout << "no embedding versions of " << flags.domain << " yet\n";
  }
}

struct WatchFlags {
  ApiFlags api;
  std::string domain;
  std::vector<int64_t> team_ids;
  std::string resume_token;
  int64_t max_events = 0;  // 0: until interrupted.
};

const char* KindName(v1::EntityChange::Kind kind) {
  switch (kind) {
    case v1::EntityChange::EMBEDDED:
      return "embedded";
    case v1::EntityChange::TOMBSTONED:
      return "tombstoned";
    case v1::EntityChange::CHECKPOINT:
      return "checkpoint";
    default:
      return "unknown";
  }
}

void Print(const v1::EntityChange& c, const std::string& output) {
  if (output == "json") {
    Json line = {{"resume_token", c.resume_token()}, {"kind", KindName(c.kind())}};
    if (c.kind() != v1::EntityChange::CHECKPOINT) {
      line.update({{"domain", c.domain()},
                   {"team_id", c.team_id()},
                   {"entity_id", c.entity_id()},
                   {"embedding_version", c.embedding_version()},
                   {"version", c.version()},
                   {"recorded_at_us", c.recorded_at_us()}});
    }
    std::cout << line.dump() << std::endl;
  } else if (c.kind() != v1::EntityChange::CHECKPOINT) {
    std::cout << c.resume_token() << "  " << KindName(c.kind()) << "  " << c.domain() << "  team "
              << c.team_id() << "  id " << c.entity_id() << "  embedding_version "
              << c.embedding_version() << std::endl;
  }
}

void Watch(const WatchFlags& flags) {
  WithStub<v1::EntityService>(flags.api, [&](const ApiChannel& api, v1::EntityService::Stub& stub) {
    v1::WatchEntityChangesRequest request;
    request.set_domain(flags.domain);
    for (int64_t team : flags.team_ids) request.add_team_ids(team);
    request.set_resume_token(flags.resume_token);
    int64_t printed = 0;
    absl::Duration backoff = absl::Milliseconds(200);
    while (true) {
      auto context = api.Context(absl::InfiniteDuration());
      auto reader = stub.WatchEntityChanges(context.get(), request);
      v1::EntityChange change;
      while (reader->Read(&change)) {
        Print(change, flags.api.output);
        // A reconnect resumes right after what was printed.
        request.set_resume_token(change.resume_token());
        backoff = absl::Milliseconds(200);
        if (change.kind() != v1::EntityChange::CHECKPOINT && flags.max_events > 0 &&
            ++printed >= flags.max_events) {
          context->TryCancel();
          return;
        }
      }
      grpc::Status s = reader->Finish();
      // The server went away (a restart, a deploy): resume once it is back.
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return Fail(api.Error(s));
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  });
}

void ListFailed(const EntitiesFlags& flags) {
  auto conn = PgConnection::Connect(flags.db.pg_url);
  if (!conn.ok()) return Fail(conn.status());
  auto failed = workflows::ListFailedEntities(**conn, flags.domain, flags.quarantined_only);
  if (!failed.ok()) return Fail(failed.status());
  Json listed = Json::array();
  for (const auto& e : *failed) {
    if (flags.output == "json") {
      listed.push_back({{"team_id", e.team_id},
                        {"entity_id", e.entity_id},
                        {"failures", e.failures},
                        {"quarantined", e.quarantined},
                        {"last_error", e.last_error}});
    } else {
      std::cout << "team " << e.team_id << "  id " << e.entity_id << "  " << e.failures
                << " failure(s)" << (e.quarantined ? "  QUARANTINED" : "") << "  " << e.last_error
                << "\n";
    }
  }
  if (flags.output == "json") {
    std::cout << listed.dump(2) << "\n";
  } else if (failed->empty()) {
    std::cout << "no failed " << flags.domain << " entities\n";
  }
  if (!flags.retry || failed->empty()) return;
  auto retried = workflows::RetryFailedEntities(**conn, flags.domain, flags.quarantined_only);
  if (!retried.ok()) return Fail(retried.status());
  // With --output json stdout holds the list alone; the outcome goes to stderr.
  (flags.output == "json" ? std::cerr : std::cout)
      << *retried << " entit" << (*retried == 1 ? "y" : "ies")
      << " will be retried by the next sync of " << flags.domain << "\n";
}

}  // namespace

void AddEntitiesCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static EntitiesFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* entities = app.add_subcommand("entities", "Inspect the sync state of entities");
  entities->require_subcommand(1);
  CLI::App* failed = entities->add_subcommand(
      "failed", "List entities whose sync failed (quarantined ones first); --retry retries them");
  AddDatabaseFlags(failed, &flags->db);
  failed->add_option("--domain", flags->domain, "Domain, e.g. action")
      ->required()
      ->check(DomainValidator());
  failed->add_flag("--retry", flags->retry, "Lift their quarantine so the next run retries them");
  failed->add_flag("--quarantined", flags->quarantined_only, "Only quarantined entities");
  AddOutputFlag(failed, &flags->output);
  failed->callback([flags] { ListFailed(*flags); });

  static VersionsFlags versions_storage;
  auto* versions_flags = &versions_storage;
  CLI::App* versions = entities->add_subcommand(
      "versions",
      "List the domain's embedding versions; --activate N makes a complete one the one search "
      "answers from");
  AddDatabaseFlags(versions, &versions_flags->db);
  versions->add_option("--domain", versions_flags->domain, "Domain, e.g. action")
      ->required()
      ->check(DomainValidator());
  versions
      ->add_option("--activate", versions_flags->activate,
                   "Make this complete version active (search answers from it at once)")
      ->check(CLI::PositiveNumber);
  AddOutputFlag(versions, &versions_flags->output);
  versions->callback([versions_flags] { Versions(*versions_flags); });

  static WatchFlags watch_storage;
  auto* watch_flags = &watch_storage;
  CLI::App* watch = entities->add_subcommand(
      "watch",
      "Print each entity version embedded or tombstoned, in commit order, as it happens "
      "(resuming from --resume-token, the token of the last line processed)");
  AddApiFlags(watch, &watch_flags->api);
  watch->add_option("--domain", watch_flags->domain, "Domain, e.g. action")
      ->required()
      ->check(DomainValidator());
  watch->add_option("--team", watch_flags->team_ids, "Only this team's entities (repeatable)");
  watch->add_option("--resume-token", watch_flags->resume_token,
                    "Resume after the event with this token (default: from now)");
  watch
      ->add_option("--max-events", watch_flags->max_events,
                   "Stop after this many events (default: until interrupted)")
      ->check(CLI::NonNegativeNumber);
  watch->callback([watch_flags] { Watch(*watch_flags); });
}

}  // namespace vecsync::cli
