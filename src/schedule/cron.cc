#include "schedule/cron.h"

#include <array>
#include <cctype>
#include <vector>

#include "base/duration.h"

namespace rf::schedule {
namespace {

Error Bad(std::string what) { return Error{Errc::kInvalidArgument, std::move(what)}; }

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char* const* names;  // 3-letter names for lo.. (null: none)
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr std::array<FieldSpec, 5> kFields = {{{"minute", 0, 59, nullptr},
                                               {"hour", 0, 23, nullptr},
                                               {"day-of-month", 1, 31, nullptr},
                                               {"month", 1, 12, kMonthNames},
                                               {"day-of-week", 0, 7, kDayNames}}};

std::string Quote(std::string_view s) { return "'" + std::string(s.substr(0, 32)) + "'"; }

Result<int> Value(const FieldSpec& f, std::string_view s) {
  if (s.empty()) return Bad(std::string(f.name) + " field: a value is missing");
  if (f.names && s.size() == 3 && std::isalpha(static_cast<unsigned char>(s[0]))) {
    std::string up;
    for (char c : s) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const int count = f.names == kMonthNames ? 12 : 7;
    for (int i = 0; i < count; ++i)
      if (up == f.names[i]) return f.lo + i;
  }
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > 1000)
      return Bad(std::string(f.name) + " field: " + Quote(s) + " is not a number" +
                 (f.names ? std::string(" or a name (") +
                                (f.names == kMonthNames ? "JAN..DEC" : "SUN..SAT") + ")"
                          : std::string()));
    v = v * 10 + (c - '0');
  }
  if (v < f.lo || v > f.hi)
    return Bad(std::string(f.name) + " field: " + std::to_string(v) + " is out of range " +
               std::to_string(f.lo) + "-" + std::to_string(f.hi));
  return v;
}

// Parses one field into bits (bit i = value i); `star` when it starts with '*'.
Result<uint64_t> Field(const FieldSpec& f, std::string_view text, bool& star) {
  star = !text.empty() && text[0] == '*';
  uint64_t bits = 0;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty()) return Bad(std::string(f.name) + " field: an empty item in " + Quote(text));
    int step = 1;
    size_t slash = item.find('/');
    std::string_view range = item.substr(0, slash);
    if (slash != std::string_view::npos) {
      std::string_view st = item.substr(slash + 1);
      int v = 0;
      if (st.empty() || st.size() > 4)
        return Bad(std::string(f.name) + " field: " + Quote(item) + " has no valid step");
      for (char c : st) {
        if (c < '0' || c > '9')
          return Bad(std::string(f.name) + " field: step " + Quote(st) + " is not a number");
        v = v * 10 + (c - '0');
      }
      if (v < 1 || v > f.hi)
        return Bad(std::string(f.name) + " field: step " + std::to_string(v) +
                   " is out of range 1-" + std::to_string(f.hi));
      step = v;
    }
    int lo = 0, hi = 0;
    if (range == "*") {
      lo = f.lo;
      hi = f.hi;
    } else {
      size_t dash = range.find('-');
      auto a = Value(f, range.substr(0, dash));
      if (!a) return a.error();
      lo = *a;
      if (dash != std::string_view::npos) {
        auto b = Value(f, range.substr(dash + 1));
        if (!b) return b.error();
        hi = *b;
        if (hi < lo)
          return Bad(std::string(f.name) + " field: range " + Quote(range) + " runs backwards");
      } else {
        hi = slash != std::string_view::npos ? f.hi : lo;
      }
    }
    for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

bool DayMatches(const Cron& c, const Civil& t) {
  const bool dom = c.days >> t.day & 1;
  const bool dow = c.weekdays >> t.weekday & 1;
  if (c.days_star || c.weekdays_star) return dom && dow;
  return dom || dow;
}

}  // namespace

