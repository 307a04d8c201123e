// `vecsync status [--domain D] [--team N]…`: where the sync of each domain stands, per team, as
// the server's GetSyncStatus reports it: entities in scope, synced, stale, failed, quarantined
// and to remove; the oldest unsynced change; the embedding version counted; the last run and
// the one in progress.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "src/api/proto_convert.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "vecsync/v1/entity_service.grpc.pb.h"

namespace vecsync::cli {
namespace {

// Text output shows this many teams per domain; --team or --output json shows the rest.
constexpr int kTeamsShown = 50;

struct StatusFlags {
  ApiFlags api;
  std::string domain;
  std::vector<int64_t> team_ids;
};

Json CountsJson(const v1::EntityCounts& c) {
  Json j = {
      {"in_scope", c.in_scope()}, {"synced", c.synced()},           {"stale", c.stale()},
      {"failed", c.failed()},     {"quarantined", c.quarantined()}, {"to_remove", c.to_remove()}};
  if (c.team_id() != 0) j["team_id"] = c.team_id();
  j["oldest_unsynced_change"] =
      c.has_oldest_unsynced_change() ? Json(FormatTime(c.oldest_unsynced_change())) : Json();
  return j;
}

Json RunJson(const v1::SyncRun& run) {
  if (run.run_id().empty()) return nullptr;
  Json j = {{"workflow_id", run.workflow_id()},
            {"run_id", run.run_id()},
            {"status", run.status()},
            {"start_time", FormatTime(run.start_time())},
            {"input", EmbeddedJson(run.input_json())}};
  if (run.has_close_time()) j["close_time"] = FormatTime(run.close_time());
  if (!run.result_json().empty()) j["result"] = EmbeddedJson(run.result_json());
  if (!run.failure_json().empty()) j["failure"] = EmbeddedJson(run.failure_json());
  if (run.has_cost_usd()) j["cost_usd"] = run.cost_usd();
  if (!run.unpriced_models().empty()) j["unpriced_models"] = run.unpriced_models();
  return j;
}

Json DomainJson(const v1::DomainSyncStatus& d) {
  Json teams = Json::array();
  for (const v1::EntityCounts& team : d.teams()) teams.push_back(CountsJson(team));
  return {{"domain", d.domain()},
          {"embedding_version", d.embedding_version()},
          {"active", d.active()},
          {"summarizer", d.summarizer()},
          {"embedder", d.embedder()},
          {"building_version", d.building_version() == 0 ? Json() : Json(d.building_version())},
          {"totals", CountsJson(d.totals())},
          {"teams", teams},
          {"queued_changes", d.queued_changes()},
          {"oldest_queued_change",
           d.has_oldest_queued_change() ? Json(FormatTime(d.oldest_queued_change())) : Json()},
          {"last_run", RunJson(d.last_run())},
          {"running", RunJson(d.running())}};
}

// "3m ago" for a time in the past.
std::string Ago(const google::protobuf::Timestamp& t) {
  const absl::Duration age = absl::Now() - api::FromProtoTime(t);
  return absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))) + " ago";
}

std::string CountsLine(const v1::EntityCounts& c) {
  std::string line = absl::StrFormat(
      "in scope %d  synced %d  stale %d  failed %d  quarantined %d  to remove %d", c.in_scope(),
      c.synced(), c.stale(), c.failed(), c.quarantined(), c.to_remove());
  if (c.has_oldest_unsynced_change()) {
    absl::StrAppend(&line, "  oldest unsynced change ", FormatTime(c.oldest_unsynced_change()),
                    " (", Ago(c.oldest_unsynced_change()), ")");
  }
  return line;
}

std::string RunLine(const v1::SyncRun& run) {
  std::string line = absl::StrCat(run.status(), "  ", run.workflow_id(), "  started ",
                                  FormatTime(run.start_time()));
  if (run.has_close_time()) {
    absl::StrAppend(&line, ", took ",
                    absl::FormatDuration(absl::Trunc(
                        api::FromProtoTime(run.close_time()) - api::FromProtoTime(run.start_time()),
                        absl::Milliseconds(1))));
  }
  const Json result = EmbeddedJson(run.result_json());
  for (const char* key : {"selected", "summarized", "embedded", "tombstoned", "failed"}) {
    if (result.is_object() && result.contains(key)) {
      absl::StrAppend(&line, "  ", key, " ", result[key].dump());
    }
  }
  if (result.is_object() &&
      result.value("prompt_tokens", int64_t{0}) + result.value("embedding_tokens", int64_t{0}) >
          0) {
    absl::StrAppend(&line, "  tokens ", result.value("prompt_tokens", int64_t{0}), " in + ",
                    result.value("completion_tokens", int64_t{0}), " out, ",
                    result.value("embedding_tokens", int64_t{0}), " embedding");
  }
  if (run.has_cost_usd()) absl::StrAppend(&line, absl::StrFormat("  cost $%.4f", run.cost_usd()));
  const Json failure = EmbeddedJson(run.failure_json());
  if (failure.is_object() && failure.contains("message")) {
    absl::StrAppend(&line, "  (", failure["message"].get<std::string>(), ")");
  }
  return line;
}

