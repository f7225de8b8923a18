#pragma once
// HistoryDb: finished runs on local disk (RocksDB), with the indexes listings
// need. Byte-level: it knows ids, workflows, statuses and times, not the
// engine's types (engine/embedded_history.h adapts it).
//
// Column families (run ids are time-ordered 16 bytes, so most keys arrive in
// order and a flushed table overlaps no older one: compaction moves files
// instead of rewriting them):
//   summary  id                     -> workflow, version, status, times, key, error, step
//   log      id                     -> the run's records
//   workflow wf_len wf id           -> ""   listings by workflow
//   status   status id              -> ""   listings by status, failed and cancelled runs only
//   wfstatus wf_len wf status id    -> ""   the same by workflow
//   key      wf_len wf key          -> id   idempotency keys of finished starts
// Succeeded runs are the bulk and are not in the status families: a listing of
// succeeded runs walks summary/workflow and filters (nearly every run matches).
// Retention and archival walk summary from the oldest id: a run cannot finish
// before it was created.
//
// Thread-safe; every call blocks (disk I/O). Callers on a shard go through
// HistoryPool. Writes are atomic per call; `sync` makes them durable before
// returning.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace rocksdb {
class DB;
class Cache;
class ColumnFamilyHandle;
class WriteBufferManager;
}  // namespace rocksdb

namespace rf::store::history {

constexpr size_t kIdBytes = 16;

struct Entry {
  std::string id;  // kIdBytes
  std::string workflow;
  int64_t version = 0;
  uint8_t status = 0;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::string key;  // idempotency key, empty: none
  std::string error;
  std::string failed_step;
  std::string log;  // empty in listings
  // Write: the store may hold an older copy of this run with other indexes
  // (a retried run written again). False skips looking for it.
  bool may_replace = true;
};

struct Options {
  std::string dir;
  bool sync = true;                        // fsync the WAL with every write
  size_t block_cache_bytes = 32 << 20;     // decompressed blocks of recent reads
  size_t write_buffer_bytes = 32 << 20;    // every column family's memtables together (and the WAL's bound)
  std::string secondary_dir;               // read_only: where the secondary keeps its own files
  // The status nearly every run ends with (the engine's "succeeded"): not
  // indexed by status; listings of it filter the other families instead.
  uint8_t common_status = 3;
};

struct Query {
  std::string workflow;           // empty: any
  std::optional<std::string> ns;  // only runs of workflows of this namespace; none: any
  std::optional<uint8_t> status;  // none: any
  std::string before;             // ids strictly below this (kIdBytes), empty: from the newest
  size_t limit = 100;
};

class HistoryDb {
 public:
  ~HistoryDb();
  HistoryDb(const HistoryDb&) = delete;
  HistoryDb& operator=(const HistoryDb&) = delete;

  // Opens or creates the database. `read_only`: as a secondary instance that
  // may run beside the daemon that owns the directory (archive).
  static Result<std::unique_ptr<HistoryDb>> Open(const Options& options, bool read_only = false);

  // Stores `runs` (a run written again replaces its earlier copy and indexes).
  Status Write(const std::vector<Entry>& runs);
  Result<std::optional<Entry>> Get(std::string_view id);
  Result<std::optional<std::string>> FindKey(std::string_view workflow, std::string_view key);
  // Summaries, newest id first, at most q.limit.
  Result<std::vector<Entry>> List(const Query& q);
  Status Remove(std::string_view id);
  // Removes up to `max` runs that finished before `cutoff_ms`, oldest first.
  Result<size_t> Expire(int64_t cutoff_ms, size_t max);
  // Every run (with its log) that finished before `before_ms`, oldest first.
  Status Scan(int64_t before_ms, const std::function<Status(const Entry&)>& fn);
  // Bytes of table files on disk, for metrics.
  uint64_t DiskBytes();

  // The summary encoding, exposed for tests.
  static std::string EncodeSummary(const Entry& e);
  static Status DecodeSummary(std::string_view bytes, Entry& e);

 private:
  HistoryDb() = default;
  enum Family { kSummary, kLog, kWorkflow, kStatus, kWorkflowStatus, kKey, kFamilies };
  Status DeleteRun(void* batch, const Entry& e);
  Result<std::optional<Entry>> Summary(std::string_view id);
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return cfs_[f]; }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // [Family], owned by db_
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> buffers_;
  bool sync_ = true;
  bool read_only_ = false;
  uint8_t common_status_ = 3;
  std::string expire_floor_;  // retention resumes here: older summaries are gone (guarded by the write lock)
};

}  // namespace rf::store::history
