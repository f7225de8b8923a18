#include "schedule/cron.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace rf::schedule {
namespace {

constexpr const char* kZones = "/usr/share/zoneinfo";

int64_t Utc(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

std::shared_ptr<const Zone> Load(const char* name) {
  auto z = LoadZone(kZones, name);
  REQUIRE(z);
  return *z;
}

std::vector<int64_t> Fires(const char* expr, const Zone& z, int64_t after, int n) {
  auto c = ParseCron(expr);
  REQUIRE(c);
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto next = NextFire(*c, z, after);
    REQUIRE(next);
    out.push_back(*next);
    after = *next;
  }
  return out;
}

std::string Error(const char* expr) {
  auto c = ParseCron(expr);
  REQUIRE_FALSE(c);
  return c.error().context;
}

}  // namespace

TEST_SUITE("schedule.cron") {
TEST_CASE("fields: lists, ranges, steps and names") {
  auto c = ParseCron("0,15-17,*/20 9-17/4 1,15 JAN-mar,dec mon-FRI");
  REQUIRE(c);
  CHECK(c->minutes == ((1ull << 0) | (1ull << 15) | (1ull << 16) | (1ull << 17) | (1ull << 20) | (1ull << 40)));
  CHECK(c->hours == ((1u << 9) | (1u << 13) | (1u << 17)));
  CHECK(c->days == ((1u << 1) | (1u << 15)));
  CHECK(c->months == ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 12)));
  CHECK(c->weekdays == 0b0111110);
  CHECK_FALSE(c->days_star);
  auto sunday = ParseCron("0 0 * * 7");
  REQUIRE(sunday);
  CHECK(sunday->weekdays == 1);
  auto from = ParseCron("5/20 * * * *");
  REQUIRE(from);
  CHECK(from->minutes == ((1ull << 5) | (1ull << 25) | (1ull << 45)));
}

TEST_CASE("macros are their five fields; @every takes the duration grammar") {
  auto utc = Zone::Fixed("UTC", 0);
  const int64_t t = Utc(2026, 5, 17, 10, 30);
  CHECK(Fires("@hourly", *utc, t, 1)[0] == Utc(2026, 5, 17, 11));
  CHECK(Fires("@daily", *utc, t, 1)[0] == Utc(2026, 5, 18, 0));
  CHECK(Fires("@midnight", *utc, t, 1)[0] == Utc(2026, 5, 18, 0));
  CHECK(Fires("@weekly", *utc, t, 1)[0] == Utc(2026, 5, 24, 0));  // the next Sunday
  CHECK(Fires("@monthly", *utc, t, 1)[0] == Utc(2026, 6, 1, 0));
  CHECK(Fires("@yearly", *utc, t, 1)[0] == Utc(2027, 1, 1, 0));
  CHECK(Fires("@annually", *utc, t, 1)[0] == Utc(2027, 1, 1, 0));
  auto every = ParseCron("@every 30s");
  REQUIRE(every);
  CHECK(every->every == 30);
  CHECK(Fires("@every 30s", *utc, 100, 3) == std::vector<int64_t>{120, 150, 180});
  CHECK(Fires("@every 2h", *Load("America/New_York"), 0, 1)[0] == 7200);  // absolute time
}

TEST_CASE("next fires in UTC, day-of-month OR day-of-week when both are restricted") {
  auto utc = Zone::Fixed("UTC", 0);
  const int64_t t = Utc(2026, 1, 1, 0);  // a Thursday
  CHECK(Fires("*/15 * * * *", *utc, t, 3) ==
        std::vector<int64_t>{Utc(2026, 1, 1, 0, 15), Utc(2026, 1, 1, 0, 30), Utc(2026, 1, 1, 0, 45)});
  // The 13th or any Friday.
  CHECK(Fires("0 12 13 * FRI", *utc, t, 3) ==
        std::vector<int64_t>{Utc(2026, 1, 2, 12), Utc(2026, 1, 9, 12), Utc(2026, 1, 13, 12)});
  // A star day-of-month: only Fridays.
  CHECK(Fires("0 12 * * 5", *utc, t, 2) == std::vector<int64_t>{Utc(2026, 1, 2, 12), Utc(2026, 1, 9, 12)});
  // 29 February: the next leap year.
  CHECK(Fires("0 0 29 2 *", *utc, t, 1)[0] == Utc(2028, 2, 29, 0));
  CHECK(Fires("0 9 * * *", *utc, Utc(2026, 1, 1, 9), 1)[0] == Utc(2026, 1, 2, 9));  // strictly after
}

