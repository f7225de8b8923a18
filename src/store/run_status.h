#pragma once
// RunStatus: where a run stands. Stores index finished runs by it (dead-letter
// is "failed"), so it belongs to the store's vocabulary; the engine's state
// machine decides the transitions.

#include <cstdint>
#include <string_view>

namespace rf::store {

// kQueued comes last so the stored numbers of the others (history index, audit) keep their
// meaning: a run held back by its workflow's concurrency limit (engine/flow_control.h), live.
enum class RunStatus : uint8_t { kPending, kRunning, kWaiting, kSucceeded, kFailed, kCancelled, kQueued };

std::string_view RunStatusName(RunStatus s);
// The lowercase name; false for anything else.
bool ParseRunStatus(std::string_view s, RunStatus& out);
inline bool IsTerminal(RunStatus s) { return s >= RunStatus::kSucceeded && s <= RunStatus::kCancelled; }

}  // namespace rf::store
