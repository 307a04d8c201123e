#include "workflows/sync/embed_batches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "src/common/mutex.h"

namespace vecsync::workflows {
namespace {

// Embeds text "i" as {i}; the request holding text "0" waits until released.
class SlowFirstEmbedder : public clients::Embedder {
 public:
  std::string model() const override { return "slow-first"; }
  int dimensions() const override { return 1; }
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    if (texts.front() == "0") release.WaitForNotification();
    std::vector<std::vector<float>> out;
    for (const std::string& t : texts) {
      MutexLock lock(&mu);
      started.push_back(std::stoi(t));
      out.push_back({static_cast<float>(std::stoi(t))});
    }
    return out;
  }
  Notification release;
  Mutex mu;
  std::vector<int> started;
};

TEST(EmbedInBatchesTest, ASlowRequestHoldsUpOnlyABoundedNumberAfterIt) {
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) texts.push_back(std::to_string(i));
  SlowFirstEmbedder embedder;
  std::vector<size_t> outcomes;
  absl::Status status;
  std::thread run([&] {
    status = EmbedInBatches(embedder, texts, /*batch_size=*/1, /*parallel=*/2,
                            [&](size_t first, absl::StatusOr<std::vector<std::vector<float>>> v) {
                              EXPECT_TRUE(v.ok());
                              EXPECT_EQ((*v)[0][0], static_cast<float>(first));
                              outcomes.push_back(first);
                              return absl::OkStatus();
                            });
  });
  // Unbounded, the other thread would answer all 19 other requests in this time.
  absl::SleepFor(absl::Milliseconds(300));
  {
    MutexLock lock(&embedder.mu);
    EXPECT_LE(embedder.started.size(), 3u) << "requests 1-3 only: 2 × parallel after request 0";
  }
  embedder.release.Notify();
  run.join();
  ASSERT_TRUE(status.ok()) << status;
  std::sort(outcomes.begin(), outcomes.end());
  ASSERT_EQ(outcomes.size(), texts.size());
  for (size_t i = 0; i < outcomes.size(); ++i) EXPECT_EQ(outcomes[i], i);
}

}  // namespace
}  // namespace vecsync::workflows
