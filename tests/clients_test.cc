// The offline providers, and the ClickHouse client against the real ClickHouse.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <future>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "src/clients/clickhouse_client.h"
#include "src/clients/embedder.h"
#include "src/clients/summarizer.h"
#include "tests/test_env.h"

namespace vecsync::clients {
namespace {

// The little-endian float32 bytes of `values`, as vectors travel.
std::string FloatBytes(std::initializer_list<float> values) {
  return std::string(reinterpret_cast<const char*>(values.begin()), values.size() * sizeof(float));
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += static_cast<double>(a[i]) * b[i];
  return d;
}

TEST(HashingEmbedderTest, UnitVectorsDeterministicAndSimilarForSimilarText) {
  auto e = HashingEmbedder::Create(256);
  ASSERT_TRUE(e.ok());
  auto v = (*e)->Embed({"Clicked the upgrade button on pricing", "clicked the UPGRADE button",
                        "Exported a CSV report", ""});
  ASSERT_TRUE(v.ok());
  for (const auto& x : *v) {
    ASSERT_EQ(x.size(), 256u);
    EXPECT_NEAR(Dot(x, x), 1.0, 1e-5);
  }
  EXPECT_EQ((*v)[0], (*e)->EmbedOne("Clicked the upgrade button on pricing"));
  EXPECT_GT(Dot((*v)[0], (*v)[1]), Dot((*v)[0], (*v)[2]) + 0.3);
  EXPECT_EQ(HashingEmbedder::Create(0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TemplateSummarizerTest, JoinsLinesIntoSentencesAndFlagsEmptyInput) {
  TemplateSummarizer s;
  auto out = s.Summarize("any prompt", {"Name: A\nDescription: does things\n", "  \n"});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)[0].ok());
  EXPECT_EQ(*(*out)[0], "Name: A. Description: does things.");
  EXPECT_EQ((*out)[1].status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RowBinaryWriterTest, EncodesLengthsAsLeb128) {
  RowBinaryWriter w;
  w.String(std::string(300, 'x'));
  ASSERT_EQ(w.size(), 302u);
  EXPECT_EQ(static_cast<unsigned char>(w.data()[0]), 0xAC);  // 300 = 0b10'0101100
  EXPECT_EQ(static_cast<unsigned char>(w.data()[1]), 0x02);
}

TEST(ClickHouseClientTest, InsertsRowBinaryAndReadsItBack) {
  const char* url = std::getenv("VECSYNC_CLICKHOUSE_URL");
  ASSERT_NE(url, nullptr) << "VECSYNC_CLICKHOUSE_URL is not set: run through scripts/test";
  auto ch = ClickHouseClient::Create(url);
  ASSERT_TRUE(ch.ok()) << ch.status();
  auto version = (*ch)->Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_GE(version->major, 18);
  ASSERT_TRUE((*ch)->Execute("DROP TABLE IF EXISTS vecsync_clients_test").ok());
  ASSERT_TRUE((*ch)
                  ->Execute("CREATE TABLE vecsync_clients_test (id String, n Int64, "
                            "v Array(Float32), flag UInt8) ENGINE = MergeTree ORDER BY id")
                  .ok());
  RowBinaryWriter rows;
  for (int i = 0; i < 1000; ++i) {
    rows.String("id-" + std::to_string(i));
    rows.Int64(-i);
    rows.Float32Array(FloatBytes({0.5f, static_cast<float>(i)}));
    rows.UInt8(i % 2);
  }
  ASSERT_TRUE((*ch)->InsertRowBinary("vecsync_clients_test (id, n, v, flag)", rows.data()).ok());
  auto sum = (*ch)->Query("SELECT count(), sum(n), sum(v[2]), sum(flag) FROM vecsync_clients_test");
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, "1000\t-499500\t499500\t500\n");
  // And back, as ClickHouse encodes it.
  auto body = (*ch)->Query(
      "SELECT n, id, v, flag FROM vecsync_clients_test ORDER BY n DESC LIMIT 2 FORMAT RowBinary");
  ASSERT_TRUE(body.ok()) << body.status();
  RowBinaryReader reader(*body);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(reader.Int64().value(), -i);
    EXPECT_EQ(reader.String().value(), "id-" + std::to_string(i));
    EXPECT_EQ(reader.Float32Array().value(), FloatBytes({0.5f, static_cast<float>(i)}));
    EXPECT_EQ(reader.UInt8().value(), i % 2);
  }
  EXPECT_TRUE(reader.done());
  auto bad = (*ch)->Query("SELECT nonsense FROM nowhere");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ClickHouseClient::Create("localhost:8123").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*ch)->Execute("DROP TABLE vecsync_clients_test").ok());
}

