// `vecsync plan --domain D [--team N]…`: what a reconcile run of the domain would do if started
// now (select, summarize, embed, refresh, tombstone), its estimated tokens and cost, as the
// server's PlanSync decides it: with the server's providers and price table, nothing paid for.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "vecsync/v1/entity_service.grpc.pb.h"

namespace vecsync::cli {
namespace {

struct PlanFlags {
  ApiFlags api;
  std::string domain;
  std::vector<int64_t> team_ids;
};

Json PlanJson(const v1::SyncPlan& p) {
  return {{"domain", p.domain()},
          {"embedding_version", p.embedding_version()},
          {"new_version", p.new_version()},
          {"summarizer", p.summarizer()},
          {"embedder", p.embedder()},
          {"chat_model", p.chat_model()},
          {"embedding_model", p.embedding_model()},
          {"selected", p.selected()},
          {"summarize", p.summarize()},
          {"embed", p.embed()},
          {"refresh", p.refresh()},
          {"tombstone", p.tombstone()},
          {"unchanged", p.unchanged()},
          {"estimated_tokens",
           {{"prompt", p.prompt_tokens()},
            {"completion", p.completion_tokens()},
            {"embedding", p.embedding_tokens()}}},
          {"estimated_cost_usd", p.has_cost_usd() ? Json(p.cost_usd()) : Json()},
          {"unpriced_models", p.unpriced_models()}};
}

void PrintPlan(const v1::SyncPlan& p) {
  std::cout << "a reconcile run of " << p.domain() << " now would sync embedding version "
            << p.embedding_version() << (p.new_version() ? " (new: another model or prompt)" : "")
            << "\n";
  std::cout << absl::StrFormat(
      "  select %d: summarize %d, embed %d, refresh %d, tombstone %d, unchanged %d\n", p.selected(),
      p.summarize(), p.embed(), p.refresh(), p.tombstone(), p.unchanged());
  std::cout << absl::StrFormat("  estimated tokens: %s %d in + %d out, %s %d\n", p.chat_model(),
                               p.prompt_tokens(), p.completion_tokens(), p.embedding_model(),
                               p.embedding_tokens());
  if (p.has_cost_usd()) {
    std::cout << absl::StrFormat("  estimated cost: $%.4f\n", p.cost_usd());
  } else {
    std::cout << "  estimated cost: unknown (no price for "
              << absl::StrJoin(p.unpriced_models(), ", ")
              << "; vecsync server --price MODEL=INPUT/OUTPUT)\n";
  }
}

void Plan(const PlanFlags& flags) {
  WithStub<v1::EntityService>(flags.api, [&](const ApiChannel& api, v1::EntityService::Stub& stub) {
    v1::PlanSyncRequest req;
    req.set_domain(flags.domain);
    for (int64_t team : flags.team_ids) req.add_team_ids(team);
    v1::SyncPlan plan;
    grpc::Status s = stub.PlanSync(api.Context(absl::Minutes(10)).get(), req, &plan);
    if (!s.ok()) return Fail(api.Error(s));
    if (flags.api.output == "json") {
      std::cout << PlanJson(plan).dump(2) << "\n";
    } else {
      PrintPlan(plan);
    }
  });
}

}  // namespace

void AddPlanCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static PlanFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "What a reconcile run of a domain would do now, and its estimated tokens and cost, before "
      "anything is paid for");
  cmd->add_option("--domain", flags->domain, "Domain, e.g. action")
      ->required()
      ->check(DomainValidator());
  cmd->add_option("--team", flags->team_ids, "Only this team (repeatable)");
  AddApiFlags(cmd, &flags->api);
  cmd->footer(
      "Decided as a run decides, with the server's providers: a reconcile run started right "
      "after (vecsync workflow start --type sync-entity-vectors --input "
      "'{\"domain\":\"D\",\"mode\":\"reconcile\"}') does these counts, given no edits in "
      "between. Tokens are estimated at four bytes a token; prices are the server's (--price).");
  cmd->callback([flags] { Plan(*flags); });
}

}  // namespace vecsync::cli
