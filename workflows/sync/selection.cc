#include "workflows/sync/selection.h"

#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/common/json_fields.h"
#include "src/common/status_macros.h"
#include "workflows/sync/change_queue.h"

namespace vecsync::workflows {

absl::StatusOr<SelectResult> SelectKeys(const SyncEnvironment& env, const SelectInput& in) {
  ASSIGN_OR_RETURN(const entities::EntityConfig* config, env.domains->Find(in.domain));
  ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
  SelectResult page;
  page.cursor = in.cursor;
  const bool from_start = in.cursor.key.team_id < 0;
  switch (in.phase) {
    case SelectPhase::kChanged: {
      ASSIGN_OR_RETURN(
          std::vector<ChangedKey> changed,
          SourceRows(*conn, *config)
              .ChangedAfter(in.cursor, {in.watermark_us, in.overlap_us, in.snapshot_us},
                            in.embedding_version, in.filter, in.limit));
      for (ChangedKey& c : changed) page.keys.push_back(c.key);
      if (!changed.empty()) page.cursor = std::move(changed.back());
      page.done = static_cast<int>(changed.size()) < in.limit;
      return page;
    }
    case SelectPhase::kScopeTeams:
    case SelectPhase::kReconcile: {
      std::optional<std::string> after;
      if (!from_start) after = in.cursor.key.id;
      ASSIGN_OR_RETURN(DivergedPage diverged,
                       SourceRows(*conn, *config)
                           .DivergedAfter(after, in.filter, in.embedding_version, in.limit));
      page.keys = std::move(diverged.keys);
      if (!diverged.last_id.empty()) page.cursor = {0, {0, std::move(diverged.last_id)}};
      page.done = diverged.done;
      return page;
    }
    case SelectPhase::kQueued: {
      ASSIGN_OR_RETURN(page.keys, ChangeQueue(*conn, config->domain())
                                      .EntitiesAfter(in.cursor.key, in.changes_upto, in.limit));
      break;
    }
    case SelectPhase::kRetry: {
      ASSIGN_OR_RETURN(page.keys,
                       Ledger(*conn, config->domain())
                           .FailedAfter(in.cursor.key, in.filter, in.embedding_version, in.limit));
      break;
    }
    case SelectPhase::kScopeTeamsGone:
    case SelectPhase::kHardDeleted: {
      ASSIGN_OR_RETURN(page.keys, Ledger(*conn, config->domain())
                                      .GoneFromSourceAfter(*config, in.cursor.key, in.filter,
                                                           in.embedding_version, in.limit));
      break;
    }
  }
  if (!page.keys.empty()) page.cursor = {0, page.keys.back()};
  page.done = static_cast<int>(page.keys.size()) < in.limit;
  return page;
}

namespace {

constexpr SelectPhase kAllPhases[] = {SelectPhase::kRetry,      SelectPhase::kQueued,
                                      SelectPhase::kScopeTeams, SelectPhase::kScopeTeamsGone,
                                      SelectPhase::kChanged,    SelectPhase::kReconcile,
                                      SelectPhase::kHardDeleted};

}  // namespace

const char* SelectPhaseName(SelectPhase phase) {
  switch (phase) {
    case SelectPhase::kRetry:
      return "retry";
    case SelectPhase::kQueued:
      return "queued";
    case SelectPhase::kScopeTeams:
      return "scope_teams";
    case SelectPhase::kScopeTeamsGone:
      return "scope_teams_gone";
    case SelectPhase::kChanged:
      return "changed";
    case SelectPhase::kReconcile:
      return "reconcile";
    case SelectPhase::kHardDeleted:
      return "hard_deleted";
  }
  return "retry";
}

absl::StatusOr<SelectPhase> SelectPhaseFromName(const std::string& name) {
  std::vector<std::string> known;
  for (SelectPhase p : kAllPhases) {
    if (name == SelectPhaseName(p)) return p;
    known.push_back(SelectPhaseName(p));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown phase '", name, "' (known: ", absl::StrJoin(known, ", "), ")"));
}

Json SelectCursorToJson(const SelectCursor& cursor) {
  if (cursor.key.team_id < 0 && cursor.key.id.empty() && cursor.updated_us < 0) {
    return Json::object();  // Before every key.
  }
  return {
      {"updated_us", cursor.updated_us}, {"team_id", cursor.key.team_id}, {"id", cursor.key.id}};
}

absl::StatusOr<SelectCursor> SelectCursorFromJson(const Json& json) {
  SelectCursor cursor;
  JsonFields f(json, "cursor");
  f.Optional("updated_us", &cursor.updated_us);
  f.Optional("team_id", &cursor.key.team_id);
  f.Optional("id", &cursor.key.id);
  RETURN_IF_ERROR(f.status());
  return cursor;
}

Json SelectInput::ToJson() const {
  return {{"domain", domain},
          {"phase", SelectPhaseName(phase)},
          {"cursor", SelectCursorToJson(cursor)},
          {"limit", limit},
          {"snapshot_us", snapshot_us},
          {"watermark_us", watermark_us},
          {"overlap_us", overlap_us},
          {"embedding_version", embedding_version},
          {"changes_upto", changes_upto},
          {"team_ids", filter.team_ids},
          {"entity_ids", filter.entity_ids}};
}

absl::StatusOr<SelectInput> SelectInput::FromJson(const Json& json) {
  SelectInput in;
  std::string phase;
  JsonFields f(json, "sync-select input");
  f.Required("domain", &in.domain);
  f.Required("phase", &phase);
  f.Required("limit", &in.limit);
  f.Required("snapshot_us", &in.snapshot_us);
  f.Required("watermark_us", &in.watermark_us);
  f.Optional("overlap_us", &in.overlap_us);
  f.Optional("embedding_version", &in.embedding_version);
  f.Optional("changes_upto", &in.changes_upto);
  f.Optional("team_ids", &in.filter.team_ids);
  f.Optional("entity_ids", &in.filter.entity_ids);
  if (f.status().ok() && in.limit < 1) f.Fail("limit", "must be at least 1");
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(in.phase, SelectPhaseFromName(phase));
  ASSIGN_OR_RETURN(
      in.cursor,
      SelectCursorFromJson(f.Member("cursor").is_null() ? Json::object() : f.Member("cursor")));
  return in;
}

Json SelectResult::ToJson() const {
  return {{"keys", EntityKeysToJson(keys)}, {"cursor", SelectCursorToJson(cursor)}, {"done", done}};
}

absl::StatusOr<SelectResult> SelectResult::FromJson(const Json& json) {
  SelectResult r;
  JsonFields f(json, "sync-select result");
  f.Required("done", &r.done);
  RETURN_IF_ERROR(f.status());
  ASSIGN_OR_RETURN(r.keys, EntityKeysFromJson(f.Member("keys"), "sync-select result: keys"));
  ASSIGN_OR_RETURN(r.cursor, SelectCursorFromJson(f.Member("cursor")));
  return r;
}

absl::Status RegisterSelectActivity(engine::Registry* registry, const SyncEnvironment* env) {
  return engine::RegisterActivity(
      registry, kSelectActivity,
      [env](engine::ActivityContext&, const SelectInput& in) { return SelectKeys(*env, in); });
}

}  // namespace vecsync::workflows
