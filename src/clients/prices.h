// What provider models cost, in US dollars per million tokens, to put a price on a run before
// it starts (a plan) and after (its recorded tokens).
//
// The built-in table holds list prices of common OpenAI models as of 2025 and the offline
// models (free); prices change, and negotiated ones differ: `vecsync server --price
// MODEL=INPUT[/OUTPUT]` (repeatable, or `price = …` lines in the config file) sets or overrides
// one. Immutable after setup; thread-safe to read.
#ifndef VECSYNC_CLIENTS_PRICES_H_
#define VECSYNC_CLIENTS_PRICES_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vecsync::clients {

struct ModelPrice {
  double input_per_million = 0;   // Prompt tokens (embeddings: every token).
  double output_per_million = 0;  // Completion tokens.
};

// Tokens of a run (or a plan) and what they cost.
struct TokenCost {
  std::optional<double> usd;  // nullopt when a model used has no price.
  std::vector<std::string> unpriced_models;
};

class PriceTable {
 public:
  static PriceTable BuiltIn();

  // Sets the price of a model from "MODEL=INPUT[/OUTPUT]" (dollars per million tokens; OUTPUT
  // defaults to 0, as for embedding models). INVALID_ARGUMENT naming `spec` when malformed.
  absl::Status Set(absl::string_view spec);

  std::optional<ModelPrice> Find(const std::string& model) const;

  // The cost of a summarizer's tokens under `chat_model` and an embedder's under
  // `embedding_model`.
  TokenCost Cost(const std::string& chat_model, int64_t prompt_tokens, int64_t completion_tokens,
                 const std::string& embedding_model, int64_t embedding_tokens) const;

  const std::map<std::string, ModelPrice>& prices() const { return prices_; }

 private:
  std::map<std::string, ModelPrice> prices_;
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_PRICES_H_
