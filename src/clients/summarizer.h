// Turns an entity's rendered description into a short natural-language summary.
//
// Implementations: TemplateSummarizer (offline, deterministic); an OpenAI-compatible chat
// summarizer follows. Thread-safe.
#ifndef VECSYNC_CLIENTS_SUMMARIZER_H_
#define VECSYNC_CLIENTS_SUMMARIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vecsync::clients {

class Summarizer {
 public:
  virtual ~Summarizer() = default;
  // Identifies the model and prompt; part of the content hash, so a change re-summarizes.
  virtual std::string version() const = 0;
  // True when summaries cost nothing and come at once (no provider): then nothing is gained by
  // recording them piecemeal as they arrive.
  virtual bool local() const { return false; }
  // One summary, or one error, per input, in order. The outer status fails only when nothing
  // could be tried (the provider refused the whole request).
  virtual absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      const std::vector<std::string>& inputs) = 0;
};

// The offline default: a deterministic rendering of the entity, no network.
class TemplateSummarizer : public Summarizer {
 public:
  std::string version() const override { return "template-v1"; }
  bool local() const override { return true; }
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      const std::vector<std::string>& inputs) override;

  // The summary of one rendered entity: its lines joined into sentences, at most 1,000 bytes.
  static std::string SummarizeOne(const std::string& input);
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_SUMMARIZER_H_
