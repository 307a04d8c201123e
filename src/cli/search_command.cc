// `vecsync search --domain action --team 2 [--limit 10] "text"`: embeds the text with the
// embedder the server uses (the same --embedder flags) and lists the nearest entities of that
// team.
#include <cstdlib>
#include <iostream>

#include "src/cli/commands.h"
#include "src/cli/provider_flags.h"
#include "src/clients/clickhouse_client.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::cli {
namespace {

struct SearchFlags {
  std::string clickhouse_url;
  std::string domain;
  int64_t team = 0;
  int limit = 10;
  ProviderFlags providers;
  std::string output = "text";
  std::string text;
};

void RunSearch(const SearchFlags& flags) {
  auto clickhouse = clients::ClickHouseClient::Create(flags.clickhouse_url);
  if (!clickhouse.ok()) return Fail(clickhouse.status());
  auto embedder = MakeEmbedder(flags.providers);
  if (!embedder.ok()) return Fail(embedder.status());
  workflows::VectorTable vectors(clickhouse->get(), "pg_embeddings");
  workflows::SearchRequest req;
  req.domain = flags.domain;
  req.team_id = flags.team;
  req.limit = flags.limit;
  auto query = (*embedder)->Embed({flags.text});
  if (!query.ok()) return Fail(query.status());
  req.query = std::move((*query)[0]);
  auto hits = vectors.Search(req);
  if (!hits.ok()) return Fail(hits.status());
  for (const auto& hit : *hits) {
    if (flags.output == "json") {
      std::cout << Json{{"id", hit.id},
                        {"distance", hit.distance},
                        {"text", hit.text},
                        {"properties", hit.properties}}
                       .dump()
                << "\n";
    } else {
      std::cout << hit.id << "  " << hit.distance << "  " << hit.text.substr(0, 100) << "\n";
    }
  }
  if (hits->empty() && flags.output != "json") std::cout << "no results\n";
}

}  // namespace

void AddSearchCommand(CLI::App& app) {
  // The command's settings live as long as the process (CLI11 writes them while parsing).
  static SearchFlags flags_storage;
  auto* flags = &flags_storage;
  const char* env = std::getenv("VECSYNC_CLICKHOUSE_URL");
  flags->clickhouse_url = env == nullptr ? "" : env;
  CLI::App* cmd = app.add_subcommand("search", "Find the entities nearest to a text");
  cmd->add_option("text", flags->text, "What to look for")->required();
  cmd->add_option("--domain", flags->domain, "Domain, e.g. action")->required();
  cmd->add_option("--team", flags->team, "Team id (results are team-scoped)")->required();
  cmd->add_option("--limit", flags->limit, "How many results")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  AddProviderFlags(cmd, &flags->providers, /*summarizer=*/false);
  cmd->add_option("--clickhouse-url", flags->clickhouse_url,
                  "ClickHouse HTTP URL (env VECSYNC_CLICKHOUSE_URL)");
  cmd->add_option("--output", flags->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([flags] { RunSearch(*flags); });
}

}  // namespace vecsync::cli
