#include "engine/retry_policy.h"

#include <doctest/doctest.h>

#include <vector>

using rf::kMillis;
using rf::kSeconds;
using rf::Nanos;
using rf::engine::RetryOverrides;
using rf::engine::RetryPolicy;

TEST_SUITE("engine.retry_policy") {
  TEST_CASE("the built-in default is 3 attempts, 100ms doubling to 10s, 20% jitter") {
    RetryPolicy p = RetryPolicy::Default();
    CHECK(p.max_attempts == 3);
    CHECK(p.initial == 100 * kMillis);
    CHECK(p.max == 10 * kSeconds);
    CHECK(p.multiplier == 2.0);
    CHECK(p.jitter == 0.2);
    CHECK(p.on_status.empty());
  }

  TEST_CASE("without jitter the schedule is initial times multiplier to the n-1") {
    RetryPolicy p;
    p.jitter = 0;
    CHECK(p.Backoff(1, 0.0) == 100 * kMillis);
    CHECK(p.Backoff(2, 0.0) == 200 * kMillis);
    CHECK(p.Backoff(3, 1.0) == 400 * kMillis);
    CHECK(p.Backoff(4, 0.3) == 800 * kMillis);
    CHECK(p.Backoff(7, 0.5) == 6400 * kMillis);
  }

  TEST_CASE("a fractional multiplier gives exact rounded nanoseconds") {
    RetryPolicy p;
    p.jitter = 0;
    p.initial = 1000 * kMillis;
    p.multiplier = 1.5;
    CHECK(p.Backoff(1, 0.5) == 1000 * kMillis);
    CHECK(p.Backoff(2, 0.5) == 1500 * kMillis);
    CHECK(p.Backoff(3, 0.5) == 2250 * kMillis);
  }

  TEST_CASE("the delay is capped at max") {
    RetryPolicy p;
    p.jitter = 0;
    CHECK(p.Backoff(8, 0.5) == 10 * kSeconds);  // 12.8s uncapped
    CHECK(p.Backoff(100, 0.5) == 10 * kSeconds);
  }

  TEST_CASE("huge exponents do not overflow") {
    RetryPolicy p;
    p.multiplier = 10;
    p.max = 86'400 * kSeconds;
    CHECK(p.Backoff(100, 0.5) == 86'400 * kSeconds);
    CHECK(p.Backoff(1'000'000, 1.0) == 86'400 * kSeconds);
  }

  TEST_CASE("jitter scales the delay within plus or minus the jitter fraction") {
    RetryPolicy p;  // jitter 0.2
    CHECK(p.Backoff(1, 0.0) == 80 * kMillis);
    CHECK(p.Backoff(1, 0.5) == 100 * kMillis);
    CHECK(p.Backoff(1, 1.0) == 120 * kMillis);
    for (int i = 0; i <= 100; ++i) {
      const double u = i / 100.0;
      const Nanos d = p.Backoff(3, u);
      CHECK(d >= 320 * kMillis);
      CHECK(d <= 480 * kMillis);
    }
  }

  TEST_CASE("jitter never pushes the delay above max or below zero") {
    RetryPolicy p;
    p.jitter = 1.0;
    CHECK(p.Backoff(1, 0.0) == 0);
    CHECK(p.Backoff(1, 1.0) == 200 * kMillis);
    CHECK(p.Backoff(20, 1.0) == 10 * kSeconds);  // 2x the cap, clamped
    CHECK(p.Backoff(20, 0.0) == 0);
  }

  TEST_CASE("out-of-range draws and attempt numbers are clamped") {
    RetryPolicy p;
    CHECK(p.Backoff(1, -3.0) == p.Backoff(1, 0.0));
    CHECK(p.Backoff(1, 7.0) == p.Backoff(1, 1.0));
    CHECK(p.Backoff(0, 0.5) == 100 * kMillis);
    CHECK(p.Backoff(-5, 0.5) == 100 * kMillis);
  }

  TEST_CASE("retries are allowed until max_attempts attempts have been made") {
    RetryPolicy p;
    p.max_attempts = 3;
    CHECK(p.ShouldRetry(1));
    CHECK(p.ShouldRetry(2));
    CHECK_FALSE(p.ShouldRetry(3));
    p.max_attempts = 1;
    CHECK_FALSE(p.ShouldRetry(1));
  }

  TEST_CASE("step overrides replace only the fields they set") {
    RetryOverrides workflow;
    workflow.max_attempts = 5;
    workflow.max = 60 * kSeconds;
    RetryOverrides step;
    step.initial = 250 * kMillis;
    step.jitter = 0.0;

    RetryPolicy p = RetryPolicy::Default().With(workflow).With(step);
    CHECK(p.max_attempts == 5);
    CHECK(p.initial == 250 * kMillis);
    CHECK(p.max == 60 * kSeconds);
    CHECK(p.multiplier == 2.0);
    CHECK(p.jitter == 0.0);
    CHECK(p.Backoff(3, 0.9) == 1000 * kMillis);
  }

  TEST_CASE("a later layer wins over an earlier one for the same field") {
    RetryOverrides workflow;
    workflow.max_attempts = 5;
    RetryOverrides step;
    step.max_attempts = 2;
    CHECK(RetryPolicy::Default().With(workflow).With(step).max_attempts == 2);
    CHECK(RetryPolicy::Default().With(step).With(workflow).max_attempts == 5);
  }

  TEST_CASE("on_status is normalised and selects retryable 4xx responses") {
    RetryOverrides o;
    o.on_status = std::vector<int>{429, 408, 429};
    RetryPolicy p = RetryPolicy::Default().With(o);
    CHECK(p.on_status == std::vector<int>{408, 429});
    CHECK(p.RetriesStatus(429));
    CHECK(p.RetriesStatus(408));
    CHECK_FALSE(p.RetriesStatus(404));
    CHECK(p.RetriesStatus(503));
    CHECK_FALSE(RetryPolicy::Default().RetriesStatus(429));
  }
}
