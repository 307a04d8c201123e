// Domain "event_definition": posthog_eventdefinition(id uuid, team_id, name, description,
// created_at, updated_at). Rows have no `deleted` column: they are deleted outright, so the sync
// looks for synced ids that disappeared (hard_deletes()).
#ifndef VECSYNC_ENTITIES_EVENT_DEFINITION_H_
#define VECSYNC_ENTITIES_EVENT_DEFINITION_H_

#include <memory>

#include "entities/entity_config.h"

namespace vecsync::entities {

std::unique_ptr<EntityConfig> NewEventDefinitionConfig();

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_EVENT_DEFINITION_H_
