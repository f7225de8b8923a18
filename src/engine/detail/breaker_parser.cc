// The "circuit_breaker" object of http steps and the daemon's --circuit-breaker default: one
// grammar for both (the default has no "key").

#include <string_view>

#include "base/duration.h"
#include "engine/detail/step_parser.h"

namespace rf::engine::detail {
namespace {

std::string DescribeDuration(Nanos d) {
  if (d % kSeconds == 0) return std::to_string(d / kSeconds) + "s";
  return std::to_string(d / kMillis) + "ms";
}

// A duration string of base/duration.h ("30s", "500ms") within [min, max].
std::optional<Nanos> Duration(const json::Value* v, const std::string& ptr, std::string_view field,
                              Nanos min, Nanos max, Checker& checker) {
  if (v == nullptr) return std::nullopt;
  const std::string range = DescribeDuration(min) + " to " + DescribeDuration(max);
  if (!v->is_string()) {
    checker.Add(ptr, std::string(field) + " must be a duration string like \"30s\" or \"500ms\" (" +
                         range + ")");
    return std::nullopt;
  }
  auto d = ParseDuration(v->as_string());
  if (!d) {
    checker.Add(ptr, std::string(field) + " " + Quote(v->as_string()) + ": " + d.error().context);
    return std::nullopt;
  }
  if (*d < min || *d > max) {
    checker.Add(ptr, std::string(field) + " must be " + range + ", not " + Quote(v->as_string()));
    return std::nullopt;
  }
  return *d;
}

void ParseRate(const json::Value& v, const std::string& ptr, BreakerSettings& s, Checker& checker) {
  if (!v.is_object()) {
    checker.Add(ptr, "failure_rate must be an object {threshold, window, min_calls}");
    return;
  }
  checker.UnknownKeys(v, ptr, {"threshold", "window", "min_calls"});
  const json::Value* threshold = v.Find("threshold");
  if (threshold == nullptr) {
    checker.Add(Child(ptr, "threshold"), "failure_rate requires 'threshold' (a fraction in (0, 1])");
  } else if (!threshold->is_number() || !(threshold->as_double() > 0) ||
             threshold->as_double() > 1) {
    checker.Add(Child(ptr, "threshold"),
                "threshold must be a number greater than 0 and at most 1 (0.5: half the calls failed)");
  } else {
    s.rate_threshold = threshold->as_double();
  }
  if (auto w = Duration(v.Find("window"), Child(ptr, "window"), "window", kMinBreakerWindow,
                        kMaxBreakerWindow, checker))
    s.rate_window = *w;
  if (auto n = checker.Integer(v.Find("min_calls"), Child(ptr, "min_calls"), "min_calls", 1,
                               kMaxBreakerMinCalls))
    s.rate_min_calls = static_cast<uint32_t>(*n);
}

}  // namespace

std::optional<BreakerSpec> ParseBreaker(const json::Value& v, const std::string& ptr,
                                        bool allow_key, Checker& checker,
                                        std::vector<StepRef>& refs) {
  if (!v.is_object()) {
    checker.Add(ptr, "circuit_breaker must be an object (its settings, {} for the defaults) or "
                     "false (no breaker)");
    return std::nullopt;
  }
  const size_t errors_before = checker.size();
  checker.UnknownKeys(v, ptr, {"key", "consecutive_failures", "failure_rate", "cool_down",
                               "half_open_probes", "when_open"});
  if (!allow_key && v.Find("key") != nullptr)
    checker.Add(Child(ptr, "key"),
                "the daemon's default breaks per host; name a key on a step's circuit_breaker");
  BreakerSpec spec;
  BreakerSettings& s = spec.settings;

  if (const json::Value* key = v.Find("key"); key != nullptr && allow_key) {
    const std::string key_ptr = Child(ptr, "key");
    if (!key->is_string() || key->as_string().empty()) {
      checker.Add(key_ptr, "key must be a non-empty string template, e.g. \"{{input.region}}\"");
    } else {
      spec.key = CompileTemplateAt(*key, key_ptr, checker, refs);
    }
  }
  if (auto n = checker.Integer(v.Find("consecutive_failures"), Child(ptr, "consecutive_failures"),
                               "consecutive_failures", 1, kMaxBreakerConsecutive))
    s.consecutive_failures = static_cast<uint32_t>(*n);
  if (const json::Value* rate = v.Find("failure_rate"))
    ParseRate(*rate, Child(ptr, "failure_rate"), s, checker);
  if (auto d = Duration(v.Find("cool_down"), Child(ptr, "cool_down"), "cool_down",
                        kMinBreakerCoolDown, kMaxBreakerCoolDown, checker))
    s.cool_down = *d;
  if (auto n = checker.Integer(v.Find("half_open_probes"), Child(ptr, "half_open_probes"),
                               "half_open_probes", 1, kMaxBreakerProbes))
    s.half_open_probes = static_cast<uint32_t>(*n);
  if (const json::Value* when = v.Find("when_open")) {
    const std::string when_ptr = Child(ptr, "when_open");
    if (!when->is_string() || (when->as_string() != "fail" && when->as_string() != "delay")) {
      checker.Add(when_ptr, "when_open must be \"fail\" (the attempt fails, retryably) or "
                            "\"delay\" (it waits for the breaker)");
    } else {
      s.when_open = when->as_string() == "delay" ? WhenOpen::kDelay : WhenOpen::kFail;
    }
  }
  if (checker.size() != errors_before) return std::nullopt;
  // No trigger named: trip after 5 consecutive failures.
  if (s.consecutive_failures == 0 && s.rate_threshold <= 0) s.consecutive_failures = 5;
  return spec;
}

}  // namespace rf::engine::detail
