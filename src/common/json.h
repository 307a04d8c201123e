// JSON documents (workflow inputs, results, progress, heartbeat details) are nlohmann::json.
#ifndef VECSYNC_COMMON_JSON_H_
#define VECSYNC_COMMON_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace vecsync {

using Json = nlohmann::json;

// Parses `text` as JSON. Returns INVALID_ARGUMENT naming `what` and the parse position on error.
inline absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what) {
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(std::string(what) + " is not valid JSON");
  }
  return parsed;
}

// The member `key` of `object` as text: strings as they are, other values as JSON, "" when
// absent or null.
inline std::string JsonText(const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "";
  const Json& v = object[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace vecsync

#endif  // VECSYNC_COMMON_JSON_H_
