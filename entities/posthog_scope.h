// The scope PostHog puts on every entity it sends to an LLM: the entity's team belongs to an
// organization that approved AI data processing (posthog_team.organization_id →
// posthog_organization.is_ai_data_processing_approved). Shared by the PostHog domains.
#ifndef VECSYNC_ENTITIES_POSTHOG_SCOPE_H_
#define VECSYNC_ENTITIES_POSTHOG_SCOPE_H_

#include "entities/entity_config.h"

namespace vecsync::entities {

// Joins posthog_team (alias `posthog_t`) and posthog_organization (alias `posthog_o`) to the
// source row `s` by its team_id.
SourceScope PostHogApprovedOrganizations();

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_POSTHOG_SCOPE_H_
