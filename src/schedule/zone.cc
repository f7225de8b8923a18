#include "schedule/zone.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace rf::schedule {
namespace {

constexpr size_t kMaxTzifBytes = 1 << 20;

Error Bad(std::string what) { return Error{Errc::kInvalidArgument, std::move(what)}; }

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Big-endian reads over a bounded cursor.
struct Reader {
  std::string_view in;
  size_t pos = 0;
  bool ok = true;
  bool Need(size_t n) {
    if (!ok || in.size() - pos < n) ok = false;
    return ok;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    auto b = [&](size_t i) {
      return static_cast<uint32_t>(static_cast<unsigned char>(in[pos + i]));
    };
    uint32_t v = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
    pos += 4;
    return v;
  }
  int64_t I64() {
    uint64_t hi = U32();
    uint64_t lo = U32();
    return static_cast<int64_t>(hi << 32 | lo);
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(in[pos++]);
  }
  void Skip(uint64_t n) {
    if (!ok || in.size() - pos < n) {
      ok = false;
      return;
    }
    pos += n;
  }
};

struct Header {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

bool ReadHeader(Reader& r, Header& h) {
  if (!r.Need(44) || r.in.substr(r.pos, 4) != "TZif") return false;
  h.version = r.in[r.pos + 4];
  r.pos += 20;
  h.isutcnt = r.U32();
  h.isstdcnt = r.U32();
  h.leapcnt = r.U32();
  h.timecnt = r.U32();
  h.typecnt = r.U32();
  h.charcnt = r.U32();
  return r.ok;
}

// --- POSIX TZ strings ---------------------------------------------------------------------

struct TzParser {
  std::string_view s;
  size_t i = 0;
  bool End() const { return i >= s.size(); }
  char Peek() const { return End() ? '\0' : s[i]; }

