// The fixture of the sync-entity-vectors suites (tests/sync/*_test.cc): seeded PostHog-shaped
// tables in the real PostgreSQL, the workflow on a real worker, vectors in the real ClickHouse,
// and providers that count what reaches them and fail on demand.
#ifndef VECSYNC_TESTS_SYNC_SYNC_FIXTURE_H_
#define VECSYNC_TESTS_SYNC_SYNC_FIXTURE_H_

#include <atomic>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "entities/action.h"
#include "entities/registry.h"
#include "entities/sample_data.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/summarizer.h"
#include "src/common/mutex.h"
#include "tests/engine_fixture.h"
#include "workflows/sync/sync_entity_vectors.h"
#include "workflows/sync/sync_migrations.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::workflows {

using engine::ExecutionInfo;
using engine::WorkflowStatus;

// Counts what reaches the provider; fails entities whose input contains `fail_marker`.
class CountingSummarizer : public clients::Summarizer {
 public:
  // As a chat model's, the version names the prompt when `reads_prompt` is set.
  std::string version(absl::string_view prompt) const override {
    return absl::StrCat(reads_prompt ? absl::StrCat("counting:", prompt) : inner_.version(prompt),
                        model_suffix());
  }
  bool local() const override { return is_local; }
  absl::StatusOr<std::vector<absl::StatusOr<std::string>>> Summarize(
      absl::string_view prompt, const std::vector<std::string>& inputs) override {
    items += static_cast<int>(inputs.size());
    {
      MutexLock lock(&mu_);
      last_prompt_ = std::string(prompt);
    }
    absl::SleepFor(delay);
    // Items are paid for one by one; once, the provider goes away after `fail_once_after`.
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (paid == fail_once_after && !failed.exchange(true)) {
        return absl::UnavailableError("the provider went away");
      }
      ++paid;
    }
    auto out = inner_.Summarize(prompt, inputs);
    const std::string suffix = model_suffix();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!suffix.empty() && (*out)[i].ok()) (*out)[i] = absl::StrCat(*(*out)[i], " ", suffix);
      if (!fail_marker.empty() && inputs[i].find(fail_marker) != std::string::npos) {
        (*out)[i] = absl::InternalError("the model refused");
      }
    }
    return out;
  }
  std::atomic<int> items{0};
  std::atomic<int> paid{0};
  absl::Duration delay;  // Each call takes this long (set before a run starts).
  int fail_once_after = -1;
  std::atomic<bool> failed{false};
  std::string fail_marker;
  bool is_local = false;  // Runs in-process, like the template summarizer, or is a provider.
  bool reads_prompt = false;
  std::string last_prompt() {
    MutexLock lock(&mu_);
    return last_prompt_;
  }
  // Stands for another model: it is part of the version, and of every summary.
  void set_model_suffix(std::string suffix) {
    MutexLock lock(&mu_);
    model_suffix_ = std::move(suffix);
  }
  std::string model_suffix() const {
    MutexLock lock(&mu_);
    return model_suffix_;
  }

 private:
  clients::TemplateSummarizer inner_;
  mutable Mutex mu_;
  std::string last_prompt_ ABSL_GUARDED_BY(mu_);
  std::string model_suffix_ ABSL_GUARDED_BY(mu_);
};

// The action domain under another name, with a scope, a prompt and an embedded text of the
// test's choosing: what a domain's EntityConfig decides, decided by a test.
class TestActionConfig : public entities::EntityConfig {
 public:
  TestActionConfig(std::string name, entities::SourceScope scope, std::string prompt,
                   std::string embedding_prefix = "")
      : name_(std::move(name)),
        scope_(std::move(scope)),
        prompt_(std::move(prompt)),
        embedding_prefix_(std::move(embedding_prefix)) {}
  std::string domain() const override { return name_; }
  std::string table() const override { return action_->table(); }
  entities::SourceScope scope() const override { return scope_; }
  std::string fields_sql() const override { return action_->fields_sql(); }
  std::string summary_prompt() const override { return prompt_; }
  std::string Render(const entities::EntityRecord& e) const override { return action_->Render(e); }
  std::string EmbeddingText(const entities::EntityRecord& e,
                            absl::string_view summary) const override {
    return embedding_prefix_.empty() ? std::string(summary)
                                     : absl::StrCat(embedding_prefix_, summary);
  }
  Json Properties(const entities::EntityRecord& e) const override { return action_->Properties(e); }

