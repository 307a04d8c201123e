#include "workflows/sync_input.h"

#include "absl/strings/str_cat.h"
#include "entities/registry.h"
#include "src/common/status_macros.h"

namespace vecsync::workflows {
namespace {

absl::Status IntField(const Json& input, const char* key, int lo, int hi, int* out) {
  if (!input.contains(key)) return absl::OkStatus();
  const Json& v = input[key];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " must be an integer from ", lo, " to ", hi, ", got ", v.dump()));
  }
  *out = v.get<int>();
  return absl::OkStatus();
}

absl::Status IntField(const Json& input, const char* key, int lo, int hi, std::optional<int>* out) {
  if (!input.contains(key)) return absl::OkStatus();
  int value = 0;
  RETURN_IF_ERROR(IntField(input, key, lo, hi, &value));
  *out = value;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SyncInput> SyncInput::Parse(const Json& input) {
  static const char* kKnown[] = {"domain",
                                 "start_dt",
                                 "summarize_batch_size",
                                 "embed_batch_size",
                                 "max_parallel_requests",
                                 "insert_batch_size",
                                 "delay_between_batches",
                                 "embedding_version",
                                 "team_ids",
                                 "entity_ids"};
  if (!input.is_object()) return absl::InvalidArgumentError("input must be a JSON object");
  for (const auto& [key, value] : input.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown input field '", key,
          "' (known: domain, start_dt, summarize_batch_size, embed_batch_size, "
          "max_parallel_requests, insert_batch_size, delay_between_batches, embedding_version, "
          "team_ids, entity_ids)"));
    }
  }
  SyncInput in;
  if (!input.contains("domain") || !input["domain"].is_string()) {
    return absl::InvalidArgumentError("domain is required (a string such as \"action\")");
  }
  in.domain = input["domain"].get<std::string>();
  absl::StatusOr<const entities::EntityConfig*> config =
      entities::EntityConfigRegistry::Default().Find(in.domain);
  if (!config.ok()) return config.status();
  if (input.contains("start_dt") && !input["start_dt"].is_null()) {
    absl::Time t;
    std::string error;
    if (!input["start_dt"].is_string() ||
        !absl::ParseTime(absl::RFC3339_full, input["start_dt"].get<std::string>(), &t, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("start_dt must be an RFC 3339 time such as 2025-01-15T00:00:00Z, got ",
                       input["start_dt"].dump()));
    }
    in.start_dt = t;
  }
  absl::Status s;
  if (!(s = IntField(input, "summarize_batch_size", 1, 2048, &in.summarize_batch_size)).ok() ||
      !(s = IntField(input, "embed_batch_size", 1, 2048, &in.embed_batch_size)).ok() ||
      !(s = IntField(input, "max_parallel_requests", 1, 64, &in.max_parallel_requests)).ok() ||
      !(s = IntField(input, "insert_batch_size", 1, 1000000, &in.insert_batch_size)).ok() ||
      !(s = IntField(input, "delay_between_batches", 0, 86400, &in.delay_between_batches)).ok() ||
      !(s = IntField(input, "embedding_version", 0, 1000000, &in.embedding_version)).ok()) {
    return s;
  }
  if (input.contains("team_ids")) {
    if (!input["team_ids"].is_array())
      return absl::InvalidArgumentError("team_ids must be an array of integers");
    for (const Json& t : input["team_ids"]) {
      if (!t.is_number_integer())
        return absl::InvalidArgumentError("team_ids must be an array of integers");
      in.team_ids.push_back(t.get<int64_t>());
    }
  }
  if (input.contains("entity_ids")) {
    if (!input["entity_ids"].is_array())
      return absl::InvalidArgumentError("entity_ids must be an array of strings");
    for (const Json& id : input["entity_ids"]) {
      if (id.is_string()) {
        in.entity_ids.push_back(id.get<std::string>());
      } else if (id.is_number_integer()) {
        in.entity_ids.push_back(std::to_string(id.get<int64_t>()));
      } else {
        return absl::InvalidArgumentError("entity_ids must be an array of strings");
      }
    }
  }
  return in;
}

}  // namespace vecsync::workflows
