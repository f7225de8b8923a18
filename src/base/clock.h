#pragma once
// Monotonic time in nanoseconds and Deadline, the bound every outgoing call takes.

#include <cstdint>
#include <ctime>

namespace rf {

using Nanos = int64_t;
constexpr Nanos kMillis = 1'000'000;
constexpr Nanos kSeconds = 1'000'000'000;

inline Nanos MonoNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kSeconds + ts.tv_nsec;
}

inline Nanos WallNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<Nanos>(ts.tv_sec) * kSeconds + ts.tv_nsec;
}

class Deadline {
 public:
  static Deadline Never() { return Deadline(INT64_MAX); }
  static Deadline After(Nanos d) { return Deadline(MonoNow() + d); }
  static Deadline At(Nanos t) { return Deadline(t); }

  Nanos at() const { return at_; }
  bool never() const { return at_ == INT64_MAX; }
  bool Expired(Nanos now = MonoNow()) const { return now >= at_; }
  Nanos Remaining(Nanos now = MonoNow()) const { return at_ > now ? at_ - now : 0; }

 private:
  explicit Deadline(Nanos at) : at_(at) {}
  Nanos at_;
};

}  // namespace rf
