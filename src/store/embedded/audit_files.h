#pragma once
// The embedded adapter of AuditStore: append-only files under <data>/audit, one JSON object a
// line, named audit-<first id>-<first at_ms>.jsonl. Appends go to the newest file (O_APPEND,
// fdatasync per batch with --fsync always); once it reaches the segment size a new one starts,
// and the oldest files are removed while the set is over `max_bytes`. Trim removes files whose
// every entry is older than the retention. Opening cuts a torn last line (a crash mid-append)
// and carries on after the last whole entry.
//
// Used by one shard (the audit writer). The file I/O runs on the offload pool: the shard keeps
// the list of files and hands each blocking step a copy of what it needs, so a query (reading
// files) and an append (writing the newest) may run at once; a reader skips a line it sees
// half-written. Append must not be called again before the previous one returned.

#include <string>
#include <string_view>
#include <vector>

#include "store/embedded/file_ops.h"
#include "store/store.h"

namespace rf::store::embedded {

// Pure, for tests: one entry as its line (with '\n') and back; nullopt for a line that is not
// one (torn, foreign).
std::string EncodeAuditLine(const AuditEntry& e);
std::optional<AuditEntry> DecodeAuditLine(std::string_view line);
// The entries of `text` (a file's lines, oldest first) that match `q`, newest first, appended
// to `out` until it holds q.limit + 1.
void ScanAuditText(std::string_view text, const AuditQuery& q, std::vector<AuditEntry>& out);

class AuditFiles final : public AuditStore {
 public:
  // `dir`: <data>/audit. `max_bytes`: the bound of the whole set (at least 4 segments are
  // kept: segment = max_bytes / 8, 4 KiB .. 16 MiB).
  AuditFiles(std::string dir, uint64_t max_bytes, bool fsync);
  ~AuditFiles() override;
  reactor::Task<Status> Open() override;
  reactor::Task<Status> Append(std::vector<AuditEntry>& entries) override;
  reactor::Task<Result<AuditPage>> Query(AuditQuery q) override;
  reactor::Task<Result<uint64_t>> Trim(int64_t before_ms, int64_t term) override;
  reactor::Task<Status> Close() override;

  struct Segment {
    std::string name;
    int64_t first_id = 0;
    int64_t first_ms = 0;
    uint64_t bytes = 0;
  };

 private:
  std::string dir_;
  uint64_t max_bytes_;
  uint64_t segment_bytes_;
  bool fsync_;
  std::vector<Segment> segments_;  // oldest first; the last one is appended to
  UniqueFd current_;
  int64_t next_id_ = 1;
  bool fresh_next_ = false;  // the last append failed: the next one starts a new file
};

}  // namespace rf::store::embedded
