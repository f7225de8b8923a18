#pragma once
// Reading a segment back: ScanSegment checks every batch of one segment file
// held in memory and decides what a damaged tail means. Pure code (no I/O).
//
// A damaged record (cut short, implausible length, crc mismatch) is a torn
// tail only when all of these hold:
//   - the file is the last segment (older segments were fully durable before
//     the next one got its first byte);
//   - it lies in the final batch of the file: no well-formed batch frame with
//     an LSN at or after the damaged batch follows it (a batch is written only
//     after the previous one's fdatasync returned, so a later frame proves the
//     damaged batch had been durable).
// A torn final batch is dropped whole: replay yields every batch completely or
// not at all. Anything else, and any inconsistency between records whose crcs
// match (wrong LSN, a reserved type inside a batch, a count that does not add
// up), is an Errc::kCorrupt error naming the file and byte offset.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace rf::store::embedded {

struct ScannedRecord {
  uint64_t lsn = 0;
  uint8_t type = 0;
  std::string_view payload;  // points into the scanned data
};

struct SegmentScan {
  std::vector<ScannedRecord> records;  // every record of every whole batch, in LSN order
  uint64_t next_lsn = 0;               // the LSN after the last whole batch
  size_t valid_bytes = 0;              // where the last whole batch ends
  // The bytes from valid_bytes on are a torn final batch (last segment only).
  bool torn = false;
  size_t torn_offset = 0;   // where the damage is
  std::string torn_reason;  // what is wrong there
  size_t torn_records = 0;  // intact records of the torn batch, dropped with it
};

// `name` labels errors; `first_lsn` comes from the file name; `last` says whether
// this is the newest segment.
Result<SegmentScan> ScanSegment(std::string_view data, std::string_view name, uint64_t first_lsn,
                                bool last);

}  // namespace rf::store::embedded
