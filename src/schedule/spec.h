#pragma once
// A schedule as the API takes it (PUT /v1/schedules/{name}) and as the stores keep it (its
// canonical JSON, SpecJson). Pure: no clock, no I/O; the time zone is checked by name here and
// loaded by the scheduler (zone.h).

#include <string>
#include <string_view>
#include <vector>

#include "json/value.h"
#include "schedule/cron.h"

namespace rf::schedule {

// What to do with a fire while the run of the previous one has not finished.
enum class Overlap : uint8_t { kSkip, kQueue, kCancelPrevious, kAllow };
// What to do with the fires missed while the daemon was down (or the partition unheld).
enum class CatchUp : uint8_t { kNone, kLatest, kAll };

// At most this many fires wait at once (catch_up all after downtime, overlap queue): beyond it
// the oldest are dropped (rf_schedule_fires_total{outcome="dropped"}).
inline constexpr size_t kMaxPendingFires = 100;

struct Spec {
  std::string workflow;  // plain name (the schedule's namespace qualifies it)
  int64_t version = 0;   // 0: the latest version at each fire
  json::Value input = json::Object{};
  std::string cron_text;
  Cron cron;
  std::string timezone = "UTC";
  Overlap overlap = Overlap::kSkip;
  CatchUp catch_up = CatchUp::kLatest;
  bool paused = false;
};

struct SpecError {
  std::string pointer;  // RFC 6901 into the body
  std::string message;
};

// Reads a body. `url_name`: the schedule's name from the path (a body "name" must equal it).
// Errors go to `errors` (every problem found, by pointer); the result is meaningful only when
// it stays empty. Input limits (json/value_limits.h) are the caller's to check.
Spec ParseSpec(const json::Value& body, std::string_view url_name, std::vector<SpecError>& errors);
// The stored form (no "paused": the stores keep it apart). ParseSpec reads it back.
std::string SpecJson(const Spec& spec);

std::string_view OverlapName(Overlap o);
std::string_view CatchUpName(CatchUp c);
// Schedule names: [A-Za-z0-9._-]{1,128}, as workflow names.
bool ValidScheduleName(std::string_view name);

}  // namespace rf::schedule
