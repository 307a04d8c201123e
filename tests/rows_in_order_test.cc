#include "workflows/sync/rows_in_order.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vecsync::workflows {
namespace {

// What a RowsInOrder emitted: "r" for a row that carries its vector, else the vector's first
// value, by row.
class Emitted {
 public:
  RowsInOrder::Emit Fn() {
    return [this](size_t row, const std::vector<float>* vector) {
      rows.push_back(row);
      values.push_back(vector == nullptr ? "r" : std::to_string(static_cast<int>((*vector)[0])));
    };
  }
  std::vector<size_t> rows;
  std::vector<std::string> values;
};

// One vector per text of a request, each holding the text's number.
RowsInOrder::Vectors For(size_t first, size_t n) {
  RowsInOrder::Vectors out;
  for (size_t i = 0; i < n; ++i) out.push_back({static_cast<float>(first + i)});
  return out;
}

TEST(RowsInOrderTest, RowsComeOutInOrderHoweverTheirRequestsReturn) {
  // Rows 0 and 3 carry their vectors; rows 1, 2, 4, 5, 6 wait for texts 0-4, two a request.
  RowsInOrder order({false, true, true, false, true, true, true}, 2);
  Emitted out;
  order.Arrived(std::nullopt, out.Fn());
  EXPECT_EQ(out.rows, (std::vector<size_t>{0}));
  order.Arrived({{4, For(4, 1)}}, out.Fn());  // The last request returns first: nothing moves.
  order.Arrived({{2, For(2, 2)}}, out.Fn());
  EXPECT_EQ(out.rows, (std::vector<size_t>{0}));
  EXPECT_FALSE(order.done());
  order.Arrived({{0, For(0, 2)}}, out.Fn());  // The first releases them all.
  EXPECT_EQ(out.rows, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(out.values, (std::vector<std::string>{"r", "0", "1", "r", "2", "3", "4"}));
  EXPECT_TRUE(order.done());
}

TEST(RowsInOrderTest, TheRowsOfARejectedRequestArePassedOver) {
  RowsInOrder order({true, true, true, false}, 2);
  Emitted out;
  order.Arrived(std::nullopt, out.Fn());
  order.Arrived({{0, std::nullopt}}, out.Fn());
  EXPECT_TRUE(out.rows.empty());
  order.Arrived({{2, For(2, 1)}}, out.Fn());
  EXPECT_EQ(out.rows, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(out.values, (std::vector<std::string>{"2", "r"}));
  EXPECT_TRUE(order.done());
}

TEST(RowsInOrderTest, RowsThatAllCarryTheirVectorsComeOutAtOnce) {
  RowsInOrder order({false, false}, 96);
  Emitted out;
  order.Arrived(std::nullopt, out.Fn());
  EXPECT_EQ(out.rows, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(order.done());
}

}  // namespace
}  // namespace vecsync::workflows
