// JSON documents (workflow inputs, results, progress, heartbeat details) are nlohmann::json.
#ifndef VECSYNC_COMMON_JSON_H_
#define VECSYNC_COMMON_JSON_H_

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

}  // namespace vecsync

#endif  // VECSYNC_COMMON_JSON_H_
