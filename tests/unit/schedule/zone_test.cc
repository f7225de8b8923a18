#include "schedule/zone.h"

#include <doctest/doctest.h>

#include <string>

namespace rf::schedule {
namespace {

constexpr const char* kZones = "/usr/share/zoneinfo";

int64_t Utc(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi = 0) {
  return DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

}  // namespace

TEST_SUITE("schedule.zone") {
TEST_CASE("civil dates round-trip, weekdays included") {
  CHECK(DaysFromCivil(1970, 1, 1) == 0);
  CHECK(DaysFromCivil(2000, 3, 1) == 11017);
  Civil c = CivilFromSeconds(Utc(2026, 3, 8, 7, 30));
  CHECK(c.year == 2026);
  CHECK(c.month == 3);
  CHECK(c.day == 8);
  CHECK(c.hour == 7);
  CHECK(c.minute == 30);
  CHECK(c.weekday == 0);  // a Sunday
  CHECK(CivilFromSeconds(-1).year == 1969);
  CHECK(CivilFromSeconds(-1).second == 59);
}

TEST_CASE("New York: standard and daylight offsets from the TZif table") {
  auto z = LoadZone(kZones, "America/New_York");
  REQUIRE(z);
  CHECK((*z)->OffsetAt(Utc(2026, 1, 15, 12)) == -5 * 3600);
  CHECK((*z)->OffsetAt(Utc(2026, 7, 15, 12)) == -4 * 3600);
  // The spring-forward instant: 2026-03-08 07:00 UTC (02:00 EST).
  CHECK((*z)->OffsetAt(Utc(2026, 3, 8, 7) - 1) == -5 * 3600);
  CHECK((*z)->OffsetAt(Utc(2026, 3, 8, 7)) == -4 * 3600);
  // Fall-back: 2026-11-01 06:00 UTC (02:00 EDT).
  CHECK((*z)->OffsetAt(Utc(2026, 11, 1, 6) - 1) == -4 * 3600);
  CHECK((*z)->OffsetAt(Utc(2026, 11, 1, 6)) == -5 * 3600);
}

TEST_CASE("far future instants follow the footer's TZ rule") {
  auto ny = LoadZone(kZones, "America/New_York");
  auto berlin = LoadZone(kZones, "Europe/Berlin");
  REQUIRE(ny);
  REQUIRE(berlin);
  // 2100-03-14 is the second Sunday of March 2100.
  CHECK((*ny)->OffsetAt(Utc(2100, 3, 14, 7) - 1) == -5 * 3600);
  CHECK((*ny)->OffsetAt(Utc(2100, 3, 14, 7)) == -4 * 3600);
  CHECK((*ny)->OffsetAt(Utc(2100, 12, 1, 0)) == -5 * 3600);
  // Berlin 2100: last Sunday of March (the 28th) at 01:00 UTC.
  CHECK((*berlin)->OffsetAt(Utc(2100, 3, 28, 1) - 1) == 3600);
  CHECK((*berlin)->OffsetAt(Utc(2100, 3, 28, 1)) == 7200);
  CHECK((*berlin)->OffsetAt(Utc(2100, 10, 31, 1) - 1) == 7200);
  CHECK((*berlin)->OffsetAt(Utc(2100, 10, 31, 1)) == 3600);
}

TEST_CASE("POSIX TZ rules: forms, and the southern hemisphere") {
  auto r = ParsePosixRule("EST5EDT,M3.2.0,M11.1.0");
  REQUIRE(r);
  CHECK(r->std_offset == -5 * 3600);
  CHECK(r->dst_offset == -4 * 3600);
  CHECK(r->OffsetAt(Utc(2030, 7, 1, 0)) == -4 * 3600);
  auto cet = ParsePosixRule("CET-1CEST,M3.5.0,M10.5.0/3");
  REQUIRE(cet);
  CHECK(cet->OffsetAt(Utc(2030, 1, 1, 0)) == 3600);
  auto fixed = ParsePosixRule("<+0530>-5:30");
  REQUIRE(fixed);
  CHECK(fixed->OffsetAt(0) == 5 * 3600 + 1800);
  // Sydney: daylight time from October to April.
  auto syd = ParsePosixRule("AEST-10AEDT,M10.1.0,M4.1.0/3");
  REQUIRE(syd);
  CHECK(syd->OffsetAt(Utc(2030, 1, 15, 0)) == 11 * 3600);
  CHECK(syd->OffsetAt(Utc(2030, 7, 15, 0)) == 10 * 3600);
  auto julian = ParsePosixRule("XST3XDT,J60/2,300");
  REQUIRE(julian);
  CHECK_FALSE(ParsePosixRule("E5"));
  CHECK_FALSE(ParsePosixRule("EST5EDT,M13.1.0,M11.1.0"));
  CHECK_FALSE(ParsePosixRule("EST5EDT,M3.2.0"));
  CHECK_FALSE(ParsePosixRule("EST"));
}

TEST_CASE("zone names: what is refused, what is not found") {
  CHECK(ValidZoneName("America/New_York"));
  CHECK(ValidZoneName("Etc/GMT+5"));
  CHECK_FALSE(ValidZoneName(""));
  CHECK_FALSE(ValidZoneName("/etc/passwd"));
  CHECK_FALSE(ValidZoneName("../../etc/passwd"));
  CHECK_FALSE(ValidZoneName("America//New_York"));
  CHECK_FALSE(ValidZoneName("America/New York"));
  auto missing = LoadZone(kZones, "Mars/Olympus_Mons");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  auto bad = LoadZone(kZones, "../passwd");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::kInvalidArgument);
  auto dir = LoadZone(kZones, "America");
  REQUIRE_FALSE(dir);
  CHECK(dir.error().code == Errc::kNotFound);
  auto utc = LoadZone("/nonexistent", "UTC");  // UTC needs no file
  REQUIRE(utc);
  CHECK((*utc)->OffsetAt(12345) == 0);
}

TEST_CASE("bytes that are not a TZif file are refused") {
  CHECK_FALSE(Zone::Parse("x", ""));
  CHECK_FALSE(Zone::Parse("x", "TZif2 but far too short"));
  std::string header("TZif2", 5);
  header.resize(44, '\0');
  header[43] = 9;  // charcnt 9, typecnt 0
  CHECK_FALSE(Zone::Parse("x", header));
  std::string junk(100, 'x');
  CHECK_FALSE(Zone::Parse("x", junk));
}

TEST_CASE("RFC 3339 in the zone's local time") {
  auto ny = LoadZone(kZones, "America/New_York");
  REQUIRE(ny);
  CHECK(FormatRfc3339(Utc(2026, 3, 8, 7), **ny) == "2026-03-08T03:00:00-04:00");
  CHECK(FormatRfc3339(Utc(2026, 1, 1, 5), **ny) == "2026-01-01T00:00:00-05:00");
  CHECK(FormatRfc3339(0, *Zone::Fixed("UTC", 0)) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339(0, *Zone::Fixed("IST", 19800)) == "1970-01-01T05:30:00+05:30");
}
}

}  // namespace rf::schedule
