#include "engine/breaker.h"

#include <doctest/doctest.h>

#include "engine/breaker_table.h"

using rf::kMillis;
using rf::kSeconds;
using rf::Nanos;
using rf::engine::BreakerSettings;
using rf::engine::BreakerStats;
using rf::engine::BreakerTable;
using rf::engine::CircuitBreaker;
using State = CircuitBreaker::State;
using Verdict = CircuitBreaker::Verdict;

namespace {

constexpr Nanos kT0 = 1'000 * kSeconds;  // any monotonic origin

BreakerSettings Consecutive(uint32_t n, Nanos cool_down = 10 * kSeconds, uint32_t probes = 1) {
  BreakerSettings s;
  s.consecutive_failures = n;
  s.cool_down = cool_down;
  s.half_open_probes = probes;
  return s;
}

// Admits one call at `now` and records its verdict; returns the transition Record reported.
std::optional<State> Call(CircuitBreaker& b, Nanos now, Verdict v) {
  auto a = b.Admit(now);
  REQUIRE(a.admitted);
  return b.Record(v, a.probe, now);
}

}  // namespace

TEST_SUITE("engine.breaker") {
  TEST_CASE("consecutive failures open the breaker and a success in between resets the count") {
    CircuitBreaker b(Consecutive(3));
    CHECK_FALSE(Call(b, kT0, Verdict::kFailure));
    CHECK_FALSE(Call(b, kT0, Verdict::kFailure));
    CHECK_FALSE(Call(b, kT0, Verdict::kSuccess));
    CHECK(b.consecutive_failures() == 0);
    CHECK_FALSE(Call(b, kT0, Verdict::kFailure));
    CHECK_FALSE(Call(b, kT0, Verdict::kFailure));
    CHECK(Call(b, kT0 + 5, Verdict::kFailure) == State::kOpen);
    CHECK(b.state() == State::kOpen);
    CHECK(b.opened_at() == kT0 + 5);
    CHECK(b.open_until() == kT0 + 5 + 10 * kSeconds);
  }

  TEST_CASE("an open breaker refuses calls until the cool-down, then admits one probe") {
    CircuitBreaker b(Consecutive(1, 2 * kSeconds));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    auto refused = b.Admit(kT0 + kSeconds);
    CHECK_FALSE(refused.admitted);
    CHECK(refused.retry_at == kT0 + 2 * kSeconds);
    CHECK_FALSE(refused.to);

    auto probe = b.Admit(kT0 + 2 * kSeconds);
    CHECK(probe.admitted);
    CHECK(probe.probe);
    CHECK(probe.to == State::kHalfOpen);
    // A second call while the probe is out waits for its outcome (no time given).
    auto second = b.Admit(kT0 + 2 * kSeconds);
    CHECK_FALSE(second.admitted);
    CHECK(second.retry_at == 0);
    CHECK(b.probes_in_flight() == 1);

    CHECK(b.Record(Verdict::kSuccess, true, kT0 + 3 * kSeconds) == State::kClosed);
    CHECK(b.Admit(kT0 + 3 * kSeconds).admitted);
  }

  TEST_CASE("a failed probe opens the breaker again for a new cool-down") {
    CircuitBreaker b(Consecutive(1, kSeconds));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    auto probe = b.Admit(kT0 + kSeconds);
    REQUIRE(probe.probe);
    CHECK(b.Record(Verdict::kFailure, true, kT0 + 1500 * kMillis) == State::kOpen);
    CHECK(b.open_until() == kT0 + 2500 * kMillis);
    CHECK_FALSE(b.Admit(kT0 + 2 * kSeconds).admitted);
  }

  TEST_CASE("with several probes every one must succeed before the breaker closes") {
    CircuitBreaker b(Consecutive(1, kSeconds, 2));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    auto p1 = b.Admit(kT0 + kSeconds);
    auto p2 = b.Admit(kT0 + kSeconds);
    CHECK(p1.probe);
    CHECK(p2.probe);
    CHECK_FALSE(b.Admit(kT0 + kSeconds).admitted);  // two probes at most
    CHECK_FALSE(b.Record(Verdict::kSuccess, true, kT0 + kSeconds));
    CHECK(b.state() == State::kHalfOpen);
    CHECK_FALSE(b.Admit(kT0 + kSeconds).admitted);  // one succeeded, one still out: still two
    CHECK(b.Record(Verdict::kSuccess, true, kT0 + kSeconds) == State::kClosed);
  }

  TEST_CASE("a neutral probe outcome frees its slot without a verdict") {
    CircuitBreaker b(Consecutive(1, kSeconds));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    auto p = b.Admit(kT0 + kSeconds);
    REQUIRE(p.probe);
    CHECK_FALSE(b.Record(Verdict::kNeutral, true, kT0 + kSeconds));
    CHECK(b.state() == State::kHalfOpen);
    auto again = b.Admit(kT0 + kSeconds);
    CHECK(again.probe);
  }

  TEST_CASE("outcomes of calls admitted before the breaker opened change nothing") {
    CircuitBreaker b(Consecutive(2, kSeconds));
    auto early = b.Admit(kT0);  // admitted while closed, answers late
    REQUIRE(early.admitted);
    REQUIRE_FALSE(Call(b, kT0, Verdict::kFailure));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    CHECK_FALSE(b.Record(Verdict::kSuccess, false, kT0 + 10));
    CHECK(b.state() == State::kOpen);
    CHECK_FALSE(b.Record(Verdict::kFailure, false, kT0 + 20));
    CHECK(b.open_until() == kT0 + kSeconds);  // not extended
  }

  TEST_CASE("the failure rate trips only with min_calls in the window") {
    BreakerSettings s;
    s.rate_threshold = 0.5;
    s.rate_window = 10 * kSeconds;
    s.rate_min_calls = 6;
    CircuitBreaker b(s);
    // Alternating success and failure: 50% but only at the 6th call do we have enough.
    for (int i = 0; i < 5; ++i)
      CHECK_FALSE(Call(b, kT0 + i * kMillis, i % 2 ? Verdict::kSuccess : Verdict::kFailure));
    CHECK(b.Window(kT0 + 5 * kMillis).calls == 5);
    CHECK(b.Window(kT0 + 5 * kMillis).failures == 3);
    CHECK(Call(b, kT0 + 6 * kMillis, Verdict::kFailure) == State::kOpen);
  }

  TEST_CASE("calls older than the window no longer count towards the rate") {
    BreakerSettings s;
    s.rate_threshold = 0.5;
    s.rate_window = 10 * kSeconds;
    s.rate_min_calls = 4;
    CircuitBreaker b(s);
    for (int i = 0; i < 3; ++i) CHECK_FALSE(Call(b, kT0, Verdict::kFailure));
    // 11 s later the three failures have left the window: one more failure is 1 call of 4.
    const Nanos later = kT0 + 11 * kSeconds;
    CHECK(b.Window(later).calls == 0);
    CHECK_FALSE(Call(b, later, Verdict::kFailure));
    CHECK(b.state() == State::kClosed);
    CHECK(b.Window(later).calls == 1);
  }

  TEST_CASE("a rate below the threshold keeps the breaker closed") {
    BreakerSettings s;
    s.rate_threshold = 0.6;
    s.rate_window = 10 * kSeconds;
    s.rate_min_calls = 10;
    CircuitBreaker b(s);
    for (int i = 0; i < 40; ++i)
      CHECK_FALSE(Call(b, kT0 + i * kMillis, i % 2 ? Verdict::kSuccess : Verdict::kFailure));
    CHECK(b.state() == State::kClosed);
  }

  TEST_CASE("closing resets the counts, so the breaker trips afresh") {
    CircuitBreaker b(Consecutive(2, kSeconds));
    REQUIRE_FALSE(Call(b, kT0, Verdict::kFailure));
    REQUIRE(Call(b, kT0, Verdict::kFailure) == State::kOpen);
    auto p = b.Admit(kT0 + kSeconds);
    REQUIRE(b.Record(Verdict::kSuccess, p.probe, kT0 + kSeconds) == State::kClosed);
    CHECK(b.consecutive_failures() == 0);
    CHECK_FALSE(Call(b, kT0 + kSeconds, Verdict::kFailure));
    CHECK(b.state() == State::kClosed);
  }
}

