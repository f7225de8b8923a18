#pragma once
// Circuit breakers for http steps (issue 14, item 6): the settings a step (or the daemon's
// --circuit-breaker default) gives, and the state machine of one breaker. Pure: no I/O, no
// clock of its own (every call takes `now`, monotonic), so tests drive it step by step.
//
//   closed ──(consecutive failures, or failure rate over the window)──▶ open
//   open ──(cool_down passed, at the next call)──▶ half_open
//   half_open ──(half_open_probes probes succeeded)──▶ closed
//   half_open ──(a probe failed)──▶ open (a new cool_down)
//
// What is a failure (Verdict): the host could not be reached or did not answer (connect
// refused/reset, DNS failure, timeout, a malformed or truncated response), or it answered 5xx
// or 429 (it asks us to back off). Any other response is a success: the host is up, the
// request is the problem. Neutral (neither): nothing reached the host or our side gave up
// (cancelled, egress denied, an invalid request, a response over our size limits).
//
// Only calls admitted in the current state count: a call admitted while closed that ends
// after the breaker opened does not extend or end the open period; in half_open only the
// probes decide.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "base/clock.h"

namespace rf::engine {

// Bounds enforced on definitions and on --circuit-breaker (engine/detail/breaker_parser.cc).
constexpr uint32_t kMaxBreakerConsecutive = 10'000;
constexpr uint32_t kMaxBreakerMinCalls = 1'000'000;
constexpr Nanos kMinBreakerWindow = 1 * kSeconds;
constexpr Nanos kMaxBreakerWindow = 3'600 * kSeconds;
constexpr Nanos kMinBreakerCoolDown = 10 * kMillis;
constexpr Nanos kMaxBreakerCoolDown = 3'600 * kSeconds;
constexpr uint32_t kMaxBreakerProbes = 100;
constexpr size_t kMaxBreakerKeyBytes = 256;  // a rendered key is cut there

enum class WhenOpen : uint8_t {
  kFail,   // the attempt fails at once, retryably: "circuit open for <key>"
  kDelay,  // the attempt waits (not calling the host) until the breaker lets a call through
};
std::string_view WhenOpenName(WhenOpen w);  // "fail", "delay"

struct BreakerSettings {
  uint32_t consecutive_failures = 0;  // 0: no consecutive-failure trigger
  double rate_threshold = 0;          // 0: no failure-rate trigger; else in (0, 1]
  Nanos rate_window = 30 * kSeconds;
  uint32_t rate_min_calls = 20;
  Nanos cool_down = 30 * kSeconds;
  uint32_t half_open_probes = 1;
  WhenOpen when_open = WhenOpen::kFail;

  // Stable text of every field; two breakers with the same key and settings are one.
  std::string Fingerprint() const;
  friend bool operator==(const BreakerSettings&, const BreakerSettings&) = default;
};

class CircuitBreaker {
 public:
  enum class State : uint8_t { kClosed, kOpen, kHalfOpen };
  enum class Verdict : uint8_t { kSuccess, kFailure, kNeutral };

  struct Admission {
    bool admitted = false;
    bool probe = false;    // admitted as a half-open probe: its Record must say so
    Nanos retry_at = 0;    // refused while open: when the next probe may go; refused in
                           // half_open (probes in flight): 0, after their outcome
    std::optional<State> to;  // the transition this call caused (open -> half_open)
  };

  explicit CircuitBreaker(BreakerSettings settings) : settings_(settings) {}

  Admission Admit(Nanos now);
  // The outcome of an admitted call; returns the transition it caused, if any.
  std::optional<State> Record(Verdict v, bool probe, Nanos now);

  State state() const { return state_; }
  const BreakerSettings& settings() const { return settings_; }
  uint32_t consecutive_failures() const { return consecutive_; }
  // Calls and failures counted in the failure-rate window at `now` (0 without failure_rate).
  struct WindowCount {
    uint32_t calls = 0;
    uint32_t failures = 0;
  };
  WindowCount Window(Nanos now) const;
  Nanos opened_at() const { return opened_at_; }    // the last transition to open (0: never)
  Nanos open_until() const { return open_until_; }  // open: when the next call probes
  uint32_t probes_in_flight() const { return probes_in_flight_; }

 private:
  static constexpr size_t kBuckets = 10;
  struct Bucket {
    int64_t epoch = -1;  // now / bucket length; -1: empty
    uint32_t calls = 0;
    uint32_t failures = 0;
  };

  Nanos BucketLength() const { return settings_.rate_window / static_cast<Nanos>(kBuckets); }
  void Count(bool failure, Nanos now);
  bool Tripped(Nanos now) const;
  void Open(Nanos now);
  void Close();

  BreakerSettings settings_;
  State state_ = State::kClosed;
  uint32_t consecutive_ = 0;
  std::array<Bucket, kBuckets> window_{};
  Nanos opened_at_ = 0;
  Nanos open_until_ = 0;
  uint32_t probes_in_flight_ = 0;
  uint32_t probe_successes_ = 0;
};

std::string_view BreakerStateName(CircuitBreaker::State s);  // "closed", "open", "half_open"

}  // namespace rf::engine
