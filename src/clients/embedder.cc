#include "src/clients/embedder.h"

#include <cmath>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "src/common/stable_hash.h"

namespace vecsync::clients {
namespace {

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c >= 0x80) {
      current.push_back(static_cast<char>(absl::ascii_tolower(c)));
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HashingEmbedder>> HashingEmbedder::Create(int dimensions) {
  if (dimensions < 1 || dimensions > 16384) {
    return absl::InvalidArgumentError(
        absl::StrCat("embedding dimensions must be between 1 and 16384, got ", dimensions));
  }
  return std::unique_ptr<HashingEmbedder>(new HashingEmbedder(dimensions));
}

std::vector<float> HashingEmbedder::EmbedOne(const std::string& text) const {
  std::vector<float> v(static_cast<size_t>(dimensions_), 0.0f);
  const std::vector<std::string> words = Words(text);
  auto add = [&](uint64_t h, float weight) {
    v[h % static_cast<uint64_t>(dimensions_)] += (h >> 63) != 0 ? -weight : weight;
  };
  for (size_t i = 0; i < words.size(); ++i) {
    add(Fnv1a(words[i]), 1.0f);
    if (i + 1 < words.size())
      add(Fnv1a(words[i + 1], Fnv1a(words[i]) ^ 0x9E3779B97F4A7C15ULL), 0.5f);
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm == 0) {
    v[0] = 1.0f;  // An empty text still gets a unit vector.
    return v;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= inv;
  return v;
}

absl::StatusOr<std::vector<std::vector<float>>> HashingEmbedder::Embed(
    const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(EmbedOne(t));
  return out;
}

}  // namespace vecsync::clients
