// `vecsync server`'s summarizer and embedder settings, and building the providers from them.
#ifndef VECSYNC_CLI_PROVIDER_FLAGS_H_
#define VECSYNC_CLI_PROVIDER_FLAGS_H_

#include <map>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "src/clients/embedder.h"
#include "src/clients/openai_client.h"
#include "src/clients/summarizer.h"
#include "src/common/mutex.h"

namespace vecsync::cli {

struct ProviderFlags {
  std::string summarizer = "template";
  std::string embedder = "hashing";
  int embedding_dimensions = 512;
  clients::OpenAiOptions openai;
  std::string openai_key_file;
};

// Adds --summarizer, --embedder, --embedding-dimensions and the OpenAI chat and embedding
// settings.
void AddProviderFlags(CLI::App* command, ProviderFlags* flags);

// The configured providers. The API key comes from --openai-api-key-file, else OPENAI_API_KEY.
absl::StatusOr<std::unique_ptr<clients::Embedder>> MakeEmbedder(const ProviderFlags& flags);
absl::StatusOr<std::unique_ptr<clients::Summarizer>> MakeSummarizer(const ProviderFlags& flags);

// Embedders for the embedding profiles ("model/dimensions") of the versions search reads: the
// configured one, and, made on first use, others the configured provider can make (another model
// or size of the same OpenAI-compatible provider; the hashing embedder of any size). A server
// building a version for a new model keeps answering searches from the active version of the
// old one. Thread-safe.
class EmbedderSet {
 public:
  // `configured` is not owned and must outlive the set.
  EmbedderSet(ProviderFlags flags, clients::Embedder* configured)
      : flags_(std::move(flags)), configured_(configured) {}

  // FAILED_PRECONDITION, saying what to do, when this provider cannot make `profile`'s model.
  absl::StatusOr<clients::Embedder*> For(const std::string& profile);

 private:
  const ProviderFlags flags_;
  clients::Embedder* const configured_;
  Mutex mu_;
  std::map<std::string, std::unique_ptr<clients::Embedder>> made_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vecsync::cli

#endif  // VECSYNC_CLI_PROVIDER_FLAGS_H_
