#pragma once
// Private to engine/: the per-object halves of CompileDefinition. Each reads
// one part of the document, reports what is wrong with it to the Checker, and
// returns what it could compile; cross-step rules (ids, dependencies, cycles,
// which steps a template may reference) are checked in definition.cc.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/definition.h"
#include "engine/detail/checker.h"
#include "engine/retry_policy.h"
#include "json/value.h"

namespace rf::engine::detail {

// A reference to the output of step `step_id` from a template or condition at
// `pointer`.
struct StepRef {
  std::string pointer;
  std::string step_id;
};

// One "depends_on" entry that is a string, not the step itself and not a
// repeat; `index` is resolved later (the step's source index).
struct DependencyRef {
  std::string pointer;
  std::string id;
  uint32_t index = UINT32_MAX;
};

struct StepDraft {
  Step step;            // everything that compiled; step.id may be empty
  bool has_id = false;  // step.id is a string (maybe invalid) other steps can name
  std::vector<DependencyRef> depends_on;
  std::vector<StepRef> refs;  // from when, output, request
};

// The "retry" object at `ptr`. `allow_on_status`: the key is accepted (http
// steps and the workflow default). `base` is the layer below, used to check
// initial_ms <= max_ms on the effective values.
std::optional<RetryOverrides> ParseRetry(const json::Value& v, const std::string& ptr,
                                         bool allow_on_status, const RetryPolicy& base,
                                         Checker& checker);

// A "circuit_breaker" object at `ptr` (engine/detail/breaker_parser.cc). `allow_key`: a step's
// (its key template's step references go to `refs`); the daemon default has no key.
std::optional<BreakerSpec> ParseBreaker(const json::Value& v, const std::string& ptr,
                                        bool allow_key, Checker& checker,
                                        std::vector<StepRef>& refs);

// The step object at `ptr` ("/steps/<source_index>").
StepDraft ParseStep(const json::Value& v, const std::string& ptr, uint32_t source_index,
                    const RetryPolicy& workflow_retry, Checker& checker);

// An http step's "request" object at `ptr` (also a map's http items).
std::optional<HttpRequestSpec> ParseRequest(const json::Value& v, const std::string& ptr,
                                            Checker& checker, std::vector<StepRef>& refs);

// A map step's "items", "concurrency", "on_failure" and "step" (engine/detail/map_parser.cc);
// an http item's "retry" layers over `workflow_retry`.
void ParseMapStep(const json::Value& v, const std::string& ptr, Step& step, Checker& checker,
                  std::vector<StepRef>& refs, const RetryPolicy& workflow_retry);

// Template and condition compilation, reporting errors at the exact string
// inside and collecting the steps.<id> references (engine/detail/expressions.cc).
// {{secrets.NAME}} is an error (at the string holding it) unless `secrets` is kAllow: an http
// step's url, headers and body, the only places rendered when the step runs and never stored.
enum class SecretRefs : bool { kRefuse, kAllow };
std::optional<json::Template> CompileTemplateAt(const json::Value& v, const std::string& ptr,
                                                Checker& checker, std::vector<StepRef>& refs,
                                                SecretRefs secrets = SecretRefs::kRefuse);
std::optional<json::Condition> CompileConditionAt(const std::string& text, const std::string& ptr,
                                                  Checker& checker, std::vector<StepRef>& refs);

// A workflow's "concurrency" (engine/detail/flow_parser.cc).
std::optional<ConcurrencySpec> ParseConcurrency(const json::Value& v, Checker& checker);
std::optional<RateLimitSpec> ParseRateLimit(const json::Value& v, Checker& checker);
std::optional<DebounceSpec> ParseDebounce(const json::Value& v, Checker& checker);
// An http step's "concurrency" at `ptr` (its key template's step references go to `refs`).
std::optional<StepConcurrencySpec> ParseStepConcurrency(const json::Value& v, const std::string& ptr,
                                                        Checker& checker, std::vector<StepRef>& refs);

}  // namespace rf::engine::detail
