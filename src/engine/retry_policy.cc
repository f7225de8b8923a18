#include "engine/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace rf::engine {

RetryPolicy RetryPolicy::With(const RetryOverrides& o) const {
  RetryPolicy p = *this;
  if (o.max_attempts) p.max_attempts = *o.max_attempts;
  if (o.initial) p.initial = *o.initial;
  if (o.max) p.max = *o.max;
  if (o.multiplier) p.multiplier = *o.multiplier;
  if (o.jitter) p.jitter = *o.jitter;
  if (o.on_status) {
    p.on_status = *o.on_status;
    std::sort(p.on_status.begin(), p.on_status.end());
    p.on_status.erase(std::unique(p.on_status.begin(), p.on_status.end()), p.on_status.end());
  }
  return p;
}

Nanos RetryPolicy::Backoff(int failed_attempts, double u01) const {
  const int n = std::max(failed_attempts, 1);
  const double cap = static_cast<double>(std::max<Nanos>(max, 0));
  // Doubles throughout: initial * multiplier^99 overflows int64 long before
  // the cap applies, but in double it only grows towards inf and min() takes it.
  double base = static_cast<double>(initial) * std::pow(multiplier, n - 1);
  if (!(base <= cap)) base = cap;  // also catches NaN from nonsense fields
  if (std::isnan(u01)) u01 = 0.5;
  const double u = std::clamp(u01, 0.0, 1.0);
  double delay = base * (1.0 + jitter * (2.0 * u - 1.0));
  delay = std::clamp(delay, 0.0, cap);
  return static_cast<Nanos>(std::llround(delay));
}

bool RetryPolicy::RetriesStatus(int status) const {
  if (status >= 500 && status <= 599) return true;
  return std::binary_search(on_status.begin(), on_status.end(), status);
}

}  // namespace rf::engine
