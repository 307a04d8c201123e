// The libpq layer against the real PostgreSQL: parameters and results in both formats.
#include "src/common/pg.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "tests/test_env.h"

namespace vecsync {
namespace {

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = PgConnection::Connect(testing::TestDatabaseUrl());
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
  }
  std::unique_ptr<PgConnection> conn_;
};

TEST_F(PgTest, ByteaArrayCarriesEveryByteUnchanged) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::vector<std::string> elements = {all_bytes, "", std::string("\0\0\\x\"{},", 8),
                                             std::string(70000, '\xff')};
  PgBinaryArray array = PgBinaryArray::Bytea();
  for (const std::string& e : elements) array.Add(e);
  auto r = conn_->Query(
      "SELECT ordinality, length(e), md5(e) FROM unnest($1::bytea[]) WITH ORDINALITY AS e "
      "ORDER BY ordinality",
      std::move(array).Build());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r->GetInt64(i, 1), static_cast<int64_t>(elements[i].size())) << i;
    auto md5 = conn_->Query("SELECT md5(decode($1, 'hex'))", absl::BytesToHexString(elements[i]));
    ASSERT_TRUE(md5.ok()) << md5.status();
    EXPECT_EQ(r->Get(i, 2), md5->Get(0, 0)) << i;
  }
}

TEST_F(PgTest, EmptyByteaArrayIsAnEmptyArray) {
  auto r = conn_->Query("SELECT cardinality($1::bytea[])", PgBinaryArray::Bytea().Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->GetInt64(0, 0), 0);
}

TEST_F(PgTest, BinaryArraysCarryTextNullsAndBigintsUnchanged) {
  PgBinaryArray texts = PgBinaryArray::Text();
  PgBinaryArray numbers = PgBinaryArray::Int64();
  const std::vector<std::optional<std::string>> text_elements = {
      "plain", std::nullopt, "NULL", "quo\"te\\back {,}", "", "héllo ✓"};
  const std::vector<int64_t> number_elements = {0, -1, 1, INT64_MIN, INT64_MAX, 1LL << 40};
  for (size_t i = 0; i < text_elements.size(); ++i) {
    if (text_elements[i]) {
      texts.Add(*text_elements[i]);
    } else {
      texts.AddNull();
    }
    numbers.Add(number_elements[i]);
  }
  auto r = conn_->Query(
      "SELECT t IS NULL, coalesce(t, ''), n::text FROM unnest($1::text[], $2::bigint[]) "
      "WITH ORDINALITY AS u(t, n, i) ORDER BY i",
      std::move(texts).Build(), std::move(numbers).Build());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), static_cast<int>(text_elements.size()));
  for (int i = 0; i < r->rows(); ++i) {
    EXPECT_EQ(r->GetBool(i, 0), !text_elements[i].has_value()) << i;
    EXPECT_EQ(r->GetString(i, 1), text_elements[i].value_or("")) << i;
    EXPECT_EQ(r->GetString(i, 2), std::to_string(number_elements[i])) << i;
  }
  auto empty = conn_->Query("SELECT cardinality($1::text[]), cardinality($2::bigint[])",
                            PgBinaryArray::Text().Build(), PgBinaryArray::Int64().Build());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->GetInt64(0, 0), 0);
  EXPECT_EQ(empty->GetInt64(0, 1), 0);
}

TEST_F(PgTest, ArrayLiteralsQuoteElementsAndCarryNulls) {
  const std::vector<std::optional<std::string>> elements = {"plain", std::nullopt, "NULL",
                                                            "quo\"te\\back", ""};
  auto r = conn_->Query(
      "SELECT e IS NULL, coalesce(e, '') FROM unnest($1::text[]) WITH ORDINALITY AS u(e, n) "
      "ORDER BY n",
      PgArrayLiteral(elements));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r->GetBool(i, 0), !elements[i].has_value()) << i;
    EXPECT_EQ(r->GetString(i, 1), elements[i].value_or("")) << i;
  }
}

