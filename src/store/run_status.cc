#include "store/run_status.h"

#include <cstddef>

namespace rf::store {

std::string_view RunStatusName(RunStatus s) {
  static constexpr std::string_view kNames[] = {"pending",   "running", "waiting",
                                                "succeeded", "failed",  "cancelled",
                                                "queued"};
  return kNames[static_cast<size_t>(s)];
}

bool ParseRunStatus(std::string_view s, RunStatus& out) {
  for (uint8_t i = 0; i <= static_cast<uint8_t>(RunStatus::kQueued); ++i) {
    if (RunStatusName(static_cast<RunStatus>(i)) == s) {
      out = static_cast<RunStatus>(i);
      return true;
    }
  }
  return false;
}

}  // namespace rf::store
