#include "store/embedded/replay.h"

#include <algorithm>
#include <memory>

#include "obs/log.h"
#include "reactor/offload.h"
#include "store/embedded/file_ops.h"
#include "store/embedded/format.h"
#include "store/embedded/segment.h"

namespace rf::store::embedded {
namespace {

struct Listing {
  std::vector<SegmentInfo> segments;                        // by first LSN
  std::vector<std::pair<uint64_t, std::string>> snapshots;  // newest first
};

std::string Join(const std::string& dir, std::string_view name) {
  std::string p = dir;
  p += '/';
  p += name;
  return p;
}

// Creates the directory, lists it, and removes snapshot temp files: they were never
// renamed into place, so no one relied on them.
Result<Listing> ListJournalDir(const std::string& dir) {
  if (auto st = MakeDirsBlocking(dir); !st) return st.error();
  auto names = ListDirBlocking(dir);
  if (!names) return names.error();
  Listing out;
  for (const std::string& n : *names) {
    if (auto lsn = ParseSegmentFileName(n)) {
      out.segments.push_back({*lsn, n});
    } else if (auto snap = ParseSnapshotFileName(n)) {
      out.snapshots.emplace_back(*snap, n);
    } else if (n.ends_with(kTempSuffix) && n.starts_with("snapshot-")) {
      if (::unlink(Join(dir, n).c_str()) != 0) {
        RF_LOG(kWarn, "journal: cannot remove temp file", {"file", Join(dir, n)});
      }
    }
  }
  std::sort(out.segments.begin(), out.segments.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.first_lsn < b.first_lsn; });
  std::sort(out.snapshots.begin(), out.snapshots.end(), std::greater<>());
  return out;
}

struct LoadedSnapshot {
  uint64_t lsn = 0;
  std::string name;
  std::unique_ptr<std::string> file;  // heap-stable: `bytes` points into it
  std::string_view bytes;
  size_t invalid = 0;
  std::string invalid_notes;  // for a later gap error
};

// The newest snapshot whose checks pass; invalid newer ones are reported and kept
// for inspection.
Result<LoadedSnapshot> LoadNewestSnapshot(const std::string& dir, const Listing& listing) {
  LoadedSnapshot out;
  for (const auto& [lsn, name] : listing.snapshots) {
    auto file = ReadFileBlocking(Join(dir, name));
    if (!file) return file.error();
    auto data = std::make_unique<std::string>(std::move(*file));
    std::string why;
    if (auto bytes = DecodeSnapshot(*data, lsn, why)) {
      out.lsn = lsn;
      out.name = name;
      out.file = std::move(data);
      out.bytes = *bytes;
      return out;
    }
    RF_LOG(kError, "journal: snapshot is invalid, trying an older one", {"file", Join(dir, name)},
           {"reason", why});
    ++out.invalid;
    out.invalid_notes += "; " + name + " is invalid (" + why + ")";
  }
  return out;
}

struct LoadedSegment {
  std::unique_ptr<std::string> data;  // heap-stable: scan.records point into it
  SegmentScan scan;
};

Result<LoadedSegment> LoadSegment(const std::string& dir, const SegmentInfo& seg, bool last) {
  std::string path = Join(dir, seg.name);
  auto file = ReadFileBlocking(path);
  if (!file) return file.error();
  LoadedSegment out;
  out.data = std::make_unique<std::string>(std::move(*file));
  auto scan = ScanSegment(*out.data, path, seg.first_lsn, last);
  if (!scan) return scan.error();
  out.scan = std::move(*scan);
  if (out.scan.torn) {
    if (auto st = TruncateBlocking(path, out.scan.valid_bytes); !st) return st.error();
  }
  return out;
}

Error Gap(const std::string& dir, std::string what, const std::string& notes) {
  return Error{Errc::kCorrupt, dir + ": " + what + notes};
}

}  // namespace