 private:
  const std::unique_ptr<entities::EntityConfig> action_ = entities::NewActionConfig();
  const std::string name_;
  const entities::SourceScope scope_;
  const std::string prompt_;
  const std::string embedding_prefix_;
};

class CountingEmbedder : public clients::Embedder {
 public:
  explicit CountingEmbedder(int dimensions = 64)
      : inner_(std::move(clients::HashingEmbedder::Create(dimensions).value())) {}
  std::string model() const override { return inner_->model(); }
  int dimensions() const override { return inner_->dimensions(); }
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    const int now = ++in_flight;
    for (int seen = max_in_flight; now > seen && !max_in_flight.compare_exchange_weak(seen, now);) {
    }
    if (!slow_odd_calls || ++calls % 2 == 1) absl::SleepFor(delay);
    --in_flight;
    if (unavailable_once.exchange(false) || ++requests == unavailable_at_request) {
      return absl::UnavailableError("embeddings are down");
    }
    if (refuse_key) return absl::UnauthenticatedError("invalid api key");
    for (const std::string& text : texts) {
      if (!fail_marker.empty() && text.find(fail_marker) != std::string::npos) {
        return absl::InvalidArgumentError("the input was rejected");
      }
    }
    items += static_cast<int>(texts.size());
    return inner_->Embed(texts);
  }
  std::atomic<int> items{0};  // Embedded and paid for.
  std::atomic<int> in_flight{0}, max_in_flight{0};
  absl::Duration delay;         // Each request takes this long,
  bool slow_odd_calls = false;  // or, when set, the 1st, 3rd, 5th… take it.
  std::atomic<int> calls{0};
  std::atomic<bool> unavailable_once{false};  // The next request finds the provider down.
  std::atomic<bool> refuse_key{false};        // Every request is refused: a bad key.
  std::atomic<int> requests{0};
  int unavailable_at_request = 0;  // The request with this number (from 1) finds it down.
  std::string fail_marker;         // A request with a text containing it is rejected.

 private:
  std::unique_ptr<clients::HashingEmbedder> inner_;
};

class SyncTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    const char* ch_url = std::getenv("VECSYNC_CLICKHOUSE_URL");
    ASSERT_NE(ch_url, nullptr) << "VECSYNC_CLICKHOUSE_URL is not set: run through scripts/test";
    auto ch = clients::ClickHouseClient::Create(ch_url);
    ASSERT_TRUE(ch.ok());
    clickhouse_ = std::move(*ch);
    table_ = "pg_embeddings_test_" + std::to_string(getpid());
    ASSERT_TRUE(clickhouse_->Execute("DROP TABLE IF EXISTS " + table_).ok());
    auto conn = pool_->Acquire();
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(engine::Migrate(**conn, SyncMigrations()).ok());
    ASSERT_TRUE(entities::DropSourceTables(**conn).ok());
    entities::SeedOptions seed;
    seed.teams = 10;  // Organization 5 (teams 9 and 10) has not approved AI processing.
    seed.actions = 300;
    seed.cohorts = 60;
    seed.event_definitions = 80;
    ASSERT_TRUE(entities::SeedSourceTables(**conn, seed).ok());
    vectors_ = std::make_unique<VectorTable>(clickhouse_.get(), table_);
    env_.pool = pool_.get();
    env_.domains = &domains_;
    env_.vectors = vectors_.get();
    env_.summarizer = &summarizer_;
    env_.embedder = &embedder_;
    ASSERT_TRUE(RegisterSyncEntityVectors(registry_.get(), &env_).ok());
    worker_ = StartWorker();
  }
  void TearDown() override {
    worker_.reset();
    (void)clickhouse_->Execute("DROP TABLE IF EXISTS " + table_);
  }

  ExecutionInfo RunSync(Json input) {
    return WaitClosed(Start(kSyncEntityVectorsWorkflow, std::move(input)), absl::Seconds(120));
  }

  Json Sync(Json input) {
    ExecutionInfo e = RunSync(std::move(input));
    EXPECT_EQ(e.status, WorkflowStatus::kCompleted) << e.failure.dump();
    return e.result;
  }

  // A sync of every action that the embedder refuses (a bad key): it fails, leaving every
  // entity queued. The key works again afterwards.
  ExecutionInfo SyncWithARefusedKey() {
    embedder_.refuse_key = true;
    ExecutionInfo e = RunSync({{"domain", "action"}});
    embedder_.refuse_key = false;
    EXPECT_EQ(e.status, WorkflowStatus::kFailed);
    return e;
  }

  // (team_id, id) pairs in ClickHouse after replacement, with is_deleted = `deleted`.
  std::set<std::string> ClickHouseKeys(const std::string& domain, int deleted) {
    auto body = clickhouse_->Query("SELECT team_id, id FROM " + table_ + " FINAL WHERE domain = '" +
                                   domain + "' AND is_deleted = " + std::to_string(deleted));
    EXPECT_TRUE(body.ok()) << body.status();
    std::set<std::string> keys;
    for (absl::string_view line : absl::StrSplit(*body, '\n', absl::SkipEmpty())) {
      keys.insert(std::string(line));
    }
    return keys;
  }

  // How many `scheduled` activities of the run were scheduled while an `open` one was open
  // (scheduled, not yet completed); with `after`, counting only `open` ones scheduled after the
  // last `after` activity completed.
  int64_t ScheduledWhileOpen(const std::string& run_id, const std::string& open,
                             const std::string& scheduled, const std::string& after = "") {
    return QueryInt(
        "WITH h AS (SELECT event_id, seq, event_type, attributes->>'activity_type' AS name "
        "  FROM vecsync.history WHERE run_id = '" +
        run_id +
        "'), "
        "last AS (SELECT COALESCE(max(c.event_id), 0) AS event_id FROM h c "
        "  JOIN h a ON a.seq = c.seq AND a.event_type = 'ActivityTaskScheduled' "
        "  WHERE c.event_type = 'ActivityTaskCompleted' AND a.name = '" +
        after +
        "') "
        "SELECT count(*) FROM last, h o "
        "JOIN h done ON done.seq = o.seq AND done.event_type = 'ActivityTaskCompleted' "
        "JOIN h s ON s.name = '" +
        scheduled +
        "' AND s.event_type = 'ActivityTaskScheduled' "
        "  AND s.event_id > o.event_id AND s.event_id < done.event_id "
        "WHERE o.name = '" +
        open + "' AND o.event_type = 'ActivityTaskScheduled' AND o.event_id > last.event_id");
  }

  // Live (not deleted) entities of approved organizations, as "team_id\tid".
  std::set<std::string> LiveKeys(const std::string& table, const std::string& deleted_sql) {
    auto conn = pool_->Acquire();
    auto r = (*conn)->Query("SELECT s.team_id, s.id::text FROM " + table +
                            " s JOIN posthog_team t ON t.id = s.team_id "
                            "JOIN posthog_organization o ON o.id = t.organization_id "
                            "WHERE o.is_ai_data_processing_approved AND NOT (" +
                            deleted_sql + ")");
    EXPECT_TRUE(r.ok()) << r.status();
    std::set<std::string> keys;
    for (int i = 0; i < r->rows(); ++i) keys.insert(r->GetString(i, 0) + "\t" + r->GetString(i, 1));
    return keys;
  }

  std::unique_ptr<clients::ClickHouseClient> clickhouse_;
  std::string table_;
  std::unique_ptr<VectorTable> vectors_;
  // Tests may register domains of their own before they start a run.
  entities::EntityConfigRegistry domains_ = entities::EntityConfigRegistry::BuiltIn();
  CountingSummarizer summarizer_;
  CountingEmbedder embedder_;
  SyncEnvironment env_;
  std::unique_ptr<engine::Worker> worker_;
};

// Calls an activity directly, as the attempt `info` describes.
class DirectActivityContext : public engine::ActivityContext {
 public:
  explicit DirectActivityContext(engine::ActivityInfo info) : info_(std::move(info)) {}
  const engine::ActivityInfo& info() const override { return info_; }
  absl::Status Heartbeat(const Json&) override { return absl::OkStatus(); }
  bool IsCancelRequested() const override { return false; }

 private:
  engine::ActivityInfo info_;
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_TESTS_SYNC_SYNC_FIXTURE_H_
