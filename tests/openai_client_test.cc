// The OpenAI-compatible clients against the fake provider: a real HTTP server that rate-limits,
// fails, stalls and answers malformed bodies.
#include "src/clients/openai_client.h"

#include <gtest/gtest.h>

#include <cmath>

#include "absl/time/clock.h"
#include "tests/fake_provider.h"

namespace vecsync::clients {
namespace {

using ::vecsync::testing::FakeProvider;

class OpenAiClientTest : public ::testing::Test {
 protected:
  OpenAiClientTest() : fake_(8) {}

  OpenAiOptions Options() {
    OpenAiOptions o;
    o.base_url = fake_.base_url();
    o.api_key = "test-key";
    o.dimensions = 8;
    o.timeout = absl::Seconds(1);
    o.max_retries = 3;
    return o;
  }
  std::unique_ptr<OpenAiEmbedder> Embedder(OpenAiOptions o) {
    auto e = OpenAiEmbedder::Create(std::move(o));
    EXPECT_TRUE(e.ok()) << e.status();
    return std::move(*e);
  }
  std::vector<std::string> Texts(int n) {
    std::vector<std::string> texts;
    for (int i = 0; i < n; ++i) texts.push_back("entity number " + std::to_string(i));
    return texts;
  }

  FakeProvider fake_;
};

TEST_F(OpenAiClientTest, EmbedsInOrderWithinTheInputCap) {
  OpenAiOptions o = Options();
  o.max_inputs_per_request = 32;  // text-embeddings-inference's default
  auto embedder = Embedder(o);
  auto vectors = embedder->Embed(Texts(100));
  ASSERT_TRUE(vectors.ok()) << vectors.status();
  ASSERT_EQ(vectors->size(), 100u);
  Json stats = fake_.Stats();
  EXPECT_EQ(stats["embeddings"], 4);
  EXPECT_EQ(stats["max_batch"], 32);
  // The server shuffles its answer; the client puts each vector back at its input's index.
  auto again = embedder->Embed({"entity number 57"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*vectors)[57], (*again)[0]);
  double norm = 0;
  for (float x : (*again)[0]) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(OpenAiClientTest, RetriesA429AfterTheRetryAfterItWasGiven) {
  fake_.Control({{"faults", {"429", "429"}}, {"retry_after_ms", 300}});
  auto embedder = Embedder(Options());
  const absl::Time start = absl::Now();
  auto vectors = embedder->Embed(Texts(3));
  ASSERT_TRUE(vectors.ok()) << vectors.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(600));
  EXPECT_EQ(embedder->requests_sent(), 3);
}

TEST_F(OpenAiClientTest, Retries500sAndTimeoutsThenGivesUpAsUnavailable) {
  fake_.Control({{"faults", {"500", "slow"}}});
  auto embedder = Embedder(Options());
  ASSERT_TRUE(embedder->Embed(Texts(2)).ok());
  EXPECT_EQ(embedder->requests_sent(), 3);

  fake_.Control({{"faults", {"500", "500", "500", "500", "500"}}});
  auto failed = Embedder(Options())->Embed(Texts(2));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_NE(failed.status().message().find("after 4 attempts"), absl::string_view::npos);
}

TEST_F(OpenAiClientTest, BadResponsesAreErrorsNeverVectors) {
  for (const char* fault : {"malformed", "wrong_dims", "nan", "short"}) {
    fake_.Control({{"faults", {fault}}});
    auto vectors = Embedder(Options())->Embed(Texts(4));
    EXPECT_EQ(vectors.status().code(), absl::StatusCode::kDataLoss)
        << fault << ": " << vectors.status();
  }
}

TEST_F(OpenAiClientTest, AuthErrorsAreNotRetried) {
  fake_.Control({{"faults", {"401", "401"}}});
  auto embedder = Embedder(Options());
  auto vectors = embedder->Embed(Texts(1));
  EXPECT_EQ(vectors.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(vectors.status().message().find("OPENAI_API_KEY"), absl::string_view::npos);
  EXPECT_EQ(embedder->requests_sent(), 1);
}

TEST_F(OpenAiClientTest, SummarizesEachInputAndFailsOnlyTheBadOne) {
  auto summarizer = OpenAiSummarizer::Create(Options());
  ASSERT_TRUE(summarizer.ok());
  fake_.Control({{"chat_faults", {"none", "malformed"}}});
  auto out = (*summarizer)->Summarize("Summarize this cohort.", {"Name: A", "Name: B", "Name: C"});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  // Requests run concurrently, so which input met the malformed answer varies; exactly one did.
  int failed = 0;
  const char* names[] = {"A", "B", "C"};
  for (int i = 0; i < 3; ++i) {
    if ((*out)[i].ok()) {
      EXPECT_EQ(*(*out)[i], std::string("Summary: Name: ") + names[i]);
    } else {
      EXPECT_EQ((*out)[i].status().code(), absl::StatusCode::kDataLoss);
      ++failed;
    }
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(fake_.Stats()["system_prompt"], "Summarize this cohort.")
      << "the domain's prompt is the system message";
}

TEST_F(OpenAiClientTest, TheVersionNamesTheModelAndChangesWithThePrompt) {
  auto summarizer = OpenAiSummarizer::Create(Options());
  ASSERT_TRUE(summarizer.ok());
  const std::string action = (*summarizer)->version("Summarize this action.");
  EXPECT_NE(action.find(Options().chat_model), std::string::npos) << action;
  EXPECT_NE(action, (*summarizer)->version("Summarize this cohort."));
  EXPECT_EQ(action, (*summarizer)->version("Summarize this action."));
}

TEST_F(OpenAiClientTest, ConcurrentSummariesShareTheRequestCap) {
  OpenAiOptions o = Options();
  o.max_concurrent_requests = 4;
  auto summarizer = OpenAiSummarizer::Create(o);
  ASSERT_TRUE(summarizer.ok());
  fake_.Control({{"latency_ms", 100}});
  std::vector<std::string> inputs(8, "Name: X");
  const absl::Time start = absl::Now();
  auto out = (*summarizer)->Summarize("Summarize.", inputs);
  ASSERT_TRUE(out.ok());
  // 8 calls of 100 ms, 4 at a time: about 200 ms, far from the 800 ms of one at a time.
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Milliseconds(600));
}

TEST(RateLimiterTest, SpacesRequestsOnceTheBurstIsSpent) {
  RateLimiter limiter(600, 0);  // one request per 100 ms after the first minute's burst
  for (int i = 0; i < 600; ++i) limiter.Acquire(1);  // spend the burst
  const absl::Time start = absl::Now();
  for (int i = 0; i < 5; ++i) limiter.Acquire(1);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(400));
}

TEST(OpenAiOptionsTest, ValidateNamesTheField) {
  OpenAiOptions o;
  o.base_url = "api.openai.com";
  EXPECT_NE(o.Validate().message().find("OPENAI_BASE_URL"), absl::string_view::npos);
  o = OpenAiOptions{};
  o.max_inputs_per_request = 5000;
  EXPECT_NE(o.Validate().message().find("max_inputs_per_request"), absl::string_view::npos);
}

}  // namespace
}  // namespace vecsync::clients
