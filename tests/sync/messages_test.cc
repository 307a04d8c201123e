// The sync's typed activity messages: one parse and one serialize each, errors that name the
// field, and the shapes older vecsyncs recorded still read.
#include <gtest/gtest.h>

#include "src/common/json_fields.h"
#include "src/engine/errors.h"
#include "src/engine/typed_activity.h"
#include "workflows/sync/flush.h"
#include "workflows/sync/process.h"
#include "workflows/sync/selection.h"
#include "workflows/sync/sync_input.h"
#include "workflows/sync/sync_position.h"
#include "workflows/sync/watermark.h"

namespace vecsync::workflows {
namespace {

TEST(JsonFieldsTest, NamesTheFieldThatIsMissingOrOfTheWrongType) {
  struct In {
    std::string name;
    int count = 7;
  } in;
  const Json missing_json = Json{{"count", 3}};
  JsonFields missing(missing_json, "thing input");
  missing.Required("name", &in.name);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "thing input: name is required");

  const Json wrong_json = Json{{"name", "x"}, {"count", "three"}};
  JsonFields wrong(wrong_json, "thing input");
  wrong.Required("name", &in.name);
  wrong.Optional("count", &in.count);
  EXPECT_EQ(wrong.status().message(), "thing input: count must be a 32-bit integer, got \"three\"");

  const Json absent_json = Json{{"name", "x"}};
  JsonFields absent(absent_json, "thing input");
  in.count = 7;
  absent.Optional("count", &in.count);
  EXPECT_TRUE(absent.status().ok());
  EXPECT_EQ(in.count, 7) << "an absent optional field keeps the member's default";

  const Json too_big_json = Json{{"count", int64_t{1} << 40}};
  JsonFields too_big(too_big_json, "thing input");
  too_big.Optional("count", &in.count);
  EXPECT_FALSE(too_big.status().ok());

  const Json unknown_json = Json{{"name", "x"}, {"colour", 1}};
  JsonFields unknown(unknown_json, "thing input");
  unknown.RejectUnknown({"name", "count"});
  EXPECT_EQ(unknown.status().message(), "unknown thing input field 'colour' (known: name, count)");

