#pragma once
// RetryPolicy: how often a failed step attempt is retried and how long to wait
// before each retry. Pure value type, shared read-only by every run of a
// definition; Backoff is deterministic given the caller's random draw so the
// coordinator can record it and tests can pin it.
//
// Layering: the built-in default (Default()) <- the workflow's "retry" object
// <- the step's "retry" object. Each layer is a RetryOverrides (the fields the
// JSON object set) applied with RetryPolicy::With.

#include <optional>
#include <vector>

#include "base/clock.h"

namespace rf::engine {

// Bounds enforced on definitions (engine/definition.h reports violations).
constexpr int kMinRetryAttempts = 1;
constexpr int kMaxRetryAttempts = 100;
constexpr Nanos kMinRetryInitial = 1 * kMillis;
constexpr Nanos kMaxRetryInitial = 3'600'000 * kMillis;  // 1 h
constexpr Nanos kMaxRetryMax = 86'400'000 * kMillis;     // 24 h
constexpr double kMinRetryMultiplier = 1.0;
constexpr double kMaxRetryMultiplier = 10.0;
constexpr double kMinRetryJitter = 0.0;
constexpr double kMaxRetryJitter = 1.0;

// The fields one "retry" object sets; unset fields inherit from the layer below.
struct RetryOverrides {
  std::optional<int> max_attempts;
  std::optional<Nanos> initial;
  std::optional<Nanos> max;
  std::optional<double> multiplier;
  std::optional<double> jitter;
  std::optional<std::vector<int>> on_status;
};

struct RetryPolicy {
  int max_attempts = 3;  // total attempts, the first one included
  Nanos initial = 100 * kMillis;
  Nanos max = 10 * kSeconds;
  double multiplier = 2.0;
  double jitter = 0.2;
  // http steps: 4xx statuses that are retried (5xx and transport errors always
  // are). Sorted, unique.
  std::vector<int> on_status;

  static RetryPolicy Default() { return RetryPolicy{}; }

  // This policy with the fields `o` sets replaced (on_status is normalised).
  RetryPolicy With(const RetryOverrides& o) const;

  // The wait after the `failed_attempts`-th failure (1 = the first attempt
  // failed): min(max, initial * multiplier^(failed_attempts - 1)), scaled by
  // (1 + jitter * (2u - 1)) and clamped to [0, max]. `u01` is a uniform draw
  // in [0, 1] (clamped); u01 = 0.5 gives the unjittered value. Values below 1
  // for failed_attempts count as 1.
  Nanos Backoff(int failed_attempts, double u01) const;

  // Whether another attempt is allowed after `attempts_so_far` attempts.
  bool ShouldRetry(int attempts_so_far) const { return attempts_so_far < max_attempts; }

  // Whether an http response status is retryable under this policy.
  bool RetriesStatus(int status) const;

  friend bool operator==(const RetryPolicy&, const RetryPolicy&) = default;
};

}  // namespace rf::engine
