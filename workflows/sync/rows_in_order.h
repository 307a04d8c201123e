// Hands out a flush's rows in their order while the vectors some of them wait for arrive in any
// order.
//
// A flush encodes its rows into one ClickHouse insert in key order, ClickHouse's own, so that
// ClickHouse finds the block sorted and need not sort it. Some rows carry their vector already;
// the others wait for theirs, asked for `chunk` texts a request, in row order, several requests
// at once. A row waiting for its vector holds up the rows after it until its request returns;
// requests that return before their turn are kept until then (EmbedInBatches starts none more
// than 2 × parallel requests after the oldest unanswered one, which bounds them).
//
//   RowsInOrder order(waits, /*chunk=*/96);
//   order.Arrived(std::nullopt, emit);           // Rows before the first that waits.
//   ... as each request returns:
//   order.Arrived({{first, std::move(vectors)}}, emit);
//
// Not thread-safe: calls are made one at a time.
#ifndef VECSYNC_WORKFLOWS_SYNC_ROWS_IN_ORDER_H_
#define VECSYNC_WORKFLOWS_SYNC_ROWS_IN_ORDER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace vecsync::workflows {

class RowsInOrder {
 public:
  using Vectors = std::vector<std::vector<float>>;
  // Called for each row as its turn comes: `vector` is the one that arrived for it, or null for
  // a row that carries its own.
  using Emit = std::function<void(size_t row, const std::vector<float>* vector)>;

  // `waits[i]`: whether row i waits for a vector. The rows that wait are numbered apart, from 0
  // in row order: the texts of the requests. `chunk` (at least 1) texts a request.
  RowsInOrder(std::vector<bool> waits, size_t chunk);

  // Records what the request starting at text `first` returned, if anything, and emits every row
  // whose turn has come. `vectors` holds one vector per text of the request, or nullopt when the
  // request was rejected: its rows are passed over, for the caller to emit out of order later.
  void Arrived(std::optional<std::pair<size_t, std::optional<Vectors>>> request, const Emit& emit);

  // Whether every row was emitted or passed over.
  bool done() const { return next_row_ == waits_.size(); }

 private:
  const std::vector<bool> waits_;
  const size_t chunk_;
  size_t texts_ = 0;                                  // Rows that wait.
  size_t next_row_ = 0;                               // The next row to emit.
  size_t next_text_ = 0;                              // The text of the next row that waits.
  std::map<size_t, std::optional<Vectors>> arrived_;  // Requests before their turn, by first text.
};

}  // namespace vecsync::workflows

#endif  // VECSYNC_WORKFLOWS_SYNC_ROWS_IN_ORDER_H_
