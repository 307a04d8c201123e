// Domain "action": posthog_action(id, team_id, name, description, steps_json jsonb, deleted,
// created_at, updated_at). Rendered as PostHog renders actions for its summarizer: name,
// description, then each step as a match group ("event is `x` AND element matches HTML
// selector `…` AND url contains `…` …"), the groups joined by OR.
#ifndef VECSYNC_ENTITIES_ACTION_H_
#define VECSYNC_ENTITIES_ACTION_H_

#include <memory>

#include "entities/entity_config.h"

namespace vecsync::entities {

std::unique_ptr<EntityConfig> NewActionConfig();

// Renders one action step (an element of steps_json) as a match-group condition.
std::string RenderActionStep(const Json& step);

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_ACTION_H_
