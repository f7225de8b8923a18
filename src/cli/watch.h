#pragma once
// Follow: stays with a run until it finished, through its event stream
// (GET /v1/runs/{id}/events), showing it as the mode says. Used by `runs watch` and
// `runs start --wait`.
//
// The stream gives the run's history, then live events, and ends after the terminal one. When
// it ends or breaks, the run is fetched: finished means done; otherwise the stream is reopened
// from the last event seen (Last-Event-ID), up to kMaxReconnects times in a row without news.
// A daemon that cannot stream the run (503: in a cluster, a daemon that does not hold it) is
// polled instead (GET every second). A stream quiet for longer than three heartbeats (45 s) is
// taken as broken.

#include <string>

#include "cli/session.h"

namespace rf::cli {

enum class FollowMode {
  kLive,       // a terminal: the progress block, redrawn on each event and every 200 ms
  kLines,      // one plain line per event, then a summary line
  kJsonLines,  // each event's data JSON on its own line (--output json)
  kQuiet,      // nothing (the caller prints the finished run)
};

constexpr int kMaxReconnects = 5;

// Returns kExitOk (succeeded) or kExitRunFailed (failed, cancelled), with the finished run in
// `final_run`; or the exit status of what went wrong (404: 1; unreachable: 3).
int Follow(Session& s, const std::string& id, FollowMode mode, Answer& final_run);

}  // namespace rf::cli