void PrintDomain(const v1::DomainSyncStatus& d) {
  std::cout << d.domain() << "\n";
  if (d.embedding_version() == 0) {
    std::cout << "  embedding version: none yet (no run has synced this domain)\n";
  } else {
    std::cout << "  embedding version " << d.embedding_version()
              << (d.active() ? " (active)" : " (building, not searched yet)") << "  embedder "
              << d.embedder() << "  summarizer " << d.summarizer() << "\n";
  }
  if (d.building_version() != 0) {
    std::cout << "  building version " << d.building_version() << " (a new model or prompt)\n";
  }
  std::cout << "  " << CountsLine(d.totals()) << "\n";
  std::cout << "  queued changes " << d.queued_changes();
  if (d.has_oldest_queued_change())
    std::cout << " (oldest " << Ago(d.oldest_queued_change()) << ")";
  std::cout << "\n";
  std::cout << "  last run: " << (d.has_last_run() ? RunLine(d.last_run()) : "none") << "\n";
  if (d.has_running()) std::cout << "  running: " << RunLine(d.running()) << "\n";
  if (d.teams().empty()) return;
  std::cout << absl::StrFormat("  %-12s %10s %10s %8s %8s %12s %10s  %s\n", "team", "in_scope",
                               "synced", "stale", "failed", "quarantined", "to_remove",
                               "oldest_unsynced_change");
  int shown = 0;
  for (const v1::EntityCounts& t : d.teams()) {
    if (++shown > kTeamsShown) {
      std::cout << "  (" << d.teams_size() - kTeamsShown
                << " more teams: --team N, or --output json for all)\n";
      break;
    }
    std::cout << absl::StrFormat(
        "  %-12d %10d %10d %8d %8d %12d %10d  %s\n", t.team_id(), t.in_scope(), t.synced(),
        t.stale(), t.failed(), t.quarantined(), t.to_remove(),
        t.has_oldest_unsynced_change() ? FormatTime(t.oldest_unsynced_change()) : "-");
  }
}

void Status(const StatusFlags& flags) {
  WithStub<v1::EntityService>(flags.api, [&](const ApiChannel& api, v1::EntityService::Stub& stub) {
    v1::GetSyncStatusRequest req;
    req.set_domain(flags.domain);
    for (int64_t team : flags.team_ids) req.add_team_ids(team);
    v1::GetSyncStatusResponse resp;
    grpc::Status s = stub.GetSyncStatus(api.Context(absl::Minutes(5)).get(), req, &resp);
    if (!s.ok()) return Fail(api.Error(s));
    if (flags.api.output == "json") {
      Json domains = Json::array();
      for (const v1::DomainSyncStatus& d : resp.domains()) domains.push_back(DomainJson(d));
      std::cout << Json{{"domains", domains}}.dump(2) << "\n";
      return;
    }
    for (int i = 0; i < resp.domains_size(); ++i) {
      if (i > 0) std::cout << "\n";
      PrintDomain(resp.domains(i));
    }
  });
}

}  // namespace

void AddStatusCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static StatusFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand(
      "status",
      "Where the sync of each domain stands, per team: entities in scope, synced, stale, failed, "
      "quarantined and to remove; the oldest unsynced change; the active embedding version; the "
      "last run");
  cmd->add_option("--domain", flags->domain, "Only this domain (default: every domain)")
      ->check(DomainValidator());
  cmd->add_option("--team", flags->team_ids, "Only this team (repeatable)");
  AddApiFlags(cmd, &flags->api);
  cmd->footer(
      "The counts judge each source row as a reconcile run would: a reconcile run started now "
      "selects stale + failed + to_remove entities.");
  cmd->callback([flags] { Status(*flags); });
}

}  // namespace vecsync::cli
