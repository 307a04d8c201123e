#include "workflows/sync/flush_insert.h"

#include <algorithm>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/common/status_macros.h"
#include "workflows/sync/embed_batches.h"
#include "workflows/sync/provider_errors.h"
#include "workflows/sync/rows_in_order.h"
#include "workflows/sync/vector_table.h"

namespace vecsync::workflows {
namespace {

using Vectors = std::vector<std::vector<float>>;

// The vectors of `n` texts, or why there are none.
absl::Status CheckVectors(size_t n, const absl::StatusOr<Vectors>& vectors) {
  if (vectors.ok() && vectors->size() != n) {
    return absl::DataLossError(
        absl::StrCat("the embedder returned ", vectors->size(), " vectors for ", n, " texts"));
  }
  return vectors.status();
}

absl::string_view Bytes(const std::vector<float>& vector) {
  return {reinterpret_cast<const char*>(vector.data()), vector.size() * sizeof(float)};
}

class Builder {
 public:
  Builder(absl::Span<const FlushRow> rows, const FlushInsertOptions& options,
          clients::Embedder& embedder, const FlushInsertSink& sink)
      : rows_(rows),
        options_(options),
        embedder_(embedder),
        sink_(sink),
        now_us_(absl::ToUnixMicros(absl::Now())) {}

  absl::StatusOr<FlushInsert> Build() {
    body_.Reserve(kFlushInsertChunkBytes + kRowBytesBound);
    std::vector<bool> waits;
    for (const FlushRow& r : rows_) {
      waits.push_back(!r.row->vector);
      if (r.row->vector) continue;
      unembedded_.push_back(r);
      texts_.emplace_back(r.row->text);
    }
    const size_t chunk = static_cast<size_t>(std::max(options_.embed_batch_size, 1));
    RowsInOrder order(std::move(waits), chunk);
    auto emit = [&](size_t i, const std::vector<float>* vector) {
      const FlushRow& r = rows_[i];
      if (vector != nullptr) return Embedded(r, *vector);
      Encode(*r.row, *r.row->vector);
      if (!r.own) ++out_.carried_over;  // The run's own refreshed rows and tombstones count apart.
    };
    // A rejected request's rows are passed over here, and isolated afterwards.
    struct Rejected {
      size_t first, n;
      absl::Status error;
    };
    std::vector<Rejected> rejected;
    order.Arrived(std::nullopt, emit);  // The rows before the first that waits.
    RETURN_IF_ERROR(sink_status_);
    RETURN_IF_ERROR(EmbedInBatches(embedder_, texts_, options_.embed_batch_size,
                                   options_.max_parallel_requests,
                                   [&](size_t first, absl::StatusOr<Vectors> vectors) {
                                     const size_t n = std::min(texts_.size() - first, chunk);
                                     absl::Status s = CheckVectors(n, vectors);
                                     if (!s.ok() && !ItemsAtFault(s)) return s;
                                     if (s.ok()) {
                                       order.Arrived({{first, *std::move(vectors)}}, emit);
                                     } else {
                                       order.Arrived({{first, std::nullopt}}, emit);
                                       rejected.push_back({first, n, std::move(s)});
                                     }
                                     return sink_status_;  // A failed sink stops the requests.
                                   }));
    if (!order.done()) {  // Every request returned: a row left out would be dropped unsynced.
      return absl::InternalError("a flush left rows out of its insert");
    }
    for (const Rejected& r : rejected) RETURN_IF_ERROR(Isolate(r.first, r.n, r.error));
    Hand();
    RETURN_IF_ERROR(sink_status_);
    return std::move(out_);
  }

 private:
  // Room beyond a chunk for the row that fills it (a 1536-dimension vector is 6 KB).
  static constexpr size_t kRowBytesBound = 64 << 10;

  // Hands what is encoded to the sink; after a failure, keeps its error and hands nothing more.
  void Hand() {
    if (body_.size() == 0 || !sink_status_.ok()) return;
    sink_status_ = sink_(body_.Release());
    body_.Reserve(kFlushInsertChunkBytes + kRowBytesBound);
  }

