// pgoutput's messages decoded from the bytes PostgreSQL sends (protocol version 1), and what a
// malformed or cut-short message gives.
#include "src/replication/pgoutput.h"

#include <gtest/gtest.h>

#include <string>

namespace vecsync::pgoutput {
namespace {

// Big-endian writers for building messages.
std::string Int(uint64_t v, int bytes) {
  std::string out;
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(v >> shift));
  }
  return out;
}
std::string Str(const std::string& s) { return s + std::string(1, '\0'); }
std::string Text(const std::string& s) { return "t" + Int(s.size(), 4) + s; }

constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000;

TEST(PgoutputTest, ATransactionAndItsRowChangesDecode) {
  auto begin = Decode("B" + Int(0x16B374D848, 8) + Int(5000000, 8) + Int(777, 4));
  ASSERT_TRUE(begin.ok()) << begin.status();
  const Begin& b = std::get<Begin>(*begin);
  EXPECT_EQ(b.final_lsn, 0x16B374D848u);
  EXPECT_EQ(b.commit_time_us, kPostgresEpochUnixMicros + 5000000);
  EXPECT_EQ(b.xid, 777u);

  auto rel = Decode("R" + Int(16384, 4) + Str("public") + Str("posthog_action") + "d" + Int(3, 2) +
                    "\x01" + Str("id") + Int(20, 4) + Int(0xFFFFFFFF, 4) + std::string(1, '\0') +
                    Str("team_id") + Int(20, 4) + Int(0xFFFFFFFF, 4) + std::string(1, '\0') +
                    Str("name") + Int(25, 4) + Int(0xFFFFFFFF, 4));
  ASSERT_TRUE(rel.ok()) << rel.status();
  const Relation& r = std::get<Relation>(*rel);
  EXPECT_EQ(r.id, 16384u);
  EXPECT_EQ(r.schema, "public");
  EXPECT_EQ(r.name, "posthog_action");
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_TRUE(r.columns[0].key);
  EXPECT_EQ(r.columns[1].name, "team_id");
  EXPECT_FALSE(r.columns[1].key);

  auto update = Decode("U" + Int(16384, 4) + "N" + Int(3, 2) + Text("42") + Text("7") + "u");
  ASSERT_TRUE(update.ok()) << update.status();
  const RowChange& u = std::get<RowChange>(*update);
  EXPECT_EQ(u.kind, RowChange::Kind::kUpdate);
  EXPECT_FALSE(u.old_tuple.has_value());
  ASSERT_EQ(u.new_tuple->size(), 3u);
  EXPECT_EQ((*u.new_tuple)[0].text, "42");
  EXPECT_EQ((*u.new_tuple)[1].text, "7");
  EXPECT_EQ((*u.new_tuple)[2].kind, Value::Kind::kUnchangedToast);

  auto del = Decode("D" + Int(16384, 4) + "K" + Int(3, 2) + Text("42") + "n" + "n");
  ASSERT_TRUE(del.ok()) << del.status();
  const RowChange& d = std::get<RowChange>(*del);
  EXPECT_EQ(d.kind, RowChange::Kind::kDelete);
  EXPECT_EQ((*d.old_tuple)[0].text, "42");
  EXPECT_EQ((*d.old_tuple)[1].kind, Value::Kind::kNull);

  auto commit = Decode("C" + std::string(1, '\0') + Int(0x100, 8) + Int(0x180, 8) + Int(9, 8));
  ASSERT_TRUE(commit.ok()) << commit.status();
  EXPECT_EQ(std::get<Commit>(*commit).end_lsn, 0x180u);

  auto other = Decode("Y" + Int(1, 4));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(std::get<Ignored>(*other).tag, 'Y');
}

TEST(PgoutputTest, AMessageCutShortOrMalformedIsAnErrorNotACrash) {
  const std::string insert = "I" + Int(16384, 4) + "N" + Int(2, 2) + Text("42") + Text("7");
  ASSERT_TRUE(Decode(insert).ok());
  for (size_t n = 1; n < insert.size(); ++n) {
    auto cut = Decode(insert.substr(0, n));
    EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument) << "cut at " << n;
  }
  EXPECT_EQ(Decode("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode("I" + Int(1, 4) + "X").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode("R" + Int(1, 4) + "public").status().code(), absl::StatusCode::kInvalidArgument)
      << "a name without its NUL";
  EXPECT_EQ(Decode("I" + Int(1, 4) + "N" + Int(1, 2) + "t" + Int(1000, 4) + "ab").status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a value longer than the message";
}

TEST(PgoutputTest, LsnsReadAndWriteAsPostgresWritesThem) {
  EXPECT_EQ(FormatLsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(ParseLsn("16/B374D848").value(), 0x16B374D848u);
  EXPECT_EQ(ParseLsn("0/0").value(), 0u);
  EXPECT_FALSE(ParseLsn("16-B374").ok());
  EXPECT_FALSE(ParseLsn("16/B374D848x").ok());
}

}  // namespace
}  // namespace vecsync::pgoutput
