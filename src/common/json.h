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

// The member `key` of `object`, or null when `object` has no such member. Never copies.
inline const Json& JsonMember(const Json& object, const char* key) {
  static const Json* const kNull = new Json();
  if (!object.is_object()) return *kNull;
  auto it = object.find(key);
  return it == object.end() ? *kNull : *it;
}

// The member `key` of `object` as text: strings as they are, other values as JSON, "" when
// absent or null.
inline std::string JsonText(const Json& object, const char* key) {
  const Json& v = JsonMember(object, key);
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace vecsync

#endif  // VECSYNC_COMMON_JSON_H_
