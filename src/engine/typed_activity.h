// Activities whose input and result are structs: one parse and one serialize per message, at
// the boundary, and the struct everywhere else.
//
// A message type M provides
//   Json ToJson() const;
//   static absl::StatusOr<M> FromJson(const Json& json);  // INVALID_ARGUMENT naming the field
//
// An ActivityType ties an activity's name to its input and result types, so the workflow that
// starts it and the worker that runs it cannot disagree on them.
//
// Example:
//   inline constexpr ActivityType<SelectInput, SelectResult> kSelect{"sync-select"};
//
//   // Where the activity is registered:
//   RETURN_IF_ERROR(RegisterActivity(registry, kSelect,
//       [env](ActivityContext& ctx, const SelectInput& in) { return Select(*env, ctx, in); }));
//
//   // In the workflow:
//   ASSIGN_OR_RETURN(SelectResult page, ExecuteActivity(ctx, kSelect, input, options));
//   ASSIGN_OR_RETURN(TypedHandle<SelectResult> h, StartActivity(ctx, kSelect, input, options));
//   ASSIGN_OR_RETURN(SelectResult later, Await(ctx, h));
//
// An input that does not parse fails the attempt with the non-retryable error type BAD_INPUT
// (code INVALID_ARGUMENT): running it again cannot help. A recorded result that does not parse
// fails the workflow task with the parser's error.
#ifndef VECSYNC_ENGINE_TYPED_ACTIVITY_H_
#define VECSYNC_ENGINE_TYPED_ACTIVITY_H_

#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "src/engine/errors.h"
#include "src/engine/registry.h"
#include "src/engine/workflow_context.h"

namespace vecsync::engine {

// The error type of an activity input that does not parse.
inline constexpr char kBadInputErrorType[] = "BAD_INPUT";

// The result of an activity that returns nothing: {}.
struct NoResult {
  Json ToJson() const { return Json::object(); }
  static absl::StatusOr<NoResult> FromJson(const Json&) { return NoResult{}; }
};

template <typename Input, typename Result>
struct ActivityType {
  const char* name;
};

// An activity started by StartActivity(), whose result is a Result.
template <typename Result>
struct TypedHandle {
  ActivityHandle handle;
};

template <typename Input, typename Result>
using TypedActivityFunction =
    std::function<absl::StatusOr<Result>(ActivityContext& ctx, const Input& input)>;

template <typename Input, typename Result>
absl::Status RegisterActivity(Registry* registry, ActivityType<Input, Result> type,
                              std::type_identity_t<TypedActivityFunction<Input, Result>> fn) {
  return registry->RegisterActivity(
      type.name,
      [name = std::string(type.name), fn = std::move(fn)](
          ActivityContext& ctx, const Json& json) -> absl::StatusOr<Json> {
        absl::StatusOr<Input> input = Input::FromJson(json);
        if (!input.ok()) {
          return ApplicationError(kBadInputErrorType,
                                  absl::StrCat(name, ": ", input.status().message()),
                                  /*non_retryable=*/true, absl::StatusCode::kInvalidArgument);
        }
        absl::StatusOr<Result> result = fn(ctx, *input);
        if (!result.ok()) return result.status();
        return result->ToJson();
      });
}

template <typename Input, typename Result>
absl::StatusOr<TypedHandle<Result>> StartActivity(WorkflowContext& ctx,
                                                  ActivityType<Input, Result> type,
                                                  const Input& input,
                                                  const ActivityOptions& options) {
  absl::StatusOr<ActivityHandle> handle = ctx.StartActivity(type.name, input.ToJson(), options);
  if (!handle.ok()) return handle.status();
  return TypedHandle<Result>{*handle};
}

template <typename Result>
absl::StatusOr<Result> Await(WorkflowContext& ctx, const TypedHandle<Result>& handle) {
  absl::StatusOr<Json> json = ctx.Await(handle.handle);
  if (!json.ok()) return json.status();
  return Result::FromJson(*json);
}

template <typename Input, typename Result>
absl::StatusOr<Result> ExecuteActivity(WorkflowContext& ctx, ActivityType<Input, Result> type,
                                       const Input& input, const ActivityOptions& options) {
  absl::StatusOr<TypedHandle<Result>> handle = StartActivity(ctx, type, input, options);
  if (!handle.ok()) return handle.status();
  return Await(ctx, *handle);
}

}  // namespace vecsync::engine

#endif  // VECSYNC_ENGINE_TYPED_ACTIVITY_H_