// Every Offload awaiter below is a named local: GCC 12 destroys a capturing lambda twice
// when it is a temporary inside a co_await expression.
reactor::Task<Result<RecoveredState>> Replay(std::string dir, ReplaySink& sink) {
  using reactor::Offload;
  auto list_op = Offload([dir] { return ListJournalDir(dir); });
  auto listing = co_await list_op;  // suspends
  if (!listing) co_return listing.error();

  auto snap_op = Offload([dir, &listing] { return LoadNewestSnapshot(dir, *listing); });
  auto snap = co_await snap_op;  // suspends
  if (!snap) co_return snap.error();
  RecoveredState state;
  const uint64_t snap_lsn = snap->lsn;
  state.report.snapshot_lsn = snap_lsn;
  state.report.invalid_snapshots = snap->invalid;
  state.snapshot_name = snap->name;
  if (snap->file) {
    if (auto st = sink.OnSnapshot(snap_lsn, snap->bytes); !st) co_return st.error();
    snap->file.reset();
  }
  std::vector<std::string> garbage;  // older snapshots and segments the snapshot covers
  for (const auto& [lsn, name] : listing->snapshots) {
    if (lsn < snap_lsn) garbage.push_back(name);
  }

  // Replay starts in the newest segment that begins at or before snap_lsn + 1; all
  // before it hold only records the snapshot covers.
  const std::vector<SegmentInfo>& segs = listing->segments;
  size_t start = 0;
  while (start + 1 < segs.size() && segs[start + 1].first_lsn <= snap_lsn + 1) ++start;
  if (!segs.empty() && segs[start].first_lsn > snap_lsn + 1) {
    co_return Gap(dir,
                  "records " + std::to_string(snap_lsn + 1) + ".." +
                      std::to_string(segs[start].first_lsn - 1) + " are missing: " +
                      (snap_lsn ? "the snapshot covers up to " + std::to_string(snap_lsn)
                                : std::string("there is no valid snapshot")) +
                      " and the oldest segment is " + segs[start].name,
                  snap->invalid_notes);
  }
  for (size_t i = 0; i < start; ++i) garbage.push_back(segs[i].name);

  uint64_t next_lsn = snap_lsn + 1;
  for (size_t i = start; i < segs.size(); ++i) {
    const SegmentInfo& seg = segs[i];
    const bool last = i + 1 == segs.size();
    if (i > start && seg.first_lsn != next_lsn) {
      co_return Gap(dir,
                    seg.first_lsn > next_lsn
                        ? "records " + std::to_string(next_lsn) + ".." +
                              std::to_string(seg.first_lsn - 1) + " are missing between " +
                              segs[i - 1].name + " and " + seg.name
                        : seg.name + " overlaps " + segs[i - 1].name + ", which ends at LSN " +
                              std::to_string(next_lsn - 1),
                    "");
    }
    auto load_op = Offload([dir, seg, last] { return LoadSegment(dir, seg, last); });
    auto loaded = co_await load_op;  // suspends
    if (!loaded) co_return loaded.error();
    const SegmentScan& scan = loaded->scan;
    if (scan.torn) {
      RF_LOG(kWarn, "journal: cut a torn tail", {"file", Join(dir, seg.name)},
             {"offset", scan.torn_offset}, {"reason", scan.torn_reason},
             {"kept_bytes", scan.valid_bytes}, {"dropped_records", scan.torn_records});
      state.report.torn_bytes = loaded->data->size() - scan.valid_bytes;
      state.report.torn_records = scan.torn_records;
    }
    for (const ScannedRecord& r : scan.records) {
      if (r.lsn <= snap_lsn) continue;
      if (auto st = sink.OnRecord(r.lsn, r.type, r.payload); !st) co_return st.error();
      ++state.report.records;
    }
    ++state.report.segments_read;
    state.segments.push_back(seg);
    state.last_segment_bytes = scan.valid_bytes;
    state.last_segment_next_lsn = scan.next_lsn;
    next_lsn = std::max(next_lsn, scan.next_lsn);
  }
  state.report.next_lsn = next_lsn;

  if (!garbage.empty()) {
    auto remove_op = Offload([dir, garbage] {
      for (const std::string& name : garbage) {
        if (::unlink(Join(dir, name).c_str()) != 0) {
          RF_LOG(kWarn, "journal: cannot remove a covered file", {"file", Join(dir, name)});
        }
      }
    });
    co_await remove_op;  // suspends
  }
  co_return state;
}

}  // namespace rf::store::embedded