Result<Cron> ParseCron(std::string_view expr) {
  while (!expr.empty() && expr.front() == ' ') expr.remove_prefix(1);
  while (!expr.empty() && expr.back() == ' ') expr.remove_suffix(1);
  if (expr.empty()) return Bad("the cron expression is empty");
  if (expr.size() > 256) return Bad("the cron expression is longer than 256 characters");
  if (expr[0] == '@') {
    std::string_view word = expr.substr(0, expr.find(' '));
    static constexpr std::pair<std::string_view, std::string_view> kMacros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}};
    for (const auto& [name, fields] : kMacros) {
      if (word != name) continue;
      if (word.size() != expr.size()) return Bad(std::string(name) + " takes no argument");
      return ParseCron(fields);
    }
    if (word == "@every") {
      std::string_view arg = expr.substr(word.size());
      while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
      auto d = ParseDuration(arg);
      if (arg.empty() || !d)
        return Bad(
            "@every takes a duration such as 30s, 5m or 2h (digits and a unit us, ms, s, m or h)");
      if (*d < kSeconds || *d % kSeconds != 0 || *d > 366 * 86400 * kSeconds)
        return Bad("@every takes whole seconds from 1s to 366 days (8784h)");
      Cron c;
      c.every = *d / kSeconds;
      return c;
    }
    return Bad("unknown macro " + Quote(word) +
               " (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or "
               "@every <duration>)");
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    size_t start = i;
    while (i < expr.size() && expr[i] != ' ' && expr[i] != '\t') ++i;
    if (i > start) parts.push_back(expr.substr(start, i - start));
  }
  if (parts.size() != 5)
    return Bad("a cron expression has 5 fields (minute hour day-of-month month day-of-week), not " +
               std::to_string(parts.size()));
  Cron c;
  bool star = false;
  uint64_t bits[5];
  bool stars[5];
  for (size_t f = 0; f < 5; ++f) {
    auto b = Field(kFields[f], parts[f], star);
    if (!b) return b.error();
    bits[f] = *b;
    stars[f] = star;
  }
  c.minutes = bits[0];
  c.hours = static_cast<uint32_t>(bits[1]);
  c.days = static_cast<uint32_t>(bits[2]);
  c.months = static_cast<uint16_t>(bits[3]);
  uint64_t wd = bits[4];
  if (wd >> 7 & 1) wd = (wd | 1) & 0x7f;  // 7 is Sunday too
  c.weekdays = static_cast<uint8_t>(wd);
  c.days_star = stars[2];
  c.weekdays_star = stars[4];
  // Refuse what never fires (30 February) rather than accept a schedule that stays silent.
  auto utc = Zone::Fixed("UTC", 0);
  if (!NextFire(c, *utc, 0)) return Bad("the expression never fires (no such day)");
  return c;
}

std::optional<int64_t> NextFire(const Cron& c, const Zone& zone, int64_t after) {
  if (c.every > 0) {
    const int64_t q = after >= 0 ? after / c.every : -((-after + c.every - 1) / c.every);
    return (q + 1) * c.every;
  }
  const int64_t local_after = zone.ToLocal(after);
  int64_t l = (local_after >= 0 ? local_after / 60 : (local_after - 59) / 60) * 60 + 60;
  const int64_t limit = l + int64_t{3660} * 86400;
  while (l < limit) {
    const Civil t = CivilFromSeconds(l);
    const int64_t midnight = l - t.hour * 3600 - t.minute * 60 - t.second;
    if (!(c.months >> t.month & 1)) {
      const unsigned next_month = t.month == 12 ? 1 : t.month + 1;
      const int64_t year = t.month == 12 ? t.year + 1 : t.year;
      l = DaysFromCivil(year, next_month, 1) * 86400;
      continue;
    }
    if (!DayMatches(c, t)) {
      l = midnight + 86400;
      continue;
    }
    if (!(c.hours >> t.hour & 1)) {
      l = midnight + (t.hour + 1) * 3600;
      continue;
    }
    if (!(c.minutes >> t.minute & 1)) {
      l += 60;
      continue;
    }
    // `l` is a matching local time: the instants that show it.
    const int32_t before = zone.OffsetAt(l - 86400);
    const int32_t later = zone.OffsetAt(l + 86400);
    std::optional<int64_t> first;
    for (int32_t o : {before, zone.OffsetAt(l), later}) {
      const int64_t u = l - o;
      if (zone.OffsetAt(u) == o && (!first || u < *first)) first = u;
    }
    if (!first && later > before) {
      // Skipped by a spring-forward: the first instant after the gap, the transition itself.
      int64_t lo = l - later, hi = l - before;  // offset(lo) == before, offset(hi) != before
      while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        (zone.OffsetAt(mid) == before ? lo : hi) = mid;
      }
      first = hi;
    }
    // A repeated local time whose first occurrence is not after `after` does not fire again.
    if (first && *first > after) return first;
    l += 60;
  }
  return std::nullopt;
}

}  // namespace rf::schedule
