#include "workflows/sync/sync_input.h"

#include "absl/strings/str_cat.h"
#include "src/common/json_fields.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

// Reads `key` into `*out` when present; an error naming it when not an integer in [lo, hi].
template <typename T>
void IntInRange(JsonFields& f, const char* key, int lo, int hi, T* out) {
  std::optional<int64_t> value;
  f.Optional(key, &value);
  if (!value) return;
  if (*value < lo || *value > hi) {
    f.Fail(key, absl::StrCat("must be an integer from ", lo, " to ", hi, ", got ", *value));
    return;
  }
  *out = static_cast<int>(*value);
}

constexpr SyncMode kModes[] = {SyncMode::kIncremental, SyncMode::kChanges, SyncMode::kReconcile};

}  // namespace

const char* SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kIncremental:
      return "incremental";
    case SyncMode::kChanges:
      return "changes";
    case SyncMode::kReconcile:
      return "reconcile";
  }
  return "incremental";
}

absl::StatusOr<SyncMode> SyncModeFromName(absl::string_view name) {
  for (SyncMode mode : kModes) {
    if (name == SyncModeName(mode)) return mode;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("mode must be incremental, changes or reconcile, got \"", name, "\""));
}

absl::StatusOr<SyncInput> SyncInput::Parse(const Json& input,
                                           const entities::EntityConfigRegistry& domains) {
  JsonFields f(input, "input");
  f.RejectUnknown({"domain", "start_dt", "summarize_batch_size", "embed_batch_size",
                   "max_parallel_requests", "insert_batch_size", "delay_between_batches",
                   "embedding_version", "team_ids", "entity_ids", "mode"});
  RETURN_IF_ERROR(f.status());
  SyncInput in;
  if (!f.Has("domain") || !f.Member("domain").is_string()) {
    return absl::InvalidArgumentError("domain is required (a string such as \"action\")");
  }
  f.Required("domain", &in.domain);
  RETURN_IF_ERROR(domains.Find(in.domain).status());
  std::optional<std::string> start_dt;
  f.Optional("start_dt", &start_dt);
  if (start_dt) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *start_dt, &t, &error)) {
      f.Fail("start_dt",
             absl::StrCat("must be an RFC 3339 time such as 2025-01-15T00:00:00Z, got \"",
                          *start_dt, "\""));
    }
    in.start_dt = t;
  }
  std::optional<std::string> mode;
  f.Optional("mode", &mode);
  if (mode) {
    absl::StatusOr<SyncMode> known = SyncModeFromName(*mode);
    if (known.ok()) {
      in.mode = *known;
    } else {
      f.Fail("mode",
             absl::StrCat("must be incremental, changes or reconcile, got \"", *mode, "\""));
    }
  }
  IntInRange(f, "summarize_batch_size", 1, 2048, &in.summarize_batch_size);
  IntInRange(f, "embed_batch_size", 1, 2048, &in.embed_batch_size);
  IntInRange(f, "max_parallel_requests", 1, 64, &in.max_parallel_requests);
  IntInRange(f, "insert_batch_size", 1, 1000000, &in.insert_batch_size);
  IntInRange(f, "delay_between_batches", 0, 86400, &in.delay_between_batches);
  IntInRange(f, "embedding_version", 0, 1000000, &in.embedding_version);
  f.Optional("team_ids", &in.team_ids);
  // Entity ids are text; integers are taken as their decimal text.
  const Json& ids = f.Member("entity_ids");
  if (!ids.is_null()) {
    if (!ids.is_array()) f.Fail("entity_ids", "must be an array of strings");
    for (const Json& id : ids.is_array() ? ids : Json::array()) {
      if (id.is_string()) {
        in.entity_ids.push_back(id.get<std::string>());
      } else if (id.is_number_integer()) {
        in.entity_ids.push_back(std::to_string(id.get<int64_t>()));
      } else {
        f.Fail("entity_ids", "must be an array of strings");
      }
    }
  }
  if (f.status().ok() && in.mode == SyncMode::kChanges && in.filtered()) {
    f.Fail("mode",
           "changes syncs the domain's queued changes, all of them: it takes no team_ids "
           "or entity_ids");
  }
  RETURN_IF_ERROR(f.status());
  return in;
}

absl::Status SyncInput::CheckStart(absl::Time now) const {
  if (start_dt && *start_dt > now) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_dt ", absl::FormatTime(absl::RFC3339_full, *start_dt, absl::UTCTimeZone()),
        " is in the future: the domain's watermark would move past edits not made yet, and "
        "they would never be synced; leave start_dt out to sync up to now"));
  }
  return absl::OkStatus();
}

}  // namespace vecsync::workflows
