#include "entities/posthog_scope.h"

namespace vecsync::entities {

SourceScope PostHogApprovedOrganizations() {
  return {
      "JOIN posthog_team posthog_t ON posthog_t.id = s.team_id "
      "JOIN posthog_organization posthog_o ON posthog_o.id = posthog_t.organization_id",
      "posthog_o.is_ai_data_processing_approved",
      "SELECT posthog_t.id FROM posthog_team posthog_t "
      "JOIN posthog_organization posthog_o ON posthog_o.id = posthog_t.organization_id "
      "WHERE posthog_o.is_ai_data_processing_approved",
      {"posthog_team", "posthog_organization"}};
}

}  // namespace vecsync::entities
