#pragma once
// Structured logs: one JSON object per line on stderr, written with a single
// write(2) so lines from different shards never interleave.
//
//   RF_LOG(kInfo, "serving", {"listen", addr}, {"shards", n});
//
// Safe from any thread. Logging is for events, not per request (the access log
// is opt-in for that reason).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace rf::obs {

enum class Level : uint8_t { kDebug, kInfo, kWarn, kError };

bool ParseLevel(std::string_view s, Level& out);
void SetLevel(Level level);
bool Enabled(Level level);

// The shard label on this thread's log lines; -1 (the default) prints no shard.
void SetThreadShard(int shard);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), str(v), is_num(false) {}
  Field(std::string_view k, const char* v) : key(k), str(v), is_num(false) {}
  Field(std::string_view k, const std::string& v) : key(k), str(v), is_num(false) {}
  template <class N>
    requires std::is_arithmetic_v<N>
  Field(std::string_view k, N v) : key(k), num(static_cast<double>(v)), is_num(true) {}
  std::string_view key;
  std::string_view str;
  double num = 0;
  bool is_num;
};

void Log(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

// Appends s to out as a JSON string literal (quotes included).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace rf::obs

#define RF_LOG(level, msg, ...)                                        \
  do {                                                                 \
    if (::rf::obs::Enabled(::rf::obs::Level::level))                   \
      ::rf::obs::Log(::rf::obs::Level::level, msg, {__VA_ARGS__});     \
  } while (0)
