// PostHog property filters ({key, value, operator, type, negation}), as words for the
// summarizer: "event property `$browser` is `Chrome`". Shared by the domains whose entities
// carry filters (action steps, cohort filter trees).
#ifndef VECSYNC_ENTITIES_PROPERTY_FILTER_H_
#define VECSYNC_ENTITIES_PROPERTY_FILTER_H_

#include <string>

#include "src/common/json.h"

namespace vecsync::entities {

// `default_type` names the property's owner when the filter has no "type" ("event", "person").
std::string RenderPropertyFilter(const Json& filter, const std::string& default_type);

}  // namespace vecsync::entities

#endif  // VECSYNC_ENTITIES_PROPERTY_FILTER_H_