TEST_F(PgTest, BinaryResultsReadLikeText) {
  const char* sql =
      "SELECT $1::smallint, $2::int, $3::bigint, true, false, 2.5::float8, "
      "(-0.25)::float4, 'tekst ü'::text, NULL::bigint, '\\x00ff10'::bytea, $4::text";
  auto text = conn_->Query(sql, -7, -70000, int64_t{-9000000000}, std::nullopt);
  auto binary = conn_->QueryBinary(sql, -7, -70000, int64_t{-9000000000}, std::nullopt);
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_TRUE(binary.ok()) << binary.status();
  for (const PgResult* r : {&*text, &*binary}) {
    EXPECT_EQ(r->GetInt64(0, 0), -7);
    EXPECT_EQ(r->GetInt64(0, 1), -70000);
    EXPECT_EQ(r->GetInt64(0, 2), -9000000000);
    EXPECT_TRUE(r->GetBool(0, 3));
    EXPECT_FALSE(r->GetBool(0, 4));
    EXPECT_EQ(r->GetDouble(0, 5), 2.5);
    EXPECT_EQ(r->GetDouble(0, 6), -0.25);
    EXPECT_EQ(r->Get(0, 7), "tekst ü");
    EXPECT_EQ(r->GetInt64(0, 8, 42), 42);
    EXPECT_TRUE(r->IsNull(0, 10));
  }
  // bytea: raw bytes in binary, hex text otherwise.
  EXPECT_EQ(binary->Get(0, 9), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(text->Get(0, 9), "\\x00ff10");
}

TEST_F(PgTest, QueryRowsHandsOverEachRowAndLeavesTheConnectionReady) {
  const std::string sql = "SELECT g, repeat('x', g) FROM generate_series(1, $1::int) g";
  for (int run = 0; run < 3; ++run) {  // Unnamed, then prepared.
    int64_t rows = 0, sum = 0;
    absl::Status s = conn_->QueryRows(sql, {ToPgParam(5000)}, PgConnection::ResultFormat::kBinary,
                                      [&](const PgResult& r) {
                                        EXPECT_EQ(r.rows(), 1);
                                        EXPECT_EQ(r.Get(0, 1).size(), r.GetInt64(0, 0));
                                        ++rows;
                                        sum += r.GetInt64(0, 0);
                                        return absl::OkStatus();
                                      });
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(rows, 5000);
    EXPECT_EQ(sum, 5000 * 5001 / 2);
  }
  // The callback stops early: its error comes back and the rest is drained.
  int calls = 0;
  absl::Status stopped = conn_->QueryRows(
      sql, {ToPgParam(1000)}, PgConnection::ResultFormat::kText, [&](const PgResult&) {
        return ++calls == 3 ? absl::AbortedError("enough") : absl::OkStatus();
      });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 3);
  // A server error after some rows.
  absl::Status failed = conn_->QueryRows("SELECT 10 / (3 - g) FROM generate_series(1, 5) g", {},
                                         PgConnection::ResultFormat::kText,
                                         [&](const PgResult&) { return absl::OkStatus(); });
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("division by zero"), absl::string_view::npos) << failed;
  auto after = conn_->Query("SELECT 42");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->GetInt64(0, 0), 42);
}

int64_t PreparedStatements(PgConnection& conn) {
  auto count = conn.QueryParams("SELECT count(*) FROM pg_prepared_statements", {});
  return count.ok() ? count->GetInt64(0, 0) : -1;
}

TEST_F(PgTest, AStatementRunTwiceIsPreparedAndRunsTheSame) {
  const int64_t before = PreparedStatements(*conn_);
  for (int i = 0; i < 4; ++i) {
    auto r = conn_->Query("SELECT $1::int * 2, $2::text", i, std::nullopt);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->GetInt64(0, 0), 2 * i);
    EXPECT_TRUE(r->IsNull(0, 1));
    auto binary = conn_->QueryBinary("SELECT $1::int * 2, $2::text", i, "x");
    ASSERT_TRUE(binary.ok()) << binary.status();
    EXPECT_EQ(binary->GetInt64(0, 0), 2 * i);
    EXPECT_EQ(binary->Get(0, 1), "x");
  }
  auto names = conn_->QueryParams(
      "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int * 2, "
      "$2::text'",
      {});
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(names->GetInt64(0, 0), 1);
  EXPECT_GT(PreparedStatements(*conn_), before);
}

