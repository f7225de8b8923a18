#include "engine/breaker.h"

#include <cstdio>

namespace rf::engine {

std::string_view WhenOpenName(WhenOpen w) { return w == WhenOpen::kDelay ? "delay" : "fail"; }

std::string_view BreakerStateName(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

std::string BreakerSettings::Fingerprint() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "c%u r%.17g w%lld m%u d%lld p%u %s", consecutive_failures,
                rate_threshold, static_cast<long long>(rate_window), rate_min_calls,
                static_cast<long long>(cool_down), half_open_probes,
                when_open == WhenOpen::kDelay ? "delay" : "fail");
  return buf;
}

CircuitBreaker::Admission CircuitBreaker::Admit(Nanos now) {
  Admission a;
  if (state_ == State::kOpen) {
    if (now < open_until_) {
      a.retry_at = open_until_;
      return a;
    }
    state_ = State::kHalfOpen;
    probes_in_flight_ = 0;
    probe_successes_ = 0;
    a.to = State::kHalfOpen;
  }
  if (state_ == State::kHalfOpen) {
    // Probes that succeeded plus those in flight: no more than half_open_probes calls go
    // through before the verdict.
    if (probes_in_flight_ + probe_successes_ >= settings_.half_open_probes) return a;
    ++probes_in_flight_;
    a.admitted = true;
    a.probe = true;
    return a;
  }
  a.admitted = true;
  return a;
}

std::optional<CircuitBreaker::State> CircuitBreaker::Record(Verdict v, bool probe, Nanos now) {
  if (probe) {
    if (state_ != State::kHalfOpen) return std::nullopt;  // a newer period decided already
    if (probes_in_flight_ > 0) --probes_in_flight_;
    if (v == Verdict::kFailure) {
      Open(now);
      return State::kOpen;
    }
    if (v == Verdict::kSuccess && ++probe_successes_ >= settings_.half_open_probes) {
      Close();
      return State::kClosed;
    }
    return std::nullopt;
  }
  if (state_ != State::kClosed || v == Verdict::kNeutral) return std::nullopt;
  Count(v == Verdict::kFailure, now);
  if (v == Verdict::kSuccess) {
    consecutive_ = 0;
    return std::nullopt;
  }
  ++consecutive_;
  if (!Tripped(now)) return std::nullopt;
  Open(now);
  return State::kOpen;
}

void CircuitBreaker::Count(bool failure, Nanos now) {
  if (settings_.rate_threshold <= 0) return;
  const int64_t epoch = now / BucketLength();
  Bucket& b = window_[static_cast<size_t>(epoch % static_cast<int64_t>(kBuckets))];
  if (b.epoch != epoch) b = Bucket{epoch, 0, 0};
  ++b.calls;
  if (failure) ++b.failures;
}

CircuitBreaker::WindowCount CircuitBreaker::Window(Nanos now) const {
  WindowCount n;
  if (settings_.rate_threshold <= 0) return n;
  const int64_t epoch = now / BucketLength();
  for (const Bucket& b : window_) {
    if (b.epoch < 0 || b.epoch <= epoch - static_cast<int64_t>(kBuckets)) continue;
    n.calls += b.calls;
    n.failures += b.failures;
  }
  return n;
}

bool CircuitBreaker::Tripped(Nanos now) const {
  if (settings_.consecutive_failures > 0 && consecutive_ >= settings_.consecutive_failures)
    return true;
  if (settings_.rate_threshold <= 0) return false;
  const WindowCount w = Window(now);
  return w.calls >= settings_.rate_min_calls && w.calls > 0 &&
         static_cast<double>(w.failures) >= settings_.rate_threshold * w.calls;
}

void CircuitBreaker::Open(Nanos now) {
  state_ = State::kOpen;
  opened_at_ = now;
  open_until_ = now + settings_.cool_down;
  probes_in_flight_ = 0;
  probe_successes_ = 0;
}

void CircuitBreaker::Close() {
  state_ = State::kClosed;
  consecutive_ = 0;
  window_.fill(Bucket{});
  probes_in_flight_ = 0;
  probe_successes_ = 0;
}

}  // namespace rf::engine
