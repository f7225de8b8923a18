#pragma once
// What SloService keeps across restarts: its lifetime counts and its snapshots, as a small JSON
// document (version 1), e.g.
//   {"version":1,"since_ms":..,"saved_ms":..,"measured_at_us":250000,
//    "totals":[requests,errors,timed,slow],"minutes":[[at_ms,r,e,t,s],..],"hours":[..]}
// Snapshots are kept oldest first. Pure.

#include <string>
#include <string_view>
#include <vector>

#include "api/slo.h"
#include "base/result.h"

namespace rf::api {

struct SloState {
  int64_t since_ms = 0;        // when the oldest data was counted
  int64_t saved_ms = 0;
  int64_t measured_at_us = 0;  // the latency bound the slow counts were read at
  SloCounts totals;
  std::vector<SloWindows::Snapshot> minutes;
  std::vector<SloWindows::Snapshot> hours;
};

std::string EncodeSloState(const SloState& s);
// kCorrupt naming what is wrong: not JSON, another version, a missing or negative field,
// snapshots out of time order or ahead of the totals.
Result<SloState> DecodeSloState(std::string_view text);

}  // namespace rf::api