  const Json not_object_json = Json::array();
  JsonFields not_object(not_object_json, "thing input");
  EXPECT_FALSE(not_object.status().ok());
}

TEST(SyncMessagesTest, EachMessageReadsBackWhatItWrites) {
  SelectInput select;
  select.domain = "cohort";
  select.phase = SelectPhase::kChanged;
  select.cursor = {1700000000000000, {3, "42"}};
  select.limit = 500;
  select.snapshot_us = 1800000000000000;
  select.watermark_us = 1600000000000000;
  select.filter = {{2, 3}, {"7"}};
  EXPECT_EQ(SelectInput::FromJson(select.ToJson()).value().ToJson(), select.ToJson());

  SelectResult page{{{2, "a"}, {3, "b"}}, {0, {3, "b"}}, true};
  EXPECT_EQ(SelectResult::FromJson(page.ToJson()).value().ToJson(), page.ToJson());

  ProcessInput process{"action", {{1, "9"}}, 2, false, 100};
  EXPECT_EQ(ProcessInput::FromJson(process.ToJson()).value().ToJson(), process.ToJson());
  ProcessResult processed{10, 4, 1, 3, 1, 1, 6, /*prompt_tokens=*/700, /*completion_tokens=*/90};
  EXPECT_EQ(ProcessResult::FromJson(processed.ToJson()).value().ToJson(), processed.ToJson());

  FlushInput flush;
  flush.domain = "action";
  flush.max_batches = 1;
  flush.take_carried_over = true;
  flush.datetime64 = true;
  EXPECT_EQ(FlushInput::FromJson(flush.ToJson()).value().ToJson(), flush.ToJson());
  FlushResult flushed{50, 40, 1, 9, 2, /*embedding_tokens=*/1234, /*more=*/true};
  EXPECT_EQ(FlushResult::FromJson(flushed.ToJson()).value().ToJson(), flushed.ToJson());

  PrepareResult prepared;
  prepared.watermark_us = 1700000000000000;
  prepared.snapshot_us = 1700000000500000;
  prepared.changes_upto = 12;
  prepared.changed_teams = {3, 7};
  prepared.datetime64 = true;
  prepared.summarizer_local = true;
  EXPECT_EQ(PrepareResult::FromJson(prepared.ToJson()).value().ToJson(), prepared.ToJson());
  PrepareResult held;
  held.held_by = "5b1c6d1e-0000-4000-8000-000000000001";
  EXPECT_EQ(PrepareResult::FromJson(held.ToJson()).value().held_by, held.held_by);

  SyncPosition position;
  position.phase = SelectPhase::kHardDeleted;
  position.cursor = {0, {4, "x"}};
  position.counters.selected = 12;
  position.counters.carried_over = 3;
  position.snapshot_us = 5;
  position.summarize_batch_size = 1000;
  position.max_flushes = 2;
  position.pending = 17;
  EXPECT_EQ(SyncPosition::FromJson(position.ToJson()).value().ToJson(), position.ToJson());
}

TEST(SyncMessagesTest, ABadFieldIsInvalidArgumentNamingIt) {
  auto flush = FlushInput::FromJson({{"domain", "action"}, {"insert_batch_size", "many"}});
  EXPECT_EQ(flush.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(flush.status().message().find("insert_batch_size"), absl::string_view::npos);
  auto select = SelectInput::FromJson({{"domain", "action"},
                                       {"phase", "sideways"},
                                       {"limit", 10},
                                       {"snapshot_us", 1},
                                       {"watermark_us", -1}});
  EXPECT_EQ(select.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(select.status().message().find("sideways"), absl::string_view::npos);
  auto process =
      ProcessInput::FromJson({{"domain", "action"}, {"keys", {{1, 2}}}, {"embedding_version", 1}});
  EXPECT_NE(process.status().message().find("keys"), absl::string_view::npos) << process.status();
}

TEST(SyncMessagesTest, ResultsAndCheckpointsOfOlderVecsyncsStillRead) {
  // A sync-process that embedded its rows itself reported no "queued".
  auto old_process = ProcessResult::FromJson(
      {{"selected", 5}, {"summarized", 5}, {"embedded", 3}, {"refreshed", 1}, {"tombstoned", 1}});
  ASSERT_TRUE(old_process.ok()) << old_process.status();
  EXPECT_EQ(old_process->queued, 5);
  SyncCounts counts;
  counts.Add(*old_process);
  EXPECT_EQ(counts.embedded, 3);
  // A flush result from before "more".
  auto old_flush = FlushResult::FromJson({{"inserted", 10}, {"embedded", 10}});
  ASSERT_TRUE(old_flush.ok());
  EXPECT_FALSE(old_flush->more.has_value());
  // A checkpoint from before local batches and parallel flushes.
  auto old_position = SyncPosition::FromJson({{"phase", "changed"},
                                              {"cursor", Json::object()},
                                              {"counters", {{"selected", 4}}},
                                              {"snapshot_us", 9},
                                              {"watermark_us", -1},
                                              {"datetime64", false}});
  ASSERT_TRUE(old_position.ok()) << old_position.status();
  EXPECT_EQ(old_position->counters.selected, 4);
  EXPECT_EQ(old_position->counters.carried_over, 0);
  EXPECT_FALSE(old_position->summarize_batch_size.has_value());
  EXPECT_FALSE(old_position->max_flushes.has_value());
  // A flush input an older vecsync scheduled, without the embedding settings.
  auto old_input = FlushInput::FromJson({{"domain", "action"}, {"insert_batch_size", 100}});
  ASSERT_TRUE(old_input.ok());
  EXPECT_EQ(old_input->embed_batch_size, FlushInput().embed_batch_size);
}

class NoContext : public engine::ActivityContext {
 public:
  const engine::ActivityInfo& info() const override { return info_; }
  absl::Status Heartbeat(const Json&) override { return absl::OkStatus(); }
  bool IsCancelRequested() const override { return false; }

 private:
  engine::ActivityInfo info_;
};

TEST(TypedActivityTest, AnInputThatDoesNotParseFailsTheAttemptForGoodAndNeverRuns) {
  engine::Registry registry;
  int ran = 0;
  ASSERT_TRUE(
      engine::RegisterActivity(
          &registry, kFinishActivity,
          [&](engine::ActivityContext&, const FinishInput& in) -> absl::StatusOr<engine::NoResult> {
            ++ran;
            EXPECT_EQ(in.snapshot_us, 12);
            return engine::NoResult{};
          })
          .ok());
  const engine::ActivityFunction* fn = registry.FindActivity("sync-finish");
  ASSERT_NE(fn, nullptr);
  NoContext ctx;
  absl::StatusOr<Json> bad = (*fn)(ctx, {{"domain", "action"}, {"snapshot_us", 12}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine::ErrorType(bad.status()), engine::kBadInputErrorType);
  EXPECT_TRUE(engine::IsNonRetryable(bad.status()));
  EXPECT_NE(bad.status().message().find("embedding_version"), absl::string_view::npos)
      << bad.status();
  EXPECT_EQ(ran, 0);
  absl::StatusOr<Json> good = (*fn)(ctx, FinishInput{"action", 1, 12}.ToJson());
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(*good, Json::object());
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace vecsync::workflows
