#pragma once
// How `runs watch` (and `runs start --wait`) show a run: the live block redrawn on a terminal,
// the one line per event written otherwise, and the run's detail of `runs get`. Pure functions
// of the server's JSON and the time, so they are unit tested; any thread.

#include <cstdint>
#include <string>

#include "json/value.h"

namespace rf::cli {

struct ProgressStyle {
  bool color = false;  // ANSI colours
  bool utf8 = false;   // status symbols (✓ ✗ ▶ …) instead of ASCII ones
  int columns = 100;   // lines are cut to this width, so the block's height is its line count
};

// Whether a run status ends the run.
bool IsTerminal(std::string_view status);

// The live block for a run (GET /v1/runs/{id}): a header line (id, workflow and version,
// status, elapsed) and one line per step (symbol, id, type, status, attempts, duration, error or
// due time). `now_ms` (unix ms) measures what is still going.
std::string RenderProgress(const json::Value& run, int64_t now_ms, const ProgressStyle& style);

// One event of GET /v1/runs/{id}/events (its data JSON) as a plain line:
// "21:53:41.123  step.failed     fetch  attempt 2: HTTP 503".
std::string EventLine(const json::Value& event);

// `runs get`: the run's fields, then its steps as a table.
std::string RenderRun(const json::Value& run);

// The last line of a watch: "run <id> succeeded in 1.2s" / "... failed in 3s: <error> (step s)".
std::string Summary(const json::Value& run);

}  // namespace rf::cli
