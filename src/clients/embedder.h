// Turns texts into vectors.
//
// Implementations: HashingEmbedder (offline); an OpenAI-compatible embeddings client follows.
// Every vector an Embedder returns has dimensions() finite values. Thread-safe.
#ifndef VECSYNC_CLIENTS_EMBEDDER_H_
#define VECSYNC_CLIENTS_EMBEDDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vecsync::clients {

class Embedder {
 public:
  virtual ~Embedder() = default;
  // The model name; with dimensions() part of the hash that decides whether to re-embed.
  virtual std::string model() const = 0;
  virtual int dimensions() const = 0;
  // One vector per text, in order.
  virtual absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) = 0;
};

// The offline default: feature hashing of lowercase words and word pairs into `dimensions`
// signed buckets, L2-normalized. Similar texts get similar vectors; no network, deterministic.
class HashingEmbedder : public Embedder {
 public:
  // INVALID_ARGUMENT unless 1 <= dimensions <= 16384.
  static absl::StatusOr<std::unique_ptr<HashingEmbedder>> Create(int dimensions);

  static constexpr char kModel[] = "hashing-v1";

  std::string model() const override { return kModel; }
  int dimensions() const override { return dimensions_; }
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;

  std::vector<float> EmbedOne(const std::string& text) const;

 private:
  explicit HashingEmbedder(int dimensions) : dimensions_(dimensions) {}
  const int dimensions_;
};

}  // namespace vecsync::clients

#endif  // VECSYNC_CLIENTS_EMBEDDER_H_
