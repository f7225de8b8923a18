#include "base/duration.h"

#include <charconv>
#include <cstdint>

namespace rf {

Result<Nanos> ParseDuration(std::string_view text) {
  constexpr std::string_view kExpected =
      "expected a duration like 500ms, 10s, 1m, 2h (a bare number is seconds)";
  uint64_t n = 0;
  const char* const end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, n);
  // from_chars accepts a leading '-' for signed types only; n is unsigned, so "-1s" fails here.
  if (p == text.data()) return Error{Errc::kInvalidArgument, std::string(kExpected)};
  if (ec != std::errc()) return Error{Errc::kInvalidArgument, "duration too large"};
  const std::string_view unit(p, static_cast<size_t>(end - p));
  Nanos scale;
  if (unit.empty() || unit == "s")
    scale = kSeconds;
  else if (unit == "ms")
    scale = kMillis;
  else if (unit == "us")
    scale = 1000;
  else if (unit == "m")
    scale = 60 * kSeconds;
  else if (unit == "h")
    scale = 3600 * kSeconds;
  else
    return Error{Errc::kInvalidArgument, std::string(kExpected) + "; units: us, ms, s, m, h"};
  if (n > static_cast<uint64_t>(INT64_MAX / scale)) {
    return Error{Errc::kInvalidArgument, "duration too large"};
  }
  return static_cast<Nanos>(n) * scale;
}

}  // namespace rf
