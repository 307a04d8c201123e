#include "workflows/sync/sync_position.h"

#include "src/common/json_fields.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {

void SyncCounts::Add(const ProcessResult& r) {
  selected += r.selected;
  summarized += r.summarized;
  embedded += r.embedded_by_older_vecsync;
  refreshed += r.refreshed;
  skipped_unchanged += r.skipped_unchanged;
  failed += r.failed;
  tombstoned += r.tombstoned;
  prompt_tokens += r.prompt_tokens;
  completion_tokens += r.completion_tokens;
}

void SyncCounts::Add(const FlushResult& r) {
  inserted += r.inserted;
  embedded += r.embedded;
  failed += r.failed;
  carried_over += r.carried_over;
  skipped_unchanged += r.skipped_unchanged;
  embedding_tokens += r.embedding_tokens;
}

Json SyncCounts::ToJson() const {
  return {{"selected", selected},
          {"summarized", summarized},
          {"embedded", embedded},
          {"refreshed", refreshed},
          {"skipped_unchanged", skipped_unchanged},
          {"failed", failed},
          {"tombstoned", tombstoned},
          {"inserted", inserted},
          {"carried_over", carried_over},
          {"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"embedding_tokens", embedding_tokens}};
}

absl::StatusOr<SyncCounts> SyncCounts::FromJson(const Json& json) {
  SyncCounts c;
  JsonFields f(json, "counters");
  f.Optional("selected", &c.selected);
  f.Optional("summarized", &c.summarized);
  f.Optional("embedded", &c.embedded);
  f.Optional("refreshed", &c.refreshed);
  f.Optional("skipped_unchanged", &c.skipped_unchanged);
  f.Optional("failed", &c.failed);
  f.Optional("tombstoned", &c.tombstoned);
  f.Optional("inserted", &c.inserted);
  f.Optional("carried_over", &c.carried_over);
  f.Optional("prompt_tokens", &c.prompt_tokens);
  f.Optional("completion_tokens", &c.completion_tokens);
  f.Optional("embedding_tokens", &c.embedding_tokens);
  RETURN_IF_ERROR(f.status());
  return c;
}

Json SyncPosition::ToJson() const {
  Json out = {{"phase", SelectPhaseName(phase)}, {"cursor", SelectCursorToJson(cursor)},
              {"counters", counters.ToJson()},   {"watermark_us", watermark_us},
              {"datetime64", datetime64},        {"pending", pending}};
  if (snapshot_us) out["snapshot_us"] = *snapshot_us;
  if (summarize_batch_size) out["summarize_batch_size"] = *summarize_batch_size;
  if (max_flushes) out["max_flushes"] = *max_flushes;
  if (converges) out["converges"] = *converges;
  if (overlap_us > 0) out["overlap_us"] = overlap_us;
  if (embedding_version) out["embedding_version"] = *embedding_version;
  out["other_versions"] = other_versions;
  if (changes_upto > 0) out["changes_upto"] = changes_upto;
  if (!changed_teams.empty()) out["changed_teams"] = changed_teams;
  out["listed"] = listed;
  return out;
}

absl::StatusOr<SyncPosition> SyncPosition::FromJson(const Json& json) {
  SyncPosition p;
  std::string phase = SelectPhaseName(p.phase);
  JsonFields f(json, "sync checkpoint");
  f.Optional("phase", &phase);
  f.Optional("snapshot_us", &p.snapshot_us);
  f.Optional("watermark_us", &p.watermark_us);
  f.Optional("datetime64", &p.datetime64);
  f.Optional("summarize_batch_size", &p.summarize_batch_size);
  f.Optional("max_flushes", &p.max_flushes);
  f.Optional("pending", &p.pending);
  f.Optional("converges", &p.converges);
  f.Optional("overlap_us", &p.overlap_us);
  f.Optional("embedding_version", &p.embedding_version);
  f.Optional("other_versions", &p.other_versions);
  f.Optional("changes_upto", &p.changes_upto);
  f.Optional("changed_teams", &p.changed_teams);
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(p.phase, SelectPhaseFromName(phase));
  if (!f.Member("cursor").is_null()) {
    ASSIGN_OR_RETURN(p.cursor, SelectCursorFromJson(f.Member("cursor")));
  }
  if (!f.Member("counters").is_null()) {
    ASSIGN_OR_RETURN(p.counters, SyncCounts::FromJson(f.Member("counters")));
  }
  p.listed = p.counters.selected;
  f.Optional("listed", &p.listed);
  RETURN_IF_ERROR(f.status());
  return p;
}

}  // namespace vecsync::workflows
