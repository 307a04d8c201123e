// Domain "cohort": posthog_cohort(id, team_id, name, description, filters jsonb, is_static,
// count, deleted, created_at, updated_at). Rendered as name, description, and the filter tree
// ("persons who … AND (… OR …)"); properties add is_static and count.
#ifndef VECSYNC_ENTITIES_COHORT_H_
#define VECSYNC_ENTITIES_COHORT_H_

#include <memory>

#include "entities/entity_config.h"

namespace vecsync::entities {

std::unique_ptr<EntityConfig> NewCohortConfig();

// Renders a cohort filter node (a group {type: AND|OR, values: [...]} or a leaf filter).
std::string RenderCohortFilter(const Json& node);

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_COHORT_H_
