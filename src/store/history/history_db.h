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
//   usage    namespace              -> i64  bytes of the logs of its runs (quota retained_history_bytes)
//   usage    "" (empty key)         -> "1"  the totals are complete (written once, at the
//                                           first open of a history that had none)
// The totals change in the same WriteBatch as the runs they count (Write, Remove, Expire), so
// they are exact after a crash, and Open reads one key per namespace instead of the history.
// Succeeded runs are the bulk and are not in the status families: a listing of
// succeeded runs walks summary/workflow and filters (nearly every run matches).
// Retention and archival walk summary from the oldest id: a run cannot finish
// before it was created.
//
// Thread-safe; every call may block (disk I/O), and callers on a shard go
// through HistoryPool, except reads with Tier::kMemory: those never wait for
// the disk. They look at RocksDB's memtables, its block cache and the page
// cache (table reads with RWF_NOWAIT, store/history/nowait_fs.h; where the
// file system cannot, the block cache only: read_tier = kBlockCacheTier), and
// answer kRetryLater (kNotInMemory) when they would need the disk, so a shard
// may try them inline and fall back to the pool. Writes are atomic per call;
// `sync` makes them durable before returning.

#include <cstdint>
#include <functional>
#include <map>
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
class FileSystem;
class Env;
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
  // The bytes of its log (kept in the summary, so expiry need not read logs); -1: unknown
  // (written by an older version). Write takes log.size().
  int64_t log_bytes = -1;
  // Write: what the store may hold of this run already (the values of HistoryRun::Prior).
  // kNone: nothing, nothing is read; kMaybe: looked for where the bloom filters say it may be (a
  // move repeated after a crash); kOlder: read and replaced (a retried run written again).
  enum class Prior : uint8_t { kNone, kMaybe, kOlder };
  Prior prior = Prior::kOlder;
};

struct Options {
  std::string dir;
  bool sync = true;                        // fsync the WAL with every write
  size_t block_cache_bytes = 32 << 20;     // decompressed blocks of recent reads
  size_t write_buffer_bytes = 32 << 20;    // every column family's memtables together (and the WAL's bound)
  int max_open_files = 512;                // table files kept open (RocksDB keeps 10 of them for itself)
  std::string secondary_dir;               // read_only: where the secondary keeps its own files
  bool inline_page_cache = true;           // Tier::kMemory reads the page cache too (where it can)
  // The status nearly every run ends with (the engine's "succeeded"): not
  // indexed by status; listings of it filter the other families instead.
  uint8_t common_status = 3;
  // Called with a namespace's new total of retained bytes, after the write that changed it is
  // in (and for every namespace at Open). Under the writers' lock: must not call back in.
  std::function<void(std::string_view ns, int64_t bytes)> on_bytes;
};

// Where a read may look: anywhere (may block on disk) or in memory only (the caches; never
// waits for I/O).
enum class Tier { kAny, kMemory };
// The code of a Tier::kMemory read that needed the disk (nothing else in HistoryDb answers it).
constexpr Errc kNotInMemory = Errc::kRetryLater;

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
  Result<std::optional<Entry>> Get(std::string_view id, Tier tier = Tier::kAny);
  // The run's log alone (no summary: one read instead of two).
  Result<std::optional<std::string>> Log(std::string_view id, Tier tier = Tier::kAny);
  Result<std::optional<std::string>> FindKey(std::string_view workflow, std::string_view key,
                                             Tier tier = Tier::kAny);
  // Summaries, newest id first, at most q.limit.
  Result<std::vector<Entry>> List(const Query& q, Tier tier = Tier::kAny);
  Status Remove(std::string_view id);
  // Removes up to `max` runs that finished before `cutoff_ms`, oldest first.
  Result<size_t> Expire(int64_t cutoff_ms, size_t max);
  // Every run (with its log) that finished before `before_ms`, oldest first.
  Status Scan(int64_t before_ms, const std::function<Status(const Entry&)>& fn);
  // Bytes of table files on disk, for metrics.
  uint64_t DiskBytes();
  // What the history holds in memory, for metrics (RocksDB's properties; no I/O, any thread).
  struct Memory {
    uint64_t memtables = 0;      // every family's, flushing ones included (charged to the cache)
    uint64_t cache = 0;          // the block cache's use, the memtables' charge included
    uint64_t cache_capacity = 0;
    uint64_t table_readers = 0;  // open tables' memory outside the cache
    uint64_t compactions = 0;    // running now
    uint64_t flushes = 0;        // running now
  };
  Memory MemoryUse();
  // The retained bytes of `ns` (its runs' logs); 0 when it has none.
  int64_t NamespaceBytes(std::string_view ns);

  // Whether Tier::kMemory reads include the page cache (Options::inline_page_cache, and the
  // file system answers RWF_NOWAIT reads).
  bool reads_page_cache() const { return nowait_; }

  // The summary encoding, exposed for tests.
  static std::string EncodeSummary(const Entry& e);  // log_bytes, or (unknown) log.size()
  static std::string EncodeSummary(const Entry& e, int64_t log_bytes);
  static Status DecodeSummary(std::string_view bytes, Entry& e);

 private:
  HistoryDb() = default;
  enum Family { kSummary, kLog, kWorkflow, kStatus, kWorkflowStatus, kKey, kUsage, kFamilies };
  // Byte changes of one batch, per namespace.
  using Deltas = std::map<std::string, int64_t, std::less<>>;
  Status DeleteRun(void* batch, const Entry& e, Deltas& deltas);
  // The bytes `e` counts for: from its summary, or (older summaries) its log's size.
  Result<int64_t> BytesOf(const Entry& e);
  // Puts the new totals of `deltas` into `batch`; Publish makes them current once it is in.
  Status StageTotals(void* batch, const Deltas& deltas, Deltas& totals);
  void Publish(const Deltas& totals);
  // Open: reads the totals, or counts them once from the runs (a history from before them).
  Status LoadTotals();
  Result<std::optional<Entry>> Summary(std::string_view id, Tier tier = Tier::kAny);
  rocksdb::ColumnFamilyHandle* cf(Family f) const { return cfs_[f]; }

  // Before db_: RocksDB uses the environment until it is closed.
  std::shared_ptr<rocksdb::FileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // [Family], owned by db_
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> buffers_;
  bool sync_ = true;
  bool read_only_ = false;
  bool nowait_ = false;
  uint8_t common_status_ = 3;
  std::function<void(std::string_view, int64_t)> on_bytes_;
  Deltas totals_;  // namespace -> retained bytes (guarded by the write lock)
  std::string expire_floor_;  // retention resumes here: older summaries are gone (guarded by the write lock)
};

}  // namespace rf::store::history
