// Reading a JSON object into a struct, field by field, with errors that name the field. The
// struct's member initializers are the defaults: an optional field that is absent (or null)
// leaves its member as it is, so no default is written twice.
//
// Example:
//   absl::StatusOr<FlushInput> FlushInput::FromJson(const Json& json) {
//     FlushInput in;
//     JsonFields f(json, "sync-flush input");
//     f.Required("domain", &in.domain);
//     f.Optional("max_batches", &in.max_batches);
//     RETURN_IF_ERROR(f.status());  // INVALID_ARGUMENT: "sync-flush input: domain is required"
//     return in;
//   }
//
// Thread-compatible. The object must outlive the reader.
#ifndef VECSYNC_COMMON_JSON_FIELDS_H_
#define VECSYNC_COMMON_JSON_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/common/json.h"

namespace vecsync {

class JsonFields {
 public:
  // `what` names the document in errors ("sync-flush input"). A value that is not an object
  // is an error at once.
  JsonFields(const Json& object, absl::string_view what);
  // The reader keeps a reference: a temporary would be gone before it is read.
  JsonFields(Json&& object, absl::string_view what) = delete;

  // Reads `key` into `*out`; an error when it is absent, null or of another type. Integers
  // must fit their type; a vector's elements must all have the element type.
  template <typename T>
  void Required(const char* key, T* out) {
    const Json* v = Find(key);
    if (v == nullptr) return Fail(key, "is required");
    Read(key, *v, out);
  }

  // Reads `key` into `*out` when present and not null; leaves `*out` as it is otherwise.
  template <typename T>
  void Optional(const char* key, T* out) {
    if (const Json* v = Find(key)) Read(key, *v, out);
  }
  // Sets `*out` to nullopt when `key` is absent or null.
  template <typename T>
  void Optional(const char* key, std::optional<T>* out) {
    const Json* v = Find(key);
    if (v == nullptr) {
      out->reset();
      return;
    }
    T value{};
    if (Read(key, *v, &value)) *out = std::move(value);
  }

  // The member `key` (null when absent), for a nested document read by its own reader.
  const Json& Member(const char* key) const { return JsonMember(object_, key); }
  bool Has(const char* key) const { return Find(key) != nullptr; }

  // An error for every member not in `known`, naming it and the known ones.
  void RejectUnknown(std::initializer_list<absl::string_view> known);

  // Records an error of the caller's own about `key` (a value out of range, say).
  void Fail(const char* key, absl::string_view problem);

  // OK, or INVALID_ARGUMENT with the first problem found.
  absl::Status status() const { return status_; }

 private:
  // The member, or nullptr when absent or null.
  const Json* Find(const char* key) const;

  bool Read(const char* key, const Json& v, std::string* out);
  bool Read(const char* key, const Json& v, bool* out);
  bool Read(const char* key, const Json& v, int* out);
  bool Read(const char* key, const Json& v, int64_t* out);
  bool Read(const char* key, const Json& v, std::vector<int64_t>* out);
  bool Read(const char* key, const Json& v, std::vector<std::string>* out);
  bool Read(const char* key, const Json& v, Json* out);
  bool Mismatch(const char* key, absl::string_view expected, const Json& v);

  const Json& object_;
  const std::string what_;
  absl::Status status_;
};

}  // namespace vecsync

#endif  // VECSYNC_COMMON_JSON_FIELDS_H_
