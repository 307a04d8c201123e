// Embeds many texts in requests of a bounded size, several requests at a time.
//
//   EmbedInBatches(embedder, texts, /*batch_size=*/96, /*parallel=*/5,
//                  [&](size_t first, absl::StatusOr<std::vector<std::vector<float>>> vectors) {
//                    ...  // texts[first, first + batch) → vectors, or why that request failed
//                    return absl::OkStatus();
//                  });
#ifndef VECSYNC_WORKFLOWS_SYNC_EMBED_BATCHES_H_
#define VECSYNC_WORKFLOWS_SYNC_EMBED_BATCHES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "src/clients/embedder.h"

namespace vecsync::workflows {

// The outcome of one request: texts [first, first + n) and their vectors (n of them), or the
// request's error.
using EmbedBatchHandler =
    std::function<absl::Status(size_t first, absl::StatusOr<std::vector<std::vector<float>>>)>;

// Splits `texts` into requests of `batch_size` texts and sends up to `parallel` of them at a
// time. `on_batch` sees every request's outcome, one call at a time (in completion order, not
// text order). No request starts more than 2 × `parallel` requests after the oldest one not
// answered yet: a caller that takes the outcomes in text order holds a bounded number of them
// while a slow request (a rate-limited retry) holds up the ones after it. When `on_batch`
// returns an error, no new request starts, and that error is returned once the requests in
// flight end. `batch_size` and `parallel` are at least 1.
absl::Status EmbedInBatches(clients::Embedder& embedder, absl::Span<const std::string> texts,
                            int batch_size, int parallel, const EmbedBatchHandler& on_batch);

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_EMBED_BATCHES_H_