TEST_SUITE("engine.breaker_table") {
  TEST_CASE("the table keeps at most max breakers, dropping the least recently used") {
    BreakerStats stats;
    BreakerTable t(2, &stats);
    const BreakerSettings s = Consecutive(1);
    const std::string a = BreakerTable::Id("a", s), b = BreakerTable::Id("b", s),
                      c = BreakerTable::Id("c", s);
    t.Get(a, "a", s);
    t.Get(b, "b", s);
    t.Get(a, "a", s);  // a is now the most recent
    t.Get(c, "c", s);
    CHECK(t.size() == 2);
    CHECK(t.Find(b) == nullptr);
    CHECK(t.Find(a) != nullptr);
    CHECK(stats.evicted.Get() == 1);
    CHECK(stats.state[0].Get() == 2);  // closed
  }

  TEST_CASE("one key with other settings is another breaker") {
    BreakerStats stats;
    BreakerTable t(10, &stats);
    const BreakerSettings one = Consecutive(1), two = Consecutive(2);
    CHECK(BreakerTable::Id("k", one) != BreakerTable::Id("k", two));
    CircuitBreaker& b1 = t.Get(BreakerTable::Id("k", one), "k", one);
    CircuitBreaker& b2 = t.Get(BreakerTable::Id("k", two), "k", two);
    CHECK(&b1 != &b2);
    CHECK(&t.Get(BreakerTable::Id("k", one), "k", one) == &b1);
  }

  TEST_CASE("transitions move the per-state counts and are counted by the state entered") {
    BreakerStats stats;
    BreakerTable t(10, &stats);
    const BreakerSettings s = Consecutive(1);
    const std::string id = BreakerTable::Id("h", s);
    CircuitBreaker& b = t.Get(id, "h", s);
    auto a = b.Admit(kT0);
    auto to = b.Record(Verdict::kFailure, a.probe, kT0);
    REQUIRE(to == State::kOpen);
    t.Transitioned(State::kClosed, *to);
    CHECK(stats.state[0].Get() == 0);
    CHECK(stats.state[1].Get() == 1);
    CHECK(stats.transitions[1].Get() == 1);
    auto views = t.Views(3, kT0 + kSeconds, 5'000'000 * kMillis);
    REQUIRE(views.size() == 1);
    CHECK(views[0].key == "h");
    CHECK(views[0].shard == 3);
    CHECK(views[0].state == State::kOpen);
    CHECK(views[0].opened_at_ms == 5'000'000 - 1000);
    CHECK(views[0].next_probe_ms == 5'000'000 + 9000);
  }
}