  bool Name() {
    if (Peek() == '<') {
      size_t close = s.find('>', i);
      if (close == std::string_view::npos || close - i < 4) return false;
      i = close + 1;
      return true;
    }
    size_t start = i;
    while (!End() && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))) ++i;
    return i - start >= 3;
  }
  bool Number(int lo, int hi, int& out) {
    size_t start = i;
    int v = 0;
    while (!End() && s[i] >= '0' && s[i] <= '9' && i - start < 4) v = v * 10 + (s[i++] - '0');
    if (i == start || v < lo || v > hi) return false;
    out = v;
    return true;
  }
  // [+|-]hh[:mm[:ss]] -> seconds; `max_hours` 24 for offsets, 167 for rule times.
  bool Time(int max_hours, int32_t& out) {
    int sign = 1;
    if (Peek() == '+' || Peek() == '-') sign = s[i++] == '-' ? -1 : 1;
    int h = 0, m = 0, sec = 0;
    if (!Number(0, max_hours, h)) return false;
    if (Peek() == ':') {
      ++i;
      if (!Number(0, 59, m)) return false;
      if (Peek() == ':') {
        ++i;
        if (!Number(0, 59, sec)) return false;
      }
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool Date(PosixRule::Date& d) {
    using K = PosixRule::Date::Kind;
    if (Peek() == 'M') {
      ++i;
      d.kind = K::kMonthWeekDay;
      if (!Number(1, 12, d.month) || Peek() != '.') return false;
      ++i;
      if (!Number(1, 5, d.week) || Peek() != '.') return false;
      ++i;
      if (!Number(0, 6, d.day)) return false;
    } else if (Peek() == 'J') {
      ++i;
      d.kind = K::kJulian1;
      if (!Number(1, 365, d.day)) return false;
    } else {
      d.kind = K::kJulian0;
      if (!Number(0, 365, d.day)) return false;
    }
    d.time = 7200;
    if (Peek() == '/') {
      ++i;
      if (!Time(167, d.time)) return false;
    }
    return true;
  }
};

// Local midnight of the rule's day in `year`, as days since 1970-01-01.
int64_t RuleDay(const PosixRule::Date& d, int64_t year) {
  using K = PosixRule::Date::Kind;
  switch (d.kind) {
    case K::kJulian1: {
      int64_t day = d.day - 1;  // Feb 29 is never counted
      if (IsLeap(year) && d.day >= 60) ++day;
      return DaysFromCivil(year, 1, 1) + day;
    }
    case K::kJulian0:
      return DaysFromCivil(year, 1, 1) + d.day;
    case K::kMonthWeekDay:
      break;
  }
  const int64_t first = DaysFromCivil(year, static_cast<unsigned>(d.month), 1);
  const int64_t first_wd = ((first % 7) + 11) % 7;  // 1970-01-01 was a Thursday (4)
  int64_t day = (d.day - first_wd + 7) % 7 + static_cast<int64_t>(d.week - 1) * 7;
  const unsigned len = DaysInMonth(year, static_cast<unsigned>(d.month));
  while (day >= len) day -= 7;
  return first + day;
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

Civil CivilFromSeconds(int64_t local_seconds) {
  const int64_t days = FloorDiv(local_seconds, 86400);
  const int64_t secs = local_seconds - days * 86400;
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  Civil c;
  c.year = yoe + era * 400 + (m <= 2);
  c.month = m;
  c.day = d;
  c.hour = static_cast<unsigned>(secs / 3600);
  c.minute = static_cast<unsigned>(secs / 60 % 60);
  c.second = static_cast<unsigned>(secs % 60);
  c.weekday = static_cast<unsigned>(((days % 7) + 11) % 7);
  return c;
}

Result<PosixRule> ParsePosixRule(std::string_view tz) {
  TzParser p{tz};
  PosixRule r;
  auto bad = [&] {
    return Bad("TZ rule '" + std::string(tz.substr(0, 64)) + "' is not a POSIX TZ string");
  };
  int32_t west = 0;
  if (!p.Name() || !p.Time(24, west)) return bad();
  r.std_offset = -west;
  if (p.End()) return r;
  if (!p.Name()) return bad();
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (p.Peek() != ',' && !p.End()) {
    if (!p.Time(24, west)) return bad();
    r.dst_offset = -west;
  }
  if (p.End()) {
    // No rule: POSIX leaves the default to the implementation; the US rules are the usual one.
    r.start = {PosixRule::Date::Kind::kMonthWeekDay, 0, 3, 2, 7200};
    r.end = {PosixRule::Date::Kind::kMonthWeekDay, 0, 11, 1, 7200};
    return r;
  }
  if (p.Peek() != ',') return bad();
  ++p.i;
  if (!p.Date(r.start) || p.Peek() != ',') return bad();
  ++p.i;
  if (!p.Date(r.end) || !p.End()) return bad();
  return r;
}

int32_t PosixRule::OffsetAt(int64_t utc) const {
  if (!has_dst) return std_offset;
  const int64_t year = CivilFromSeconds(utc + std_offset).year;
  // The start is given in standard time, the end in daylight time.
  const int64_t begin_at = RuleDay(start, year) * 86400 + start.time - std_offset;
  const int64_t end_at = RuleDay(end, year) * 86400 + end.time - dst_offset;
  const bool dst =
      begin_at < end_at ? (utc >= begin_at && utc < end_at) : !(utc >= end_at && utc < begin_at);
  return dst ? dst_offset : std_offset;
}

Result<std::shared_ptr<const Zone>> Zone::Parse(std::string name, std::string_view tzif) {
  if (tzif.size() > kMaxTzifBytes) return Bad("zone file over 1 MiB");
  Reader r{tzif};
  Header h;
  if (!ReadHeader(r, h)) return Bad("not a TZif file");
  bool v2 = h.version >= '2';
  if (v2) {
    r.Skip(static_cast<uint64_t>(h.timecnt) * 5 + static_cast<uint64_t>(h.typecnt) * 6 + h.charcnt +
           static_cast<uint64_t>(h.leapcnt) * 8 + h.isstdcnt + h.isutcnt);
    if (!r.ok || !ReadHeader(r, h)) return Bad("truncated TZif file");
  }
  if (h.typecnt == 0 || h.typecnt > 256)
    return Bad("TZif file with no or too many local time types");
  const uint64_t time_size = v2 ? 8 : 4;
  if (!r.Need(h.timecnt * (time_size + 1) + static_cast<uint64_t>(h.typecnt) * 6 + h.charcnt))
    return Bad("truncated TZif file");
  auto zone = std::make_shared<Zone>();
  zone->name_ = std::move(name);
  zone->transitions_.reserve(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    int64_t t = v2 ? r.I64() : static_cast<int32_t>(r.U32());
    if (!zone->transitions_.empty() && t <= zone->transitions_.back())
      return Bad("TZif transitions out of order");
    zone->transitions_.push_back(t);
  }
  for (uint32_t i = 0; i < h.timecnt; ++i) {
    uint8_t idx = r.U8();
    if (idx >= h.typecnt) return Bad("TZif transition names an unknown local time type");
    zone->type_of_.push_back(idx);
  }
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    auto off = static_cast<int32_t>(r.U32());
    r.U8();  // isdst
    r.U8();  // designation index
    if (off <= -25 * 3600 || off >= 26 * 3600) return Bad("TZif UT offset out of range");
    zone->offsets_.push_back(off);
  }
  r.Skip(h.charcnt + static_cast<uint64_t>(h.leapcnt) * (time_size + 4) + h.isstdcnt + h.isutcnt);
  if (!r.ok) return Bad("truncated TZif file");
  if (v2 && r.pos < tzif.size()) {
    std::string_view rest = tzif.substr(r.pos);
    if (rest.size() < 2 || rest[0] != '\n') return Bad("TZif footer missing");
    size_t nl = rest.find('\n', 1);
    if (nl == std::string_view::npos) return Bad("TZif footer not terminated");
    std::string_view tz = rest.substr(1, nl - 1);
    if (!tz.empty()) {
      auto rule = ParsePosixRule(tz);
      if (!rule) return rule.error();
      zone->footer_ = *rule;
    }
  }
  return std::shared_ptr<const Zone>(std::move(zone));
}

std::shared_ptr<const Zone> Zone::Fixed(std::string name, int32_t offset) {
  auto zone = std::make_shared<Zone>();
  zone->name_ = std::move(name);
  zone->offsets_.push_back(offset);
  return zone;
}

int32_t Zone::OffsetAt(int64_t utc) const {
  if (transitions_.empty()) return footer_ ? footer_->OffsetAt(utc) : offsets_[0];
  if (utc < transitions_.front()) return offsets_[0];
  if (utc >= transitions_.back() && footer_) return footer_->OffsetAt(utc);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  return offsets_[type_of_[static_cast<size_t>(it - transitions_.begin()) - 1]];
}

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '+' || c == '-' || c == '.';
      if (!ok) return false;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

Result<std::shared_ptr<const Zone>> LoadZone(const std::string& dir, std::string_view name) {
  if (!ValidZoneName(name))
    return Bad("'" + std::string(name.substr(0, 64)) + "' is not a time zone name");
  const std::string path = dir + "/" + std::string(name);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if ((errno == ENOENT || errno == ENOTDIR) && (name == "UTC" || name == "Etc/UTC"))
      return Zone::Fixed(std::string(name), 0);
    if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
      return Error{Errc::kNotFound, "no time zone '" + std::string(name) + "' in " + dir};
    return Error::FromErrno(errno, "cannot open " + path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > static_cast<off_t>(kMaxTzifBytes)) {
    ::close(fd);
    return Error{Errc::kNotFound, "no time zone '" + std::string(name) + "' in " + dir};
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  auto z = Zone::Parse(std::string(name), bytes);
  if (!z) return Bad("'" + std::string(name) + "': " + z.error().context);
  return z;
}

std::string FormatRfc3339(int64_t utc, const Zone& zone) {
  const int32_t off = zone.OffsetAt(utc);
  const Civil c = CivilFromSeconds(utc + off);
  char buf[64];
  const int32_t a = off < 0 ? -off : off;
  if (off == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02uZ",
                  static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u%c%02d:%02d",
                  static_cast<long long>(c.year), c.month, c.day, c.hour, c.minute, c.second,
                  off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  }
  return buf;
}

}  // namespace rf::schedule
