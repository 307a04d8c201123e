// The summarizer and embedder settings shared by `vecsync server` and `vecsync search` (a
// search must embed its query with the embedder the server used), and building the providers
// from them.
#ifndef VECSYNC_CLI_PROVIDER_FLAGS_H_
#define VECSYNC_CLI_PROVIDER_FLAGS_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "src/clients/embedder.h"
#include "src/clients/openai_client.h"
#include "src/clients/summarizer.h"

namespace vecsync::cli {

struct ProviderFlags {
  std::string summarizer = "template";
  std::string embedder = "hashing";
  int embedding_dimensions = 512;
  clients::OpenAiOptions openai;
  std::string openai_key_file;
};

// Adds --embedder, --embedding-dimensions and the OpenAI settings; with `summarizer`, also
// --summarizer and the chat settings.
void AddProviderFlags(CLI::App* command, ProviderFlags* flags, bool summarizer);

// The configured providers. The API key comes from --openai-api-key-file, else OPENAI_API_KEY.
absl::StatusOr<std::unique_ptr<clients::Embedder>> MakeEmbedder(const ProviderFlags& flags);
absl::StatusOr<std::unique_ptr<clients::Summarizer>> MakeSummarizer(const ProviderFlags& flags);

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_PROVIDER_FLAGS_H_