std::unique_ptr<ClickHouseClient> ConnectClickHouse() {
  const char* url = std::getenv("VECSYNC_CLICKHOUSE_URL");
  EXPECT_NE(url, nullptr) << "VECSYNC_CLICKHOUSE_URL is not set: run through scripts/test";
  auto ch = ClickHouseClient::Create(url == nullptr ? "" : url);
  EXPECT_TRUE(ch.ok()) << ch.status();
  return ch.ok() ? std::move(*ch) : nullptr;
}

// How many queries ClickHouse is running whose text contains `marker` (this one aside).
int64_t Running(ClickHouseClient& ch, const std::string& marker) {
  auto n = ch.Query("SELECT count() FROM system.processes WHERE query LIKE '%" + marker +
                    "%' AND query NOT LIKE '%system.processes%'");
  int64_t count = -1;
  if (!n.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*n), &count)) return -1;
  return count;
}

// A table whose every insert takes a second: a view behind it sleeps once per block.
std::string SlowInsertTable(ClickHouseClient& ch) {
  const std::string table = absl::StrCat("slow_inserts_", getpid());
  EXPECT_TRUE(ch.Execute("DROP TABLE IF EXISTS " + table + "_view").ok());
  EXPECT_TRUE(ch.Execute("DROP TABLE IF EXISTS " + table).ok());
  EXPECT_TRUE(
      ch.Execute("CREATE TABLE " + table + " (x UInt64) ENGINE = MergeTree ORDER BY x").ok());
  EXPECT_TRUE(ch.Execute("CREATE MATERIALIZED VIEW " + table +
                         "_view ENGINE = Null AS SELECT sleep(1) AS s FROM " + table)
                  .ok());
  return table;
}

void DropSlowInsertTable(ClickHouseClient& ch, const std::string& table) {
  (void)ch.Execute("DROP TABLE IF EXISTS " + table + "_view");
  (void)ch.Execute("DROP TABLE IF EXISTS " + table);
}

absl::Status InsertOne(ClickHouseClient& ch, const std::string& table, uint64_t x) {
  RowBinaryWriter rows;
  rows.UInt64(x);
  return ch.InsertRowBinary(table + " (x)", rows.data());
}

