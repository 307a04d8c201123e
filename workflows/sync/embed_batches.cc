#include "workflows/sync/embed_batches.h"

#include <algorithm>
#include <thread>

#include "src/clients/token_usage.h"
#include "src/common/mutex.h"

namespace vecsync::workflows {

absl::Status EmbedInBatches(clients::Embedder& embedder, absl::Span<const std::string> texts,
                            int batch_size, int parallel, const EmbedBatchHandler& on_batch) {
  const size_t batch = static_cast<size_t>(std::max(batch_size, 1));
  const size_t requests = (texts.size() + batch - 1) / batch;
  const size_t threads = std::min(requests, static_cast<size_t>(std::max(parallel, 1)));
  const size_t window = 2 * threads;  // Requests started beyond the oldest unanswered one.
  Mutex mu;
  size_t next = 0;    // The next request to send.
  size_t oldest = 0;  // The oldest request not answered yet.
  std::vector<bool> answered(requests, false);
  absl::Status failed;
  auto may_send = [&] { return !failed.ok() || next == requests || next < oldest + window; };
  auto send = [&] {
    while (true) {
      size_t request = 0;
      {
        MutexLock lock(&mu);
        mu.Await(Condition(&may_send));
        if (!failed.ok() || next == requests) return;
        request = next++;
      }
      const size_t first = request * batch;
      const size_t n = std::min(batch, texts.size() - first);
      absl::StatusOr<std::vector<std::vector<float>>> vectors = embedder.Embed(
          std::vector<std::string>(texts.begin() + first, texts.begin() + first + n));
      MutexLock lock(&mu);
      answered[request] = true;
      while (oldest < requests && answered[oldest]) ++oldest;
      if (!failed.ok()) return;
      failed = on_batch(first, std::move(vectors));
    }
  };
  std::vector<std::thread> helpers;
  clients::TokenUsage* const usage = clients::TokenUsage::Current();  // Counted as the caller's.
  for (size_t i = 1; i < threads; ++i) {
    helpers.emplace_back([&send, usage] {
      clients::TokenUsage::Scope scope(usage);
      send();
    });
  }
  if (threads > 0) send();
  for (std::thread& t : helpers) t.join();
  return failed;
}

}  // namespace vecsync::workflows
