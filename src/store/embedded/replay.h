#pragma once
// Start-up replay of one journal directory: picks the newest valid snapshot,
// reads the segments after it, checks that their LSNs join up, cuts a torn
// tail, and hands everything to a ReplaySink on the calling shard. Journal::Open
// runs it; it is separate so the rules live in one place.
//
// File reads, truncation and unlinking go through Offload (start-up only); the
// sink is always called on the calling shard's thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "reactor/task.h"

namespace rf::store::embedded {

// Receives the durable state at Open. Any error returned stops Open with it.
class ReplaySink {
 public:
  virtual ~ReplaySink() = default;
  // The newest valid snapshot, covering every record <= lsn. At most once, first.
  virtual Status OnSnapshot(uint64_t lsn, std::string_view bytes) = 0;
  // Each record after the snapshot, in LSN order. `payload` is valid during the call only.
  virtual Status OnRecord(uint64_t lsn, uint8_t type, std::string_view payload) = 0;
};

// What replay found; Journal::recovery() keeps it for logs and tests.
struct RecoveryReport {
  uint64_t snapshot_lsn = 0;  // 0: no snapshot
  uint64_t records = 0;       // records passed to OnRecord
  uint64_t next_lsn = 1;      // the LSN the next Append gets
  size_t segments_read = 0;
  size_t torn_bytes = 0;    // cut from the end of the last segment
  size_t torn_records = 0;  // intact records of the torn batch, dropped with it
  size_t invalid_snapshots = 0;
};

struct SegmentInfo {
  uint64_t first_lsn = 0;
  std::string name;
};

struct RecoveredState {
  RecoveryReport report;
  std::vector<SegmentInfo> segments;   // live segments, oldest first
  uint64_t last_segment_bytes = 0;     // valid bytes of segments.back(), if any
  uint64_t last_segment_next_lsn = 0;  // the LSN after segments.back()'s last record
  std::string snapshot_name;           // empty: none
};

// Errors: Errc::kCorrupt naming the file and offset (or the missing LSN range),
// I/O errors from the file system, or whatever the sink returned.
reactor::Task<Result<RecoveredState>> Replay(std::string dir, ReplaySink& sink);

}  // namespace rf::store::embedded
