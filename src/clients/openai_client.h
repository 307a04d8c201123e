// OpenAI-compatible chat completions and embeddings over HTTP: OpenAI itself, Azure-style
// endpoints (api-key header), Ollama, vLLM, llama.cpp and text-embeddings-inference.
//
// Requests respect per-endpoint caps (inputs and estimated tokens per request), a
// requests- and tokens-per-minute limiter that also reads x-ratelimit-* headers, timeouts and
// connection reuse. 408, 409, 429 and 5xx answers and timeouts are retried with backoff,
// honouring retry-after / retry-after-ms. 401 and 403 are UNAUTHENTICATED / PERMISSION_DENIED
// and never retried. Responses are validated (count, index order, dimensions, finite values);
// a bad response is an error naming what was wrong, never a stored vector.
//
// Thread-safe.
#ifndef VECSYNC_CLIENTS_OPENAI_CLIENT_H_
#define VECSYNC_CLIENTS_OPENAI_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/clients/embedder.h"
#include "src/clients/rate_limiter.h"
#include "src/clients/summarizer.h"
#include "src/common/json.h"
#include "src/common/mutex.h"

namespace vecsync::clients {

struct OpenAiOptions {
  std::string base_url = "https://api.openai.com/v1";  // OPENAI_BASE_URL
  std::string api_key;                                 // OPENAI_API_KEY; may be empty (Ollama)
  bool api_key_header = false;  // Azure style: "api-key: KEY" instead of a bearer token.
  std::string embedding_model = "text-embedding-3-small";
  int dimensions = 1536;  // Expected vector size; also sent as `dimensions` when send_dimensions.
  bool send_dimensions = true;
  std::string chat_model = "gpt-4.1-mini";
  int max_inputs_per_request = 2048;  // text-embeddings-inference: 32.
  int64_t max_tokens_per_request = 300000;
  absl::Duration timeout = absl::Seconds(60);
  int max_retries = 5;
  // Chat requests in flight at once across every caller of one summarizer (per process).
  int max_concurrent_requests = 5;
  double requests_per_minute = 0;  // 0: unlimited.
  double tokens_per_minute = 0;

  // INVALID_ARGUMENT naming the field.
  absl::Status Validate() const;
};

// Estimated tokens of a text: about four bytes per token.
int64_t EstimateTokens(const std::string& text);

// The HTTP transport shared by the chat and embeddings clients.
class OpenAiHttp {
 public:
  explicit OpenAiHttp(OpenAiOptions options);
  ~OpenAiHttp();
  OpenAiHttp(const OpenAiHttp&) = delete;
  OpenAiHttp& operator=(const OpenAiHttp&) = delete;

  // POSTs `body` to base_url + `path` with retries; returns the parsed JSON answer.
  absl::StatusOr<Json> Post(const std::string& path, const Json& body, int64_t estimated_tokens);

  const OpenAiOptions& options() const { return options_; }
  // Requests sent, including retries (for tests and metrics).
  int64_t requests_sent() const;

 private:
  struct Connection;
  const OpenAiOptions options_;
  RateLimiter limiter_;
  std::unique_ptr<Connection> connection_;
};

class OpenAiEmbedder : public Embedder {
 public:
  static absl::StatusOr<std::unique_ptr<OpenAiEmbedder>> Create(OpenAiOptions options);
  std::string model() const override { return http_.options().embedding_model; }
  int dimensions() const override { return http_.options().dimensions; }
  // Splits `texts` into requests within the caps; base64-encoded float32 answers.
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  int64_t requests_sent() const { return http_.requests_sent(); }

 private:
  explicit OpenAiEmbedder(OpenAiOptions options) : http_(std::move(options)) {}
  absl::StatusOr<std::vector<std::vector<float>>> EmbedRequest(
      const std::vector<std::string>& texts, int64_t tokens);
  OpenAiHttp http_;
};

class OpenAiSummarizer : public Summarizer {
 public:
  static absl::StatusOr<std::unique_ptr<OpenAiSummarizer>> Create(OpenAiOptions options);
  // The chat model and a hash of the prompt.
  std::string model() const override { return http_.options().chat_model; }
  std::string version(absl::string_view prompt) const override;
  // One chat request per input, up to max_concurrent_requests at once (shared by all
  // concurrent callers, so several sync activities together never exceed it). A failed input
  // is an error in its slot, not for the batch, unless the provider refused us outright
  // (authentication) or stayed unavailable past the retries.
  // The prompt is the system message of every request.
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      absl::string_view prompt, const std::vector<std::string>& inputs) override;

 private:
  explicit OpenAiSummarizer(OpenAiOptions options)
      : http_(std::move(options)), free_slots_(http_.options().max_concurrent_requests) {}
  absl::StatusOr<std::string> SummarizeOne(absl::string_view prompt, const std::string& input);

  OpenAiHttp http_;
  Mutex slots_mu_;
  int free_slots_ ABSL_GUARDED_BY(slots_mu_);
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_OPENAI_CLIENT_H_
