#include "http/date_cache.h"

#include <ctime>

namespace rf::http {

std::string_view DateLine() {
  thread_local time_t cached_sec = 0;
  thread_local char line[64];
  thread_local size_t len = 0;
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != cached_sec) {
    cached_sec = ts.tv_sec;
    tm utc;
    gmtime_r(&cached_sec, &utc);
    len = strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &utc);
  }
  return {line, len};
}

}  // namespace rf::http
