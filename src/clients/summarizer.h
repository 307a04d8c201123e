// Turns an entity's rendered description into a short natural-language summary, following
// its domain's instruction (the prompt).
//
// Implementations: TemplateSummarizer (offline, deterministic) and OpenAiSummarizer (an
// OpenAI-compatible chat model, openai_client.h). Thread-safe.
#ifndef VECSYNC_CLIENTS_SUMMARIZER_H_
#define VECSYNC_CLIENTS_SUMMARIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vecsync::clients {

class Summarizer {
 public:
  virtual ~Summarizer() = default;
  // Identifies what the summaries depend on, for `prompt`: the model, and the prompt when the
  // model reads it. Part of the content hash, so a change of either re-summarizes.
  virtual std::string version(absl::string_view prompt) const = 0;
  // The model's name, to price its tokens (prices.h).
  virtual std::string model() const { return local() ? "local" : "unknown"; }
  // True when summaries cost nothing and come at once (no provider): then nothing is gained by
  // recording them piecemeal as they arrive.
  virtual bool local() const { return false; }
  // One summary of each input, following `prompt`, or one error per input, in order. The outer
  // status fails only when nothing could be tried (the provider refused the whole request).
  virtual absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      absl::string_view prompt, const std::vector<std::string>& inputs) = 0;
};

// The offline default: a deterministic rendering of the entity, no network. It reads no prompt,
// so its version does not depend on one.
class TemplateSummarizer : public Summarizer {
 public:
  std::string version(absl::string_view prompt) const override { return "template-v1"; }
  std::string model() const override { return "template"; }
  bool local() const override { return true; }
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      absl::string_view prompt, const std::vector<std::string>& inputs) override;

  // The summary of one rendered entity: its lines joined into sentences, at most 1,000 bytes.
  static std::string SummarizeOne(const std::string& input);
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_SUMMARIZER_H_
