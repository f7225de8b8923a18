// "concurrency": {"key": "{{input.customer}}", "limit": 5} and
// "rate_limit": {"key": "{{input.customer}}", "per_second": 10, "burst": 20} on a workflow, and
// "concurrency": {"key": ..., "limit": 5, "scope": "payments-api"} on an http step.

#include "engine/detail/checker.h"
#include "engine/detail/step_parser.h"
#include "engine/permit_table.h"

namespace rf::engine::detail {
namespace {

// The key of either: a non-empty string template over input only (it is rendered at the start,
// before any step ran). False: an error was reported.
bool ParseKey(const json::Value& v, const std::string& ptr, json::Template& out, std::string& source,
              Checker& checker) {
  const json::Value* key = v.Find("key");
  const std::string at = ptr + "/key";
  if (key == nullptr) {
    checker.Add(at, ptr.substr(1) + " requires 'key', e.g. \"{{input.customer}}\"");
    return false;
  }
  if (!key->is_string() || key->as_string().empty()) {
    checker.Add(at, "key must be a non-empty string template, e.g. \"{{input.customer}}\"");
    return false;
  }
  std::vector<StepRef> refs;
  auto t = CompileTemplateAt(*key, at, checker, refs);
  if (!refs.empty()) {
    checker.Add(at, "the " + ptr.substr(1) + " key is rendered at the start: it may read input, not steps");
    return false;
  }
  if (!t) return false;
  out = std::move(*t);
  source = key->as_string();
  return true;
}

}  // namespace

std::optional<ConcurrencySpec> ParseConcurrency(const json::Value& v, Checker& checker) {
  const std::string ptr = "/concurrency";
  if (!v.is_object()) {
    checker.Add(ptr, "concurrency must be an object {\"key\", \"limit\"}");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"key", "limit"});
  ConcurrencySpec spec;
  bool ok = ParseKey(v, ptr, spec.key, spec.key_source, checker);
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

std::optional<RateLimitSpec> ParseRateLimit(const json::Value& v, Checker& checker) {
  const std::string ptr = "/rate_limit";
  if (!v.is_object()) {
    checker.Add(ptr, "rate_limit must be an object {\"key\", \"per_second\", \"burst\"?}");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"key", "per_second", "burst"});
  RateLimitSpec spec;
  bool ok = ParseKey(v, ptr, spec.key, spec.key_source, checker);
  const json::Value* rate = v.Find("per_second");
  if (rate == nullptr) {
    checker.Add(ptr + "/per_second", "rate_limit requires 'per_second', the starts per second per key");
    ok = false;
  } else if (auto r = checker.Number(rate, ptr + "/per_second", "per_second", 0, kMaxRatePerSecond)) {
    if (*r <= 0) {
      checker.Add(ptr + "/per_second", "per_second must be above 0");
      ok = false;
    }
    spec.per_second = *r;
  } else {
    ok = false;
  }
  if (const json::Value* burst = v.Find("burst")) {
    if (auto b = checker.Integer(burst, ptr + "/burst", "burst", 1, 1'000'000)) spec.burst = *b;
    else ok = false;
  }
  if (!ok) return std::nullopt;
  return spec;
}

std::optional<DebounceSpec> ParseDebounce(const json::Value& v, Checker& checker) {
  const std::string ptr = "/debounce";
  if (!v.is_object()) {
    checker.Add(ptr, "debounce must be an object {\"key\", \"ms\"}");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"key", "ms"});
  DebounceSpec spec;
  bool ok = ParseKey(v, ptr, spec.key, spec.key_source, checker);
  const json::Value* ms = v.Find("ms");
  if (ms == nullptr) {
    checker.Add(ptr + "/ms", "debounce requires 'ms', the quiet time after the last start");
    ok = false;
  } else if (auto n = checker.Integer(ms, ptr + "/ms", "ms", 1, kMaxDebounceMs)) {
    spec.ms = *n;
  } else {
    ok = false;
  }
  if (!ok) return std::nullopt;
  return spec;
}

std::optional<StepConcurrencySpec> ParseStepConcurrency(const json::Value& v, const std::string& ptr,
                                                        Checker& checker, std::vector<StepRef>& refs) {
  if (!v.is_object()) {
    checker.Add(ptr, "concurrency must be an object {\"key\", \"limit\", \"scope\"?}");
    return std::nullopt;
  }
  checker.UnknownKeys(v, ptr, {"key", "limit", "scope"});
  StepConcurrencySpec spec;
  bool ok = true;
  const std::string key_ptr = Child(ptr, "key");
  if (const json::Value* key = v.Find("key"); key == nullptr) {
    checker.Add(key_ptr, "concurrency requires 'key', e.g. \"{{input.customer}}\" (a constant "
                         "string limits every call of the step together)");
    ok = false;
  } else if (!key->is_string() || key->as_string().empty()) {
    checker.Add(key_ptr, "key must be a non-empty string template, e.g. \"{{input.customer}}\"");
    ok = false;
  } else if (auto t = CompileTemplateAt(*key, key_ptr, checker, refs)) {
    spec.key = std::move(*t);
    spec.key_source = key->as_string();
  } else {
    ok = false;
  }
  const std::string limit_ptr = Child(ptr, "limit");
  if (const json::Value* limit = v.Find("limit"); limit == nullptr) {
    checker.Add(limit_ptr, "concurrency requires 'limit', the calls allowed at once per key");
    ok = false;
  } else if (auto n = checker.Integer(limit, limit_ptr, "limit", 1, kMaxStepConcurrencyLimit)) {
    spec.limit = *n;
  } else {
    ok = false;
  }
  if (const json::Value* scope = v.Find("scope")) {
    const std::string scope_ptr = Child(ptr, "scope");
    if (!scope->is_string() || !IsValidWorkflowName(scope->as_string())) {
      checker.Add(scope_ptr, "scope must be 1 to 128 characters of A-Z a-z 0-9 . _ - (steps of the "
                             "namespace naming the same scope share its limits)");
      ok = false;
    } else {
      spec.scope = scope->as_string();
    }
  }
  if (!ok) return std::nullopt;
  return spec;
}

}  // namespace rf::engine::detail
