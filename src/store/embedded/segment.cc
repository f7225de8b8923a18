#include "store/embedded/segment.h"

#include "store/embedded/format.h"

namespace rf::store::embedded {
namespace {

Error Corrupt(std::string_view name, size_t offset, std::string_view what) {
  std::string s(name);
  s += ": offset ";
  s += std::to_string(offset);
  s += ": ";
  s += what;
  return Error{Errc::kCorrupt, std::move(s)};
}

// The offset of the first well-formed frame at or after `from` that claims an LSN
// >= `min_lsn`, or npos. Byte by byte: a damaged length field hides where the next
// record starts. Frames with lower LSNs cannot follow the damaged batch, so they are
// payload bytes that happen to look like one.
size_t FindLaterFrame(std::string_view data, size_t from, uint64_t min_lsn) {
  for (size_t q = from; q + kFrameBytes <= data.size(); ++q) {
    if (static_cast<uint8_t>(data[q + 8]) != kBatchFrameType) continue;
    if (GetU32(data.data() + q) != kFramePayloadBytes) continue;
    RecordView rec;
    if (ReadRecord(data, q, rec) != RecordCheck::kOk) continue;
    auto frame = ReadFrame(rec);
    if (frame && frame->first_lsn >= min_lsn) return q;
  }
  return std::string_view::npos;
}

}  // namespace

Result<SegmentScan> ScanSegment(std::string_view data, std::string_view name, uint64_t first_lsn,
                                bool last) {
  SegmentScan scan;
  uint64_t lsn = first_lsn;
  size_t off = 0;
  while (off < data.size()) {
    const size_t batch_start = off;
    const size_t batch_records_before = scan.records.size();
    // Damage at `at` inside the batch starting at batch_start; `search_from` is where a
    // later batch could begin. Returns an error, or marks the tail torn.
    auto damaged = [&](size_t at, RecordCheck check, size_t search_from) -> Status {
      std::string what = RecordCheckName(check);
      what +=
          " (batch at offset " + std::to_string(batch_start) + ", LSN " + std::to_string(lsn) + ")";
      if (!last) return Corrupt(name, at, what + " in a segment that is not the newest");
      if (size_t q = FindLaterFrame(data, search_from, lsn); q != std::string_view::npos) {
        return Corrupt(name, at,
                       what + ", followed by a valid batch at offset " + std::to_string(q));
      }
      scan.torn = true;
      scan.torn_offset = at;
      scan.torn_reason = RecordCheckName(check);
      scan.torn_records = scan.records.size() - batch_records_before;
      scan.records.resize(batch_records_before);
      return {};
    };

    RecordView rec;
    if (RecordCheck c = ReadRecord(data, off, rec); c != RecordCheck::kOk) {
      if (auto st = damaged(off, c, off + 1); !st) return st.error();
      break;
    }
    auto frame = ReadFrame(rec);
    if (!frame) return Corrupt(name, off, "expected a batch frame");
    if (frame->first_lsn != lsn) {
      return Corrupt(name, off,
                     "batch frame has LSN " + std::to_string(frame->first_lsn) + ", expected " +
                         std::to_string(lsn));
    }
    off += rec.size;
    const size_t batch_end = off + frame->record_bytes;
    bool torn = false;
    for (uint32_t i = 0; i < frame->record_count; ++i) {
      if (off >= batch_end)
        return Corrupt(name, off, "batch holds fewer records than its frame says");
      if (RecordCheck c = ReadRecord(data, off, rec); c != RecordCheck::kOk) {
        if (auto st = damaged(off, c, batch_end); !st) return st.error();
        torn = true;
        break;
      }
      if (rec.type >= kFirstReservedType) return Corrupt(name, off, "reserved type inside a batch");
      if (off + rec.size > batch_end) return Corrupt(name, off, "record crosses the batch end");
      scan.records.push_back({lsn + i, rec.type, rec.payload});
      off += rec.size;
    }
    if (torn) break;
    if (off != batch_end) return Corrupt(name, off, "batch bytes do not match its frame");
    lsn += frame->record_count;
    scan.valid_bytes = off;
  }
  scan.next_lsn = lsn;
  return scan;
}

}  // namespace rf::store::embedded
