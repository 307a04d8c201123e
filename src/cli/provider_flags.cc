#include "src/cli/provider_flags.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"

namespace vecsync::cli {
namespace {

absl::StatusOr<clients::OpenAiOptions> OpenAiOptionsFrom(const ProviderFlags& flags) {
  clients::OpenAiOptions o = flags.openai;
  o.dimensions = flags.embedding_dimensions;
  if (!flags.openai_key_file.empty()) {
    std::ifstream in(flags.openai_key_file);
    if (!std::getline(in, o.api_key)) {
      return absl::InvalidArgumentError("cannot read --openai-api-key-file " +
                                        flags.openai_key_file);
    }
  } else if (const char* key = std::getenv("OPENAI_API_KEY"); key != nullptr) {
    o.api_key = key;
  }
  return o;
}

}  // namespace

void AddProviderFlags(CLI::App* cmd, ProviderFlags* flags) {
  cmd->add_option("--summarizer", flags->summarizer,
                  "template (offline, deterministic) or openai (OpenAI-compatible chat)")
      ->check(CLI::IsMember({"template", "openai"}))
      ->capture_default_str();
  cmd->add_option("--chat-model", flags->openai.chat_model, "Chat model for summaries")
      ->capture_default_str();
  cmd->add_option("--max-concurrent-requests", flags->openai.max_concurrent_requests,
                  "Chat requests in flight at once in this process")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--embedder", flags->embedder,
                  "hashing (offline feature hashing) or openai (OpenAI-compatible embeddings)")
      ->check(CLI::IsMember({"hashing", "openai"}))
      ->capture_default_str();
  cmd->add_option("--embedding-dimensions", flags->embedding_dimensions,
                  "Vector dimensions (sent as `dimensions` to the provider)")
      ->check(CLI::Range(1, 16384))
      ->capture_default_str();
  cmd->add_option("--embedding-model", flags->openai.embedding_model, "Embedding model")
      ->capture_default_str();
  cmd->add_option("--openai-base-url", flags->openai.base_url,
                  "OpenAI-compatible API base URL (env OPENAI_BASE_URL)")
      ->envname("OPENAI_BASE_URL")
      ->capture_default_str();
  cmd->add_option("--openai-api-key-file", flags->openai_key_file,
                  "File holding the API key (else env OPENAI_API_KEY); never logged");
  cmd->add_flag("--openai-api-key-header", flags->openai.api_key_header,
                "Send the key as `api-key:` (Azure style) instead of a bearer token");
  cmd->add_flag("!--no-send-dimensions", flags->openai.send_dimensions,
                "Do not send `dimensions` (models that reject it)");
  cmd->add_option(
         "--max-inputs-per-request", flags->openai.max_inputs_per_request,
         "Embedding inputs per request (2048 for OpenAI, 32 for text-embeddings-inference)")
      ->check(CLI::Range(1, 2048))
      ->capture_default_str();
  cmd->add_option("--requests-per-minute", flags->openai.requests_per_minute,
                  "Provider request budget (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--tokens-per-minute", flags->openai.tokens_per_minute,
                  "Provider token budget (0: unlimited)")
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<clients::Embedder>> MakeEmbedder(const ProviderFlags& flags) {
  if (flags.embedder == "openai") {
    ASSIGN_OR_RETURN(clients::OpenAiOptions o, OpenAiOptionsFrom(flags));
    ASSIGN_OR_RETURN(auto embedder, clients::OpenAiEmbedder::Create(std::move(o)));
    return std::unique_ptr<clients::Embedder>(std::move(embedder));
  }
  ASSIGN_OR_RETURN(auto embedder, clients::HashingEmbedder::Create(flags.embedding_dimensions));
  return std::unique_ptr<clients::Embedder>(std::move(embedder));
}

absl::StatusOr<std::unique_ptr<clients::Summarizer>> MakeSummarizer(const ProviderFlags& flags) {
  if (flags.summarizer == "openai") {
    ASSIGN_OR_RETURN(clients::OpenAiOptions o, OpenAiOptionsFrom(flags));
    ASSIGN_OR_RETURN(auto summarizer, clients::OpenAiSummarizer::Create(std::move(o)));
    return std::unique_ptr<clients::Summarizer>(std::move(summarizer));
  }
  return std::unique_ptr<clients::Summarizer>(std::make_unique<clients::TemplateSummarizer>());
}

absl::StatusOr<clients::Embedder*> EmbedderSet::For(const std::string& profile) {
  const std::string configured = absl::StrCat(configured_->model(), "/", configured_->dimensions());
  if (profile == configured) return configured_;
  MutexLock lock(&mu_);
  if (auto it = made_.find(profile); it != made_.end()) return it->second.get();
  const size_t slash = profile.rfind('/');
  int dimensions = 0;
  if (slash == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(profile).substr(slash + 1), &dimensions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedding profile \"", profile, "\" is not model/dimensions"));
  }
  const std::string model = profile.substr(0, slash);
  ProviderFlags flags = flags_;
  flags.embedding_dimensions = dimensions;
  if (model == clients::HashingEmbedder::kModel) {
    flags.embedder = "hashing";
  } else if (flags.embedder == "openai") {
    flags.openai.embedding_model = model;
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        "the active version's vectors were made by ", model, " (", dimensions,
        " dimensions), and this server's embedder (", configured,
        ") cannot embed a query for them: configure that provider, or make a version of this "
        "embedder active (vecsync entities versions --activate)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<clients::Embedder> embedder, MakeEmbedder(flags));
  clients::Embedder* made = embedder.get();
  made_[profile] = std::move(embedder);
  return made;
}

}  // namespace vecsync::cli
