#include "src/common/json_fields.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vecsync {
namespace {

// A value as the error shows it: at most 80 characters of its JSON.
std::string Shown(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 80) text = absl::StrCat(text.substr(0, 77), "...");
  return text;
}

}  // namespace

JsonFields::JsonFields(const Json& object, absl::string_view what) : object_(object), what_(what) {
  if (!object_.is_object()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(what_, " must be a JSON object, got ", Shown(object_)));
  }
}

const Json* JsonFields::Find(const char* key) const {
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonFields::RejectUnknown(std::initializer_list<absl::string_view> known) {
  if (!object_.is_object()) return;
  for (const auto& [key, value] : object_.items()) {
    bool found = false;
    for (absl::string_view k : known) found = found || k == key;
    if (!found && status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          "unknown ", what_, " field '", key, "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
}

void JsonFields::Fail(const char* key, absl::string_view problem) {
  if (!status_.ok()) return;  // The first problem is the one reported.
  status_ = absl::InvalidArgumentError(absl::StrCat(what_, ": ", key, " ", problem));
}

bool JsonFields::Mismatch(const char* key, absl::string_view expected, const Json& v) {
  Fail(key, absl::StrCat("must be ", expected, ", got ", Shown(v)));
  return false;
}

bool JsonFields::Read(const char* key, const Json& v, std::string* out) {
  if (!v.is_string()) return Mismatch(key, "a string", v);
  *out = v.get<std::string>();
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, bool* out) {
  if (!v.is_boolean()) return Mismatch(key, "true or false", v);
  *out = v.get<bool>();
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, int* out) {
  int64_t wide = 0;
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX) ||
      (wide = v.get<int64_t>()) < std::numeric_limits<int>::min() ||
      wide > std::numeric_limits<int>::max()) {
    return Mismatch(key, "a 32-bit integer", v);
  }
  *out = static_cast<int>(wide);
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, int64_t* out) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX)) {
    return Mismatch(key, "an integer", v);
  }
  *out = v.get<int64_t>();
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, std::vector<int64_t>* out) {
  if (!v.is_array()) return Mismatch(key, "an array of integers", v);
  std::vector<int64_t> values;
  values.reserve(v.size());
  for (const Json& e : v) {
    if (!e.is_number_integer() || (e.is_number_unsigned() && e.get<uint64_t>() > INT64_MAX)) {
      return Mismatch(key, "an array of integers", v);
    }
    values.push_back(e.get<int64_t>());
  }
  *out = std::move(values);
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, std::vector<std::string>* out) {
  if (!v.is_array()) return Mismatch(key, "an array of strings", v);
  std::vector<std::string> values;
  values.reserve(v.size());
  for (const Json& e : v) {
    if (!e.is_string()) return Mismatch(key, "an array of strings", v);
    values.push_back(e.get<std::string>());
  }
  *out = std::move(values);
  return true;
}

bool JsonFields::Read(const char* key, const Json& v, Json* out) {
  *out = v;
  return true;
}

}  // namespace vecsync
