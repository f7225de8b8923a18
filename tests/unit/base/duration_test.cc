#include "base/duration.h"

#include <doctest/doctest.h>

namespace rf {
namespace {

TEST_SUITE("base.duration") {
  TEST_CASE("a bare number is seconds and every unit scales") {
    CHECK(*ParseDuration("10") == 10 * kSeconds);
    CHECK(*ParseDuration("0") == 0);
    CHECK(*ParseDuration("10s") == 10 * kSeconds);
    CHECK(*ParseDuration("250ms") == 250 * kMillis);
    CHECK(*ParseDuration("750us") == 750'000);
    CHECK(*ParseDuration("2m") == 120 * kSeconds);
    CHECK(*ParseDuration("168h") == 168 * 3600 * kSeconds);
    CHECK(*ParseDuration("007s") == 7 * kSeconds);
  }

  TEST_CASE("signs, fractions, spaces, unknown and compound units are rejected") {
    for (const char* bad : {"", "s", "ms", "-1", "-1s", "+1s", "1.5s", " 1s", "1s ", "1 s", "1S",
                            "1sec", "1d", "1m30s", "10parsecs", "0x10", "forever"}) {
      CAPTURE(bad);
      auto d = ParseDuration(bad);
      REQUIRE_FALSE(d.has_value());
      CHECK(d.error().code == Errc::kInvalidArgument);
    }
  }

  TEST_CASE("a value beyond int64 nanoseconds is an error, not a wrap") {
    CHECK(*ParseDuration("9223372036s") == 9'223'372'036 * kSeconds);
    CHECK_FALSE(ParseDuration("9223372037s").has_value());
    CHECK_FALSE(ParseDuration("2562048h").has_value());
    CHECK_FALSE(ParseDuration("99999999999999999999999").has_value());
  }
}

}  // namespace
}  // namespace rf
