#include "src/clients/prices.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vecsync::clients {

PriceTable PriceTable::BuiltIn() {
  PriceTable table;
  table.prices_ = {
      // The offline providers.
      {"template", {0, 0}},
      {"hashing-v1", {0, 0}},
      // OpenAI list prices, 2025 (dollars per million tokens).
      {"gpt-4.1", {2.00, 8.00}},
      {"gpt-4.1-mini", {0.40, 1.60}},
      {"gpt-4.1-nano", {0.10, 0.40}},
      {"gpt-4o", {2.50, 10.00}},
      {"gpt-4o-mini", {0.15, 0.60}},
      {"text-embedding-3-small", {0.02, 0}},
      {"text-embedding-3-large", {0.13, 0}},
      {"text-embedding-ada-002", {0.10, 0}},
  };
  return table;
}

absl::Status PriceTable::Set(absl::string_view spec) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("--price '", spec,
                     "': expected MODEL=INPUT[/OUTPUT], dollars per million tokens (e.g. "
                     "gpt-4.1-mini=0.40/1.60)"));
  };
  const std::vector<absl::string_view> parts = absl::StrSplit(spec, absl::MaxSplits('=', 1));
  if (parts.size() != 2 || parts[0].empty()) return bad();
  const std::vector<absl::string_view> amounts = absl::StrSplit(parts[1], '/');
  ModelPrice price;
  if (amounts.size() > 2 || !absl::SimpleAtod(amounts[0], &price.input_per_million) ||
      (amounts.size() == 2 && !absl::SimpleAtod(amounts[1], &price.output_per_million)) ||
      price.input_per_million < 0 || price.output_per_million < 0) {
    return bad();
  }
  prices_[std::string(parts[0])] = price;
  return absl::OkStatus();
}

std::optional<ModelPrice> PriceTable::Find(const std::string& model) const {
  auto it = prices_.find(model);
  if (it == prices_.end()) return std::nullopt;
  return it->second;
}

TokenCost PriceTable::Cost(const std::string& chat_model, int64_t prompt_tokens,
                           int64_t completion_tokens, const std::string& embedding_model,
                           int64_t embedding_tokens) const {
  TokenCost cost;
  double usd = 0;
  if (prompt_tokens + completion_tokens > 0) {
    if (std::optional<ModelPrice> p = Find(chat_model)) {
      usd +=
          (prompt_tokens * p->input_per_million + completion_tokens * p->output_per_million) / 1e6;
    } else {
      cost.unpriced_models.push_back(chat_model);
    }
  }
  if (embedding_tokens > 0) {
    if (std::optional<ModelPrice> p = Find(embedding_model)) {
      usd += embedding_tokens * p->input_per_million / 1e6;
    } else {
      cost.unpriced_models.push_back(embedding_model);
    }
  }
  if (cost.unpriced_models.empty()) cost.usd = usd;
  return cost;
}

}  // namespace vecsync::clients
