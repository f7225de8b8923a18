#pragma once
// A run's log: its encoded records, each as [u32 little-endian length][bytes].
// The coordinator keeps one per run so a snapshot can write the run and an
// event stream can rebuild its history; snapshots are a sequence of logs.
// History stores keep and return finished runs in this framing
// (HistoryRun::log), and `ringflow archive` reads it.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "base/result.h"

namespace rf::store {

inline void AppendLength(std::string& out, size_t n) {
  uint32_t len = static_cast<uint32_t>(n);
  char b[4];
  std::memcpy(b, &len, 4);
  out.append(b, 4);
}

inline void AppendToLog(std::string& log, std::string_view payload) {
  AppendLength(log, payload.size());
  log.append(payload);
}

// Calls fn(item) for each length-prefixed item; kCorrupt if the framing is broken.
template <class F>
Status ForEachLogRecord(std::string_view bytes, F&& fn) {
  while (!bytes.empty()) {
    uint32_t len;
    if (bytes.size() < 4) return Error{Errc::kCorrupt, "run log: truncated length"};
    std::memcpy(&len, bytes.data(), 4);
    bytes.remove_prefix(4);
    if (bytes.size() < len) return Error{Errc::kCorrupt, "run log: truncated record"};
    if (Status st = fn(bytes.substr(0, len)); !st) return st;
    bytes.remove_prefix(len);
  }
  return {};
}

}  // namespace rf::store