  VectorRow Row(const QueuedRow& row, absl::string_view vector) const {
    VectorRow out;
    out.domain = options_.domain;
    out.team_id = row.team_id;
    out.id = row.id;
    out.vector = vector;
    out.text = row.text;
    out.properties = row.properties;
    out.timestamp_us = now_us_;
    out.deleted = row.deleted;
    out.embedding_version = static_cast<uint32_t>(row.embedding_version);
    out.version = static_cast<uint64_t>(row.row_version);
    return out;
  }

  void Encode(const QueuedRow& row, absl::string_view vector) {
    VectorTable::AppendRow(body_, Row(row, vector), options_.datetime64);
    out_.encoded.push_back(&row);
    if (body_.size() >= kFlushInsertChunkBytes) Hand();
  }

  void Embedded(const FlushRow& r, const std::vector<float>& vector) {
    Encode(*r.row, Bytes(vector));
    ++(r.own ? out_.embedded : out_.carried_over);
  }

  // Sends the texts [first, first + n) of a rejected request again in halves, down to single
  // texts; the rows of the texts rejected alone fail. Out of order: ClickHouse sorts this
  // insert's stragglers.
  absl::Status Isolate(size_t first, size_t n, const absl::Status& error) {
    if (n == 1) {
      out_.rejected.emplace_back(unembedded_[first], std::string(error.message()));
      return absl::OkStatus();
    }
    for (const auto& [start, count] :
         {std::pair(first, n / 2), std::pair(first + n / 2, n - n / 2)}) {
      absl::StatusOr<Vectors> vectors = embedder_.Embed(
          std::vector<std::string>(texts_.begin() + static_cast<std::ptrdiff_t>(start),
                                   texts_.begin() + static_cast<std::ptrdiff_t>(start + count)));
      absl::Status s = CheckVectors(count, vectors);
      if (!s.ok()) {
        if (!ItemsAtFault(s)) return s;
        RETURN_IF_ERROR(Isolate(start, count, s));
        continue;
      }
      for (size_t i = 0; i < count; ++i) Embedded(unembedded_[start + i], (*vectors)[i]);
    }
    return absl::OkStatus();
  }

  const absl::Span<const FlushRow> rows_;
  const FlushInsertOptions& options_;
  clients::Embedder& embedder_;
  const FlushInsertSink& sink_;
  absl::Status sink_status_;  // The sink's first error.
  const int64_t now_us_;
  std::vector<FlushRow> unembedded_;  // The rows that wait for a vector, in order,
  std::vector<std::string> texts_;    // and their texts.
  clients::RowBinaryWriter body_;
  FlushInsert out_;
};

}  // namespace

std::vector<FlushRow> NewestRows(const std::vector<TakenBatch>& batches, int64_t* superseded_own) {
  std::map<std::pair<int64_t, absl::string_view>, FlushRow> newest;
  for (const TakenBatch& b : batches) {
    for (const QueuedRow& row : b.rows) {
      auto [it, inserted] = newest.try_emplace({row.team_id, row.id}, FlushRow{&row, b.own});
      if (inserted) continue;
      FlushRow& kept = it->second;
      const bool newer = row.row_version > kept.row->row_version ||
                         (row.row_version == kept.row->row_version && b.own >= kept.own);
      const FlushRow& dropped = newer ? kept : FlushRow{&row, b.own};
      if (dropped.own && !dropped.row->vector) ++*superseded_own;
      if (newer) kept = {&row, b.own};
    }
  }
  std::vector<FlushRow> out;
  out.reserve(newest.size());
  for (const auto& [key, row] : newest) out.push_back(row);
  return out;
}

absl::StatusOr<FlushInsert> BuildFlushInsert(absl::Span<const FlushRow> rows,
                                             const FlushInsertOptions& options,
                                             clients::Embedder& embedder,
                                             const FlushInsertSink& sink) {
  return Builder(rows, options, embedder, sink).Build();
}

}  // namespace vecsync::workflows