TEST_CASE("New York spring-forward: a skipped local time fires once at the end of the gap") {
  auto ny = Load("America/New_York");
  // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
  const int64_t gap_end = Utc(2026, 3, 8, 7);
  CHECK(Fires("30 2 * * *", *ny, Utc(2026, 3, 7, 12), 3) ==
        std::vector<int64_t>{gap_end, Utc(2026, 3, 9, 6, 30), Utc(2026, 3, 10, 6, 30)});
  // Every 15 minutes through the gap: 01:45 EST, then 02:00..02:45 all at 03:00 EDT, once.
  CHECK(Fires("*/15 * * * *", *ny, Utc(2026, 3, 8, 6, 30), 4) ==
        std::vector<int64_t>{Utc(2026, 3, 8, 6, 45), gap_end, Utc(2026, 3, 8, 7, 15), Utc(2026, 3, 8, 7, 30)});
  // Hourly: 01:00 EST, (02:00 skipped) 03:00 EDT, 04:00 EDT; nothing lost, nothing doubled.
  CHECK(Fires("@hourly", *ny, Utc(2026, 3, 8, 5, 30), 3) ==
        std::vector<int64_t>{Utc(2026, 3, 8, 6), gap_end, Utc(2026, 3, 8, 8)});
}

TEST_CASE("New York fall-back: a repeated local time fires once, at its first occurrence") {
  auto ny = Load("America/New_York");
  // 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:00-01:59 happen twice.
  CHECK(Fires("30 1 * * *", *ny, Utc(2026, 10, 31, 12), 2) ==
        std::vector<int64_t>{Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 2, 6, 30)});
  // Asked from inside the second pass: the repeat is not fired.
  CHECK(Fires("30 1 * * *", *ny, Utc(2026, 11, 1, 6, 10), 1)[0] == Utc(2026, 11, 2, 6, 30));
  CHECK(Fires("@hourly", *ny, Utc(2026, 11, 1, 4, 30), 3) ==
        std::vector<int64_t>{Utc(2026, 11, 1, 5), Utc(2026, 11, 1, 7), Utc(2026, 11, 1, 8)});
}

TEST_CASE("Berlin: both transitions of 2026") {
  auto berlin = Load("Europe/Berlin");
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
  CHECK(Fires("30 2 * * *", *berlin, Utc(2026, 3, 28, 12), 2) ==
        std::vector<int64_t>{Utc(2026, 3, 29, 1), Utc(2026, 3, 30, 0, 30)});
  // 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC); 02:30 fires at 00:30 UTC only.
  CHECK(Fires("30 2 * * *", *berlin, Utc(2026, 10, 24, 12), 2) ==
        std::vector<int64_t>{Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 26, 1, 30)});
  CHECK(Fires("0 9 * * MON-FRI", *berlin, Utc(2026, 10, 23, 12), 2) ==
        std::vector<int64_t>{Utc(2026, 10, 26, 8), Utc(2026, 10, 27, 8)});
}

TEST_CASE("bad expressions name what is wrong") {
  CHECK(Error("") == "the cron expression is empty");
  CHECK(Error("* * * *").find("5 fields") != std::string::npos);
  CHECK(Error("* * * * * *").find("not 6") != std::string::npos);
  CHECK(Error("60 * * * *") == "minute field: 60 is out of range 0-59");
  CHECK(Error("* 24 * * *") == "hour field: 24 is out of range 0-23");
  CHECK(Error("* * 0 * *") == "day-of-month field: 0 is out of range 1-31");
  CHECK(Error("* * * 13 *") == "month field: 13 is out of range 1-12");
  CHECK(Error("* * * * 8") == "day-of-week field: 8 is out of range 0-7");
  CHECK(Error("* * * FOO *").find("not a number or a name (JAN..DEC)") != std::string::npos);
  CHECK(Error("* * * * MONDAY").find("SUN..SAT") != std::string::npos);
  CHECK(Error("5-1 * * * *").find("runs backwards") != std::string::npos);
  CHECK(Error("*/0 * * * *").find("step 0 is out of range") != std::string::npos);
  CHECK(Error("*/x * * * *").find("is not a number") != std::string::npos);
  CHECK(Error("1,,2 * * * *").find("an empty item") != std::string::npos);
  CHECK(Error("0 0 30 2 *") == "the expression never fires (no such day)");
  CHECK(Error("@often").find("unknown macro") != std::string::npos);
  CHECK(Error("@hourly 5").find("takes no argument") != std::string::npos);
  CHECK(Error("@every").find("@every takes a duration") != std::string::npos);
  CHECK(Error("@every 1500ms").find("whole seconds") != std::string::npos);
  CHECK(Error("@every 0s").find("whole seconds") != std::string::npos);
  CHECK(Error("@every 1m30s").find("@every takes a duration") != std::string::npos);
}
}

}  // namespace rf::schedule
