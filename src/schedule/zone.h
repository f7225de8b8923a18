#pragma once
// IANA time zones read from the system's TZif files (RFC 8536; /usr/share/zoneinfo, or the
// directory of --zone-dir): the 64-bit table of a version 2+ file, and its footer's POSIX TZ
// rule for instants past the table (slim files end their table early and rely on it). Leap
// second tables are skipped (instants are Unix seconds). A Zone is immutable once parsed and
// shared read-only by every shard. Parsing is pure; LoadZone reads a file (blocking: call it off
// the shard, reactor/offload.h).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace rf::schedule {

// A POSIX TZ rule ("EST5EDT,M3.2.0,M11.1.0"): standard offset, and optionally a DST offset with
// the rules that start and end it. Offsets are seconds east of UTC (the TZ string's sign flipped).
struct PosixRule {
  struct Date {
    enum class Kind : uint8_t { kJulian1, kJulian0, kMonthWeekDay } kind = Kind::kMonthWeekDay;
    int day = 0;  // Jn: 1..365 (Feb 29 never counted); n: 0..365; M: weekday 0..6
    int month = 0, week = 0;
    int32_t time = 7200;  // seconds after local midnight (may be negative or > 24h: TZif v3)
  };
  int32_t std_offset = 0;
  bool has_dst = false;
  int32_t dst_offset = 0;
  Date start, end;
  // The offset in force at `utc` (Unix seconds).
  int32_t OffsetAt(int64_t utc) const;
};
// Errors: kInvalidArgument naming what is wrong.
Result<PosixRule> ParsePosixRule(std::string_view tz);

class Zone {
 public:
  // `tzif`: the file's bytes. Errors: kInvalidArgument ("not a TZif file", "truncated", ...).
  static Result<std::shared_ptr<const Zone>> Parse(std::string name, std::string_view tzif);
  // A zone that is `offset` seconds east of UTC all the time (tests, "UTC" without files).
  static std::shared_ptr<const Zone> Fixed(std::string name, int32_t offset);

  const std::string& name() const { return name_; }
  // Seconds east of UTC in force at `utc` (Unix seconds).
  int32_t OffsetAt(int64_t utc) const;
  // Unix seconds -> local "seconds since 1970-01-01T00:00 local" (civil time as if UTC).
  int64_t ToLocal(int64_t utc) const { return utc + OffsetAt(utc); }

 private:
  std::string name_;
  std::vector<int64_t> transitions_;  // ascending
  std::vector<uint8_t> type_of_;      // [transition] -> index into offsets_
  std::vector<int32_t> offsets_;      // local time types' UT offsets
  std::optional<PosixRule> footer_;   // past the last transition
};

// 1..255 of [A-Za-z0-9_+-./], no empty, "." or ".." component, not starting with '/'.
bool ValidZoneName(std::string_view name);
// Reads and parses <dir>/<name>. Blocking. "UTC" (and "Etc/UTC") with no file: a fixed zone.
// Errors: kInvalidArgument (bad name, not a zone file), kNotFound (no such zone).
Result<std::shared_ptr<const Zone>> LoadZone(const std::string& dir, std::string_view name);

// Civil-date arithmetic (proleptic Gregorian; days since 1970-01-01).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second, weekday;  // weekday 0 = Sunday
};
Civil CivilFromSeconds(int64_t local_seconds);
// "2026-03-08T03:00:00-04:00": `utc` shown in `zone`'s local time with its offset.
std::string FormatRfc3339(int64_t utc, const Zone& zone);

}  // namespace rf::schedule
