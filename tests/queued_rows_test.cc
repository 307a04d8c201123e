#include "workflows/sync/queued_rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vecsync::workflows {
namespace {

std::vector<QueuedRow> SampleRows() {
  std::vector<QueuedRow> rows(4);
  rows[0].team_id = 7;
  rows[0].id = "42";
  rows[0].text = "Signed up from the pricing page";
  rows[0].properties = R"({"name":"Sign up"})";
  rows[0].embedding_version = 2;
  rows[0].row_version = (int64_t{2} << 44) | 1234;
  rows[0].source_updated_us = 1700000000000000;
  rows[0].vector_hash = "0123456789abcdef0123456789abcdef";
  rows[0].content_hash = "c0ffee";
  rows[0].summary_hash = "5eed";
  rows[1].team_id = -1;
  rows[1].id = "018c-uuid";
  rows[1].vector = absl::string_view("\0\0\x80\x3f\0\0\0\x40", 8);  // 1.0f, 2.0f
  rows[1].properties = "{}";
  rows[2].team_id = 8;
  rows[2].id = "9";
  rows[2].vector = "";
  rows[2].deleted = true;
  // A domain that embeds more than the summary: the summary travels apart.
  rows[3].team_id = 7;
  rows[3].id = "43";
  rows[3].text = "Action: Clicked upgrade";
  rows[3].properties = "{}";
  rows[3].content_hash = "c0ffee2";
  rows[3].summary_hash = "5eed2";
  rows[3].summary = "Clicked upgrade";
  return rows;
}

TEST(QueuedRowsTest, RowsComeBackAsTheyWentIn) {
  const std::vector<QueuedRow> in = SampleRows();
  const std::string body = EncodeQueuedRows(in);
  absl::StatusOr<std::vector<QueuedRow>> out = DecodeQueuedRows(body);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_TRUE(in[i] == (*out)[i]) << "row " << i;
  // A row that waits for its vector is told apart from a tombstone's empty one.
  EXPECT_FALSE((*out)[0].vector.has_value());
  EXPECT_TRUE((*out)[2].vector.has_value());
  // The decoded strings are views into the body, not copies.
  EXPECT_GE((*out)[0].text.data(), body.data());
  EXPECT_LT((*out)[0].text.data(), body.data() + body.size());
}

TEST(QueuedRowsTest, NoRowsIsABodyToo) {
  absl::StatusOr<std::vector<QueuedRow>> out = DecodeQueuedRows(EncodeQueuedRows({}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->empty());
}

TEST(QueuedRowsTest, EveryTruncationOfABodyIsDataLoss) {
  const std::string body = EncodeQueuedRows(SampleRows());
  // Cutting at a row's end leaves whole rows; every other cut must be caught.
  size_t whole_rows = 0;
  for (size_t n = 0; n < body.size(); ++n) {
    absl::StatusOr<std::vector<QueuedRow>> out = DecodeQueuedRows(body.substr(0, n));
    if (out.ok()) {
      ++whole_rows;
      continue;
    }
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << n << ": " << out.status();
  }
  EXPECT_EQ(whole_rows, SampleRows().size())
      << "a body cut after its format byte and after each row but the last";
}

TEST(QueuedRowsTest, AnUnknownFormatOrFlagIsRefused) {
  std::string body = EncodeQueuedRows(SampleRows());
  std::string other_format = body;
  other_format[0] = 2;
  absl::StatusOr<std::vector<QueuedRow>> out = DecodeQueuedRows(other_format);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(out.status().message().find("format 2"), std::string::npos) << out.status();
  // The first row's flags byte follows its team (8 bytes) and id ("42" with its length byte).
  std::string bad_flags = body;
  bad_flags[1 + 8 + 3] = static_cast<char>(0x80);
  out = DecodeQueuedRows(bad_flags);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(out.status().message().find("flags"), std::string::npos) << out.status();
}

}  // namespace
}  // namespace vecsync::workflows
