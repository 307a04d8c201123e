// `vecsync search --domain action --team 2 [--limit 10] "text"`: embeds the text with the
// configured embedder and lists the nearest entities of that team.
#include <cstdlib>
#include <iostream>

#include "src/cli/commands.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/vector_search.h"

namespace vecsync::cli {
namespace {

struct SearchFlags {
  std::string clickhouse_url;
  std::string domain;
  int64_t team = 0;
  int limit = 10;
  int embedding_dimensions = 512;
  std::string output = "text";
  std::string text;
};

void RunSearch(const SearchFlags& flags) {
  auto clickhouse = clients::ClickHouseClient::Create(flags.clickhouse_url);
  if (!clickhouse.ok()) return Fail(clickhouse.status());
  auto embedder = clients::HashingEmbedder::Create(flags.embedding_dimensions);
  if (!embedder.ok()) return Fail(embedder.status());
  clients::SearchRequest req;
  req.domain = flags.domain;
  req.team_id = flags.team;
  req.limit = flags.limit;
  req.query = (*embedder)->EmbedOne(flags.text);
  auto hits = clients::SearchSimilar(**clickhouse, req);
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
  auto* flags = new SearchFlags;
  const char* env = std::getenv("VECSYNC_CLICKHOUSE_URL");
  flags->clickhouse_url = env == nullptr ? "" : env;
  CLI::App* cmd = app.add_subcommand("search", "Find the entities nearest to a text");
  cmd->add_option("text", flags->text, "What to look for")->required();
  cmd->add_option("--domain", flags->domain, "Domain, e.g. action")->required();
  cmd->add_option("--team", flags->team, "Team id (results are team-scoped)")->required();
  cmd->add_option("--limit", flags->limit, "How many results")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--embedding-dimensions", flags->embedding_dimensions,
                  "Dimensions of the hashing embedder (as the server's)")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  cmd->add_option("--clickhouse-url", flags->clickhouse_url,
                  "ClickHouse HTTP URL (env VECSYNC_CLICKHOUSE_URL)");
  cmd->add_option("--output", flags->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([flags] { RunSearch(*flags); });
}

}  // namespace vecsync::cli
