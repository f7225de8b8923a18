#include "api/slo.h"

#include <doctest/doctest.h>

#include <string>

#include "api/service.h"
#include "api/slo_state.h"
#include "json/parse.h"

using namespace rf::api;

namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;

SloCounts Counts(uint64_t requests, uint64_t errors) { return SloCounts{requests, errors, requests, errors}; }

}  // namespace

TEST_SUITE("api.slo") {
  TEST_CASE("a window subtracts the snapshot a window ago from the counts now") {
    SloWindows w;
    const int64_t t0 = 1'000'000'000'000;
    w.Record(t0, Counts(0, 0));
    // One snapshot a minute, 10 requests and 1 error a minute, for three hours.
    for (int64_t m = 1; m <= 180; ++m) w.Record(t0 + m * kMin, Counts(10 * m, m));
    const int64_t now = t0 + 180 * kMin + 30'000;
    const SloCounts totals = Counts(1805, 181);
    auto h = w.Over(now, kHour, totals);
    CHECK(h.covered_ms == kHour + 30'000);  // the snapshot at t0 + 120 min
    CHECK(h.counts.requests == 1805 - 1200);
    CHECK(h.counts.errors == 181 - 120);
    // 24 h with three hours of data: everything since the start, and it says so.
    auto d = w.Over(now, 24 * kHour, totals);
    CHECK(d.counts.requests == 1805);
    CHECK(d.covered_ms == 3 * kHour + 30'000);
  }

  TEST_CASE("the hourly ring reaches 30 days back and forgets what is older") {
    SloWindows w;
    const int64_t t0 = 1'000'000'000'000;
    for (int64_t hr = 0; hr <= 40 * 24; ++hr) w.Record(t0 + hr * kHour, Counts(static_cast<uint64_t>(hr), 0));
    const int64_t now = t0 + 40 * 24 * kHour;
    const SloCounts totals = Counts(40 * 24, 0);
    auto month = w.Over(now, 30 * 24 * kHour, totals);
    CHECK(month.covered_ms == 30 * 24 * kHour);
    CHECK(month.counts.requests == 30 * 24);
    auto day = w.Over(now, 24 * kHour, totals);
    CHECK(day.counts.requests == 24);
  }

  TEST_CASE("a report without traffic has its whole budget and the three windows") {
    ServiceState state;  // no server: no counts
    SloService slo({.availability = 0.99, .latency_ms = 100, .latency_target = 0.95}, &state);
    CHECK(slo.latency_bound_seconds() == doctest::Approx(0.1));
    rf::Buffer out;
    slo.Report(1'000'000'000'000, out);
    auto doc = rf::json::Parse(out.view());
    REQUIRE_MESSAGE(doc.has_value(), std::string(out.view()));
    CHECK(doc->Find("objectives")->Find("availability")->Find("target")->as_double() == doctest::Approx(0.99));
    CHECK(doc->Find("objectives")->Find("latency")->Find("threshold_ms")->as_int() == 100);
    const auto& windows = doc->Find("windows")->as_array();
    REQUIRE(windows.size() == 3);
    CHECK(windows[0].Find("window")->as_string() == "1h");
    CHECK(windows[2].Find("seconds")->as_int() == 30 * 24 * 3600);
    CHECK(windows[1].Find("availability")->Find("error_budget_remaining")->as_double() == 1.0);
  }

  TEST_CASE("a threshold between histogram bounds is read at the bound below it") {
    ServiceState state;
    SloService slo({.availability = 0.999, .latency_ms = 300, .latency_target = 0.99}, &state);
    CHECK(slo.latency_bound_seconds() == doctest::Approx(0.25));
    SloService tiny({.availability = 0.999, .latency_ms = 1, .latency_target = 0.99}, &state);
    CHECK(tiny.latency_bound_seconds() == doctest::Approx(0.001));
  }

  TEST_CASE("the state round-trips and restores the windows, which go on counting after it") {
    SloWindows w;
    const int64_t t0 = 1'000'000'000'000;
    for (int64_t hr = 0; hr <= 30; ++hr) w.Record(t0 + hr * kHour, Counts(static_cast<uint64_t>(100 * hr), 0));
    SloState s;
    s.since_ms = t0;
    s.saved_ms = t0 + 30 * kHour;
    s.measured_at_us = 250'000;
    s.totals = Counts(3000, 0);
    s.minutes = w.Minutes();
    s.hours = w.Hours();
    auto back = DecodeSloState(EncodeSloState(s));
    REQUIRE_MESSAGE(back.has_value(), back.error().ToString());
    CHECK(back->since_ms == t0);
    CHECK(back->measured_at_us == 250'000);
    CHECK(back->totals.requests == 3000);
    REQUIRE(back->hours.size() == 31);
    CHECK(back->hours.front().at_ms == t0);
    SloWindows again;
    again.Restore(back->minutes, back->hours);
    const int64_t now = t0 + 30 * kHour + kMin;
    auto day = again.Over(now, 24 * kHour, Counts(3010, 1));
    auto day0 = w.Over(now, 24 * kHour, Counts(3010, 1));
    CHECK(day.counts.requests == day0.counts.requests);
    CHECK(day.covered_ms == day0.covered_ms);
    CHECK(day.counts.errors == 1);
  }

  TEST_CASE("a state that is not ours is refused, naming why") {
    const char* bad[] = {
        "", "{", "[]", "{\"version\":2}",
        "{\"version\":1,\"since_ms\":1,\"saved_ms\":1,\"measured_at_us\":1,\"totals\":[1,2,1,0],"
        "\"minutes\":[],\"hours\":[]}",  // more errors than requests
        "{\"version\":1,\"since_ms\":1,\"saved_ms\":1,\"measured_at_us\":1,\"totals\":[5,0,5,0],"
        "\"minutes\":[[2,3,0,3,0],[1,4,0,4,0]],\"hours\":[]}",  // back in time
        "{\"version\":1,\"since_ms\":1,\"saved_ms\":1,\"measured_at_us\":1,\"totals\":[5,0,5,0],"
        "\"minutes\":[[2,9,0,9,0]],\"hours\":[]}",  // ahead of the totals
        "{\"version\":1,\"since_ms\":-1,\"saved_ms\":1,\"measured_at_us\":1,\"totals\":[5,0,5,0],"
        "\"minutes\":[],\"hours\":[]}",
        "{\"version\":1,\"since_ms\":1,\"saved_ms\":1,\"measured_at_us\":1,\"totals\":[5,0,5],"
        "\"minutes\":[],\"hours\":[]}",
    };
    for (const char* text : bad) {
      auto r = DecodeSloState(text);
      CHECK_MESSAGE(!r.has_value(), text);
      if (!r) CHECK(r.error().code == rf::Errc::kCorrupt);
    }
  }
}
