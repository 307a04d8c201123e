#include "workflows/sync/plan.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "src/common/status_macros.h"
#include "workflows/sync/change_queue.h"
#include "workflows/sync/selection.h"

namespace vecsync::workflows {
namespace {

// Keys per page of a walk, and per planned batch.
constexpr int kPage = 1000;

}  // namespace

absl::StatusOr<SyncPlan> PlanReconcile(const SyncEnvironment& env, const std::string& domain,
                                       const std::vector<int64_t>& team_ids) {
  ASSIGN_OR_RETURN(const entities::EntityConfig* config, env.domains->Find(domain));
  SyncPlan plan;
  plan.domain = domain;
  plan.profile = {env.summarizer->version(config->summary_prompt()),
                  absl::StrCat(env.embedder->model(), "/", env.embedder->dimensions())};
  SelectInput select;
  select.domain = domain;
  select.limit = kPage;
  select.filter = {team_ids, {}};
  bool other_versions = false;
  {
    ASSIGN_OR_RETURN(PgPool::Lease conn, env.pool->Acquire());
    ASSIGN_OR_RETURN(std::vector<EmbeddingVersion> versions, ListEmbeddingVersions(*conn, domain));
    const EmbeddingVersionChoice chosen = ChooseEmbeddingVersion(versions, plan.profile);
    plan.embedding_version = chosen.version;
    plan.new_version = chosen.is_new;
    other_versions = versions.size() > (plan.new_version ? 0 : 1);
    ASSIGN_OR_RETURN(select.changes_upto, ChangeQueue(*conn, domain).NewestSeq());
  }
  select.embedding_version = plan.embedding_version;

  // The keys a reconcile run would select. The retry and queued phases read the ledger and the
  // queue, so a key in both is processed twice, the second time finding nothing to do; the
  // later walks select a key only while it is still to do, so not one an earlier phase did.
  std::set<EntityKey> keys;
  std::set<EntityKey> retried;
  int64_t selected_again = 0;
  std::vector<SelectPhase> phases = {SelectPhase::kRetry, SelectPhase::kReconcile,
                                     SelectPhase::kHardDeleted};
  if (select.changes_upto > 0 && team_ids.empty())
    phases.insert(phases.begin() + 1, SelectPhase::kQueued);
  for (SelectPhase phase : phases) {
    select.phase = phase;
    select.cursor = SelectCursor();
    while (true) {
      ASSIGN_OR_RETURN(SelectResult page, SelectKeys(env, select));
      for (const EntityKey& key : page.keys) {
        if (phase == SelectPhase::kRetry) retried.insert(key);
        if (phase == SelectPhase::kQueued && retried.contains(key)) ++selected_again;
        keys.insert(key);
      }
      if (page.done) break;
      select.cursor = page.cursor;
    }
  }

  ProcessInput batch;
  batch.domain = domain;
  batch.embedding_version = plan.embedding_version;
  batch.other_versions = other_versions;
  for (auto it = keys.begin(); it != keys.end();) {
    batch.keys.clear();
    for (; it != keys.end() && static_cast<int>(batch.keys.size()) < kPage; ++it) {
      batch.keys.push_back(*it);
    }
    ASSIGN_OR_RETURN(ProcessPlan counted, PlanProcess(env, batch));
    plan.counts.Add(counted);
  }
  plan.counts.selected += selected_again;
  plan.counts.unchanged += selected_again;
  return plan;
}

}  // namespace vecsync::workflows
