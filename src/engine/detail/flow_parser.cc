// "concurrency": {"key": "{{input.customer}}", "limit": 5} on a workflow.

#include "engine/detail/checker.h"
#include "engine/detail/step_parser.h"

namespace rf::engine::detail {

std::optional<ConcurrencySpec> ParseConcurrency(const json::Value& v, Checker& checker) {
  const std::string ptr = "/concurrency";
  if (!v.is_object()) {
    checker.Add(ptr, "concurrency must be an object {\"key\", \"limit\"}");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"key", "limit"});
  ConcurrencySpec spec;
  bool ok = true;
  const json::Value* key = v.Find("key");
  if (key == nullptr) {
    checker.Add(ptr + "/key", "concurrency requires 'key', e.g. \"{{input.customer}}\"");
    ok = false;
  } else if (!key->is_string() || key->as_string().empty()) {
    checker.Add(ptr + "/key", "key must be a non-empty string template, e.g. \"{{input.customer}}\"");
    ok = false;
  } else {
    // The key is rendered when the run is started, before any step ran: only input and run.
    std::vector<StepRef> refs;
    auto t = CompileTemplateAt(*key, ptr + "/key", checker, refs);
    if (!refs.empty()) {
      checker.Add(ptr + "/key", "the concurrency key is rendered at the start: it may read input, not steps");
      ok = false;
    } else if (t) {
      spec.key = std::move(*t);
    } else {
      ok = false;
    }
  }
  const json::Value* limit = v.Find("limit");
  if (limit == nullptr) {
    checker.Add(ptr + "/limit", "concurrency requires 'limit', the live runs allowed per key");
    ok = false;
  } else if (auto n = checker.Integer(limit, ptr + "/limit", "limit", 1, kMaxConcurrencyLimit)) {
    spec.limit = *n;
  } else {
    ok = false;
  }
  if (!ok) return std::nullopt;
  return spec;
}

}  // namespace rf::engine::detail
