#include "obs/log.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <ctime>

namespace rf::obs {
namespace {

std::atomic<Level> g_level{Level::kInfo};
thread_local int t_shard = -1;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void AppendNumber(std::string& out, double v) {
  char buf[32];
  std::to_chars_result r;
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
  } else if (std::isfinite(v)) {
    r = std::to_chars(buf, buf + sizeof buf, v);
  } else {
    out += "null";
    return;
  }
  out.append(buf, r.ptr);
}

}  // namespace

bool ParseLevel(std::string_view s, Level& out) {
  if (s == "debug") out = Level::kDebug;
  else if (s == "info") out = Level::kInfo;
  else if (s == "warn") out = Level::kWarn;
  else if (s == "error") out = Level::kError;
  else return false;
  return true;
}

void SetLevel(Level level) { g_level.store(level, std::memory_order_relaxed); }
bool Enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }
void SetThreadShard(int shard) { t_shard = shard; }

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void Log(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  thread_local std::string line;
  line.clear();
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char tbuf[40];
  size_t n = strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(tbuf + n, sizeof tbuf - n, ".%06ldZ", ts.tv_nsec / 1000);
  line += "{\"ts\":\"";
  line += tbuf;
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += '"';
  if (t_shard >= 0) {
    line += ",\"shard\":";
    AppendNumber(line, t_shard);
  }
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  for (const Field& f : fields) {
    line += ',';
    AppendJsonString(line, f.key);
    line += ':';
    if (f.is_num) AppendNumber(line, f.num);
    else AppendJsonString(line, f.str);
  }
  line += "}\n";
  // One write keeps the line whole; a short write to a pipe under PIPE_BUF cannot happen.
  ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
  (void)w;
}

}  // namespace rf::obs