TEST(ClickHouseClientTest, AQueryIsAnsweredWhileAnInsertOfTheSameClientRuns) {
  auto ch = ConnectClickHouse();
  auto watcher = ConnectClickHouse();  // Looks apart from the client under test.
  ASSERT_TRUE(ch != nullptr && watcher != nullptr);
  const std::string table = SlowInsertTable(*ch);
  auto insert = std::async(std::launch::async, [&] { return InsertOne(*ch, table, 1); });
  ASSERT_TRUE(testing::WaitUntil([&] { return Running(*watcher, "INSERT INTO " + table) == 1; },
                                 absl::Seconds(5)));
  // A client with one connection would answer only once the insert is done.
  EXPECT_TRUE(ch->Query("SELECT count() FROM system.one").ok());
  EXPECT_NE(insert.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
      << "the query waited for the insert";
  EXPECT_TRUE(insert.get().ok());
  EXPECT_GE(ch->connections_opened(), 2u);
  DropSlowInsertTable(*ch, table);
}

TEST(ClickHouseClientTest, TwoInsertsOfOneClientRunAtOnce) {
  auto ch = ConnectClickHouse();
  ASSERT_NE(ch, nullptr);
  const std::string table = SlowInsertTable(*ch);
  auto watcher = ConnectClickHouse();  // Counts apart from the client under test.
  std::atomic<bool> done{false};
  int64_t most = 0;
  std::thread watch([&] {
    while (!done) {
      most = std::max(most, Running(*watcher, "INSERT INTO " + table));
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  auto first = std::async(std::launch::async, [&] { return InsertOne(*ch, table, 1); });
  auto second = std::async(std::launch::async, [&] { return InsertOne(*ch, table, 2); });
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  done = true;
  watch.join();
  EXPECT_EQ(most, 2) << "the inserts ran one after the other";
  EXPECT_EQ(ch->Query("SELECT count() FROM " + table).value(), "2\n");
  DropSlowInsertTable(*ch, table);
}

TEST(ClickHouseClientTest, AnInsertWrittenInChunksIsStoredWholeAndAnAbortedOneNotAtAll) {
  auto ch = ConnectClickHouse();
  ASSERT_NE(ch, nullptr);
  const std::string table = absl::StrCat("streamed_inserts_", getpid());
  ASSERT_TRUE(ch->Execute("DROP TABLE IF EXISTS " + table).ok());
  ASSERT_TRUE(
      ch->Execute("CREATE TABLE " + table + " (x UInt64, s String) ENGINE = MergeTree ORDER BY x")
          .ok());
  auto rows = [](uint64_t first, uint64_t n) {
    RowBinaryWriter w;
    for (uint64_t x = first; x < first + n; ++x) {
      w.UInt64(x);
      w.String(std::string(100, 'a'));
    }
    return w.Release();
  };
  auto count = [&] { return ch->Query("SELECT count() FROM " + table).value(); };
  {
    auto insert = ch->StartInsert(table + " (x, s)");
    ASSERT_TRUE(insert.ok()) << insert.status();
    for (uint64_t chunk = 0; chunk < 20; ++chunk) {
      ASSERT_TRUE((*insert)->Write(rows(chunk * 1000, 1000)).ok());
    }
    ASSERT_TRUE((*insert)->Finish().ok());
  }
  EXPECT_EQ(count(), "20000\n");
  {
    // Written, then abandoned before it is finished (a flush whose embedder failed midway).
    auto insert = ch->StartInsert(table + " (x, s)");
    ASSERT_TRUE(insert.ok());
    ASSERT_TRUE((*insert)->Write(rows(100000, 1000)).ok());
  }
  EXPECT_EQ(count(), "20000\n") << "an aborted insert stored rows";
  // An insert ClickHouse refuses says so, from Write or Finish.
  auto refused = ch->StartInsert(table + "_missing (x, s)");
  ASSERT_TRUE(refused.ok());
  absl::Status s = (*refused)->Write(rows(0, 10));
  if (s.ok()) s = (*refused)->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(ch->Query("SELECT 1").ok()) << "the client works after a refused insert";
  (void)ch->Execute("DROP TABLE IF EXISTS " + table);
}

TEST(RowBinaryReaderTest, ATruncatedOrOverlongBodyIsDataLossNeverAnOverread) {
  RowBinaryWriter rows;
  rows.String("hello");
  rows.Float32Array(FloatBytes({1.0f, 2.0f, 3.0f}));
  const std::string whole = rows.data();
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    RowBinaryReader reader(absl::string_view(whole).substr(0, cut));
    absl::Status s = reader.String().status();
    if (s.ok()) s = reader.Float32Array().status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "cut at " << cut;
  }
  // A length prefix that claims more than the body holds, and one that never ends.
  EXPECT_EQ(RowBinaryReader("\xff\xff\x03").Float32Array().status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(RowBinaryReader(std::string(11, '\x80')).String().status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vecsync::clients
