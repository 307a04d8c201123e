// `vecsync search --domain action --team 2 [--limit 10] "text"`: asks the server's SearchService
// for the entities of that team nearest to the text. The server embeds the text as it embedded
// the vectors (the active embedding version's model), so the answer is the one every API client
// gets.
#include <iostream>

#include "absl/strings/str_format.h"
#include "src/cli/api_client.h"
#include "src/cli/commands.h"
#include "vecsync/v1/search_service.grpc.pb.h"

namespace vecsync::cli {
namespace {

struct SearchFlags {
  ApiFlags api;
  std::string domain;
  int64_t team = 0;
  int limit = 10;
  std::string text;
};

// One hit as a line: id, distance and the start of its text.
std::string HitLine(const v1::SearchHit& hit) {
  std::string text = hit.text().substr(0, 100);
  for (char& c : text) {
    if (c == '\n') c = ' ';
  }
  return absl::StrFormat("%s  %.4f  %s", hit.entity_id(), hit.distance(), text);
}

void RunSearch(const SearchFlags& flags) {
  WithStub<v1::SearchService>(flags.api, [&](const ApiChannel& api, v1::SearchService::Stub& stub) {
    v1::SearchSimilarRequest req;
    req.set_domain(flags.domain);
    req.set_team_id(flags.team);
    req.set_query(flags.text);
    req.set_limit(flags.limit);
    v1::SearchSimilarResponse resp;
    grpc::Status s = stub.SearchSimilar(api.Context().get(), req, &resp);
    if (!s.ok()) return Fail(api.Error(s));
    if (flags.api.output == "json") {
      Json hits = Json::array();
      for (const v1::SearchHit& hit : resp.hits()) {
        hits.push_back({{"id", hit.entity_id()},
                        {"distance", hit.distance()},
                        {"text", hit.text()},
                        {"properties", EmbeddedJson(hit.properties_json())}});
      }
      std::cout << hits.dump(2) << "\n";
      return;
    }
    for (const v1::SearchHit& hit : resp.hits()) std::cout << HitLine(hit) << "\n";
    if (resp.hits().empty()) {
      std::cout << "no results (team " << flags.team << " has no synced " << flags.domain
                << " entities near this text)\n";
    }
  });
}

}  // namespace

void AddSearchCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static SearchFlags flags_storage;
  auto* flags = &flags_storage;
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Find the entities nearest to a text, as the server's SearchSimilar answers (embedded with "
      "the model of the domain's active embedding version)");
  cmd->add_option("text", flags->text, "What to look for")->required();
  cmd->add_option("--domain", flags->domain, "Domain, e.g. action")->required();
  cmd->add_option("--team", flags->team, "Team id (results are team-scoped)")->required();
  cmd->add_option("--limit", flags->limit, "How many results")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  AddApiFlags(cmd, &flags->api);
  cmd->callback([flags] { RunSearch(*flags); });
}

}  // namespace vecsync::cli
