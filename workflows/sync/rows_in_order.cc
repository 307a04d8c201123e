#include "workflows/sync/rows_in_order.h"

#include <algorithm>

namespace vecsync::workflows {

RowsInOrder::RowsInOrder(std::vector<bool> waits, size_t chunk)
    : waits_(std::move(waits)), chunk_(std::max<size_t>(chunk, 1)) {
  texts_ = static_cast<size_t>(std::count(waits_.begin(), waits_.end(), true));
}

void RowsInOrder::Arrived(std::optional<std::pair<size_t, std::optional<Vectors>>> request,
                          const Emit& emit) {
  if (request) arrived_[request->first] = std::move(request->second);
  for (; next_row_ < waits_.size(); ++next_row_) {
    if (!waits_[next_row_]) {
      emit(next_row_, nullptr);
      continue;
    }
    const size_t first = next_text_ / chunk_ * chunk_;
    auto it = arrived_.find(first);
    if (it == arrived_.end()) return;  // Its request has not returned yet.
    if (it->second) emit(next_row_, &(*it->second)[next_text_ - first]);
    if (++next_text_ == std::min(first + chunk_, texts_)) arrived_.erase(it);
  }
}

}  // namespace vecsync::workflows
