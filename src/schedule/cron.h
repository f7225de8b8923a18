#pragma once
// Cron expressions of schedules, and when they fire. Pure: no clock, no I/O.
//
//   expr  = 5 fields "minute hour day-of-month month day-of-week", or a macro
//   field = item *("," item)     item = ("*" / value / value "-" value) ["/" step]
//   month: 1-12 or JAN..DEC; day-of-week: 0-7 (0 and 7 are Sunday) or SUN..SAT (any case)
//   macros: @yearly (@annually) "0 0 1 1 *", @monthly "0 0 1 * *", @weekly "0 0 * * 0",
//           @daily (@midnight) "0 0 * * *", @hourly "0 * * * *",
//           @every <duration>  (base/duration.h: "30s", "5m", "2h"; whole seconds, 1s..366 days)
//
// `value/step` means value-max/step. When both day fields are restricted (neither starts with
// '*'), a day matches if either does (Vixie cron); otherwise both must.
//
// Fields are read in the schedule's time zone. Daylight-saving rule:
// - a local time that a spring-forward skips fires once, at the first instant after the gap
//   (02:30 on the night New York skips 02:00-03:00 fires at 03:00 EDT; several skipped times
//   fire once together, also with a 03:00 fire of the same expression);
// - a local time that a fall-back repeats fires once, at its first occurrence (01:30 fires at
//   01:30 EDT, not again at 01:30 EST).
// @every counts in absolute time from the Unix epoch (fire times are multiples of the
// interval), whatever the zone.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "schedule/zone.h"

namespace rf::schedule {

struct Cron {
  uint64_t minutes = 0;  // bit i: minute i
  uint32_t hours = 0;
  uint32_t days = 0;     // bit d: day of month d (1..31)
  uint16_t months = 0;   // bit m: month m (1..12)
  uint8_t weekdays = 0;  // bit w: 0 = Sunday
  bool days_star = false, weekdays_star = false;
  int64_t every = 0;  // > 0: @every, seconds
};

// Errors: kInvalidArgument with a message naming the field and what is wrong.
Result<Cron> ParseCron(std::string_view expr);

// The first fire time strictly after `after` (Unix seconds) in `zone`; nullopt when there is
// none within 10 years (e.g. "0 0 30 2 *").
std::optional<int64_t> NextFire(const Cron& cron, const Zone& zone, int64_t after);

}  // namespace rf::schedule
