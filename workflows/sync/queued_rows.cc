#include "workflows/sync/queued_rows.h"

#include "absl/strings/str_cat.h"
#include "src/clients/clickhouse_client.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

// The first byte of a body. A vecsync that finds another refuses the body instead of guessing.
constexpr uint8_t kFormat = 1;

// Each row's flags byte.
constexpr uint8_t kHasVector = 1;
constexpr uint8_t kDeleted = 2;
constexpr uint8_t kHasSummary = 4;
constexpr uint8_t kSummaryIsNotText = 8;

}  // namespace

std::string EncodeQueuedRows(absl::Span<const QueuedRow> rows) {
  size_t bytes = 1;
  for (const QueuedRow& r : rows) {
    bytes += 64 + r.id.size() + r.text.size() + r.properties.size() + r.vector_hash.size() +
             r.vector.value_or("").size() + r.content_hash.value_or("").size() +
             r.summary_hash.value_or("").size() + r.summary.value_or("").size();
  }
  clients::RowBinaryWriter out;
  out.Reserve(bytes);
  out.UInt8(kFormat);
  for (const QueuedRow& r : rows) {
    const bool has_summary = r.content_hash.has_value() && r.summary_hash.has_value();
    const bool summary_apart = has_summary && r.summary.has_value() && *r.summary != r.text;
    out.Int64(r.team_id);
    out.String(r.id);
    out.UInt8((r.vector ? kHasVector : 0) | (r.deleted ? kDeleted : 0) |
              (has_summary ? kHasSummary : 0) | (summary_apart ? kSummaryIsNotText : 0));
    if (r.vector) out.String(*r.vector);
    out.String(r.text);
    out.String(r.properties);
    out.Int64(r.embedding_version);
    out.Int64(r.row_version);
    out.Int64(r.source_updated_us);
    out.String(r.vector_hash);
    if (has_summary) {
      out.String(*r.content_hash);
      out.String(*r.summary_hash);
      if (summary_apart) out.String(*r.summary);
    }
  }
  return out.data();
}

absl::StatusOr<std::vector<QueuedRow>> DecodeQueuedRows(absl::string_view body) {
  clients::RowBinaryReader in(body);
  ASSIGN_OR_RETURN(uint8_t format, in.UInt8());
  if (format != kFormat) {
    return absl::DataLossError(
        absl::StrCat("queued rows in format ", format, "; this vecsync reads ", kFormat));
  }
  std::vector<QueuedRow> rows;
  while (!in.done()) {
    QueuedRow& r = rows.emplace_back();
    ASSIGN_OR_RETURN(r.team_id, in.Int64());
    ASSIGN_OR_RETURN(r.id, in.String());
    ASSIGN_OR_RETURN(uint8_t flags, in.UInt8());
    if (flags & ~(kHasVector | kDeleted | kHasSummary | kSummaryIsNotText)) {
      return absl::DataLossError(
          absl::StrCat("queued row ", rows.size(), " has unknown flags ", flags));
    }
    r.deleted = flags & kDeleted;
    if (flags & kHasVector) {
      ASSIGN_OR_RETURN(r.vector, in.String());
    }
    ASSIGN_OR_RETURN(r.text, in.String());
    ASSIGN_OR_RETURN(r.properties, in.String());
    ASSIGN_OR_RETURN(r.embedding_version, in.Int64());
    ASSIGN_OR_RETURN(r.row_version, in.Int64());
    ASSIGN_OR_RETURN(r.source_updated_us, in.Int64());
    ASSIGN_OR_RETURN(r.vector_hash, in.String());
    if (flags & kHasSummary) {
      ASSIGN_OR_RETURN(r.content_hash, in.String());
      ASSIGN_OR_RETURN(r.summary_hash, in.String());
      if (flags & kSummaryIsNotText) {
        ASSIGN_OR_RETURN(r.summary, in.String());
      }
    }
  }
  return rows;
}

}  // namespace vecsync::workflows