// Plans PostgreSQL made for a statement this session prepared: {generic, custom}.
std::pair<int64_t, int64_t> PlansMade(PgConnection& conn, const std::string& statement) {
  auto r = conn.QueryParams(
      "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
      {statement});
  if (!r.ok() || r->rows() != 1) return {-1, -1};
  return {r->GetInt64(0, 0), r->GetInt64(0, 1)};
}

TEST_F(PgTest, ConnectionsPlanForEachCallUnlessToldThatGenericPlansAreSafe) {
  const std::string statement = "SELECT count(*) FROM pg_class WHERE oid = $1::oid";
  auto generic = PgConnection::Connect(testing::TestDatabaseUrl(), PlanCache::kGenericPlans);
  ASSERT_TRUE(generic.ok()) << generic.status();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(conn_->Query(statement, i).ok());
    ASSERT_TRUE((*generic)->Query(statement, i).ok());
  }
  // Prepared on the second call: nine executions each.
  EXPECT_EQ(PlansMade(*conn_, statement), std::make_pair(int64_t{0}, int64_t{9}));
  // PostgreSQL's default: five custom plans, then the generic one, planned once and reused.
  EXPECT_EQ(PlansMade(**generic, statement), std::make_pair(int64_t{4}, int64_t{5}));
}

TEST_F(PgTest, APreparedStatementSurvivesTheTableChangingUnderIt) {
  ASSERT_TRUE(conn_
                  ->Execute("DROP TABLE IF EXISTS pg_test_t; CREATE TABLE pg_test_t (a int); "
                            "INSERT INTO pg_test_t VALUES (1)")
                  .ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(conn_->Query("SELECT * FROM pg_test_t").ok());
  // Another session changes the table: the cached plan's result type no longer holds.
  auto other = PgConnection::Connect(testing::TestDatabaseUrl());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Execute("ALTER TABLE pg_test_t ADD COLUMN b text DEFAULT 'new'").ok());
  auto r = conn_->Query("SELECT * FROM pg_test_t");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->columns(), 2);
  EXPECT_EQ(r->Get(0, 1), "new");

  // Inside a transaction the statement fails once (the transaction is aborted anyway) and is
  // prepared afresh when the caller retries.
  ASSERT_TRUE(conn_->Query("SELECT * FROM pg_test_t").ok());  // Prepared again, two columns.
  ASSERT_TRUE((*other)->Execute("ALTER TABLE pg_test_t ADD COLUMN c int DEFAULT 3").ok());
  ASSERT_TRUE(conn_->Execute("BEGIN").ok());
  EXPECT_FALSE(conn_->Query("SELECT * FROM pg_test_t").ok());
  ASSERT_TRUE(conn_->Execute("ROLLBACK").ok());
  ASSERT_TRUE(conn_->Execute("BEGIN").ok());
  auto retried = conn_->Query("SELECT * FROM pg_test_t");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->columns(), 3);
  ASSERT_TRUE(conn_->Execute("COMMIT").ok());
  ASSERT_TRUE(conn_->Execute("DROP TABLE pg_test_t").ok());
}

TEST_F(PgTest, ManyDistinctStatementsKeepTheCacheBounded) {
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 400; ++i) {
      auto r = conn_->Query("SELECT $1::int + " + std::to_string(i), 1);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->GetInt64(0, 0), 1 + i);
    }
  }
  EXPECT_LE(PreparedStatements(*conn_), 256);
  EXPECT_GT(PreparedStatements(*conn_), 0);
}

TEST_F(PgTest, SessionsNameThemselvesVecsyncUnlessTheUrlNamesThem) {
  auto name = conn_->Query("SELECT current_setting('application_name')");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->GetString(0, 0), "vecsync");
  const std::string url = testing::TestDatabaseUrl();
  auto named = PgConnection::Connect(url + (url.find('?') == std::string::npos ? "?" : "&") +
                                     "application_name=reporting");
  ASSERT_TRUE(named.ok()) << named.status();
  name = (*named)->Query("SELECT current_setting('application_name')");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->GetString(0, 0), "reporting");
}

}  // namespace
}  // namespace vecsync
