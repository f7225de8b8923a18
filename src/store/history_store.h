#pragma once
// HistoryStore: where finished runs live once they leave the owner shard's
// memory. The coordinator keeps only live (non-terminal) runs plus a bounded
// cache of recently finished ones; everything else is read from here: GET of
// an old run, listings (by workflow, by status, dead-letter), the SSE history
// of a finished run, and the idempotency key of a finished start.
//
// One instance per process, shared by every shard's coordinator. Every method
// may be called on any shard thread and suspends; implementations run their
// blocking work off the shard threads (embedded: RocksDB on a bounded helper
// pool; PostgreSQL: the shard's connection pool). Lookups on a request's path
// (Get, FindKey, List) go ahead of bulk work (Put, Expire, Export).
//
// Errors: kUnavailable when the store cannot take more work now (its queue is
// full) or cannot be reached; kCorrupt when what it holds cannot be read.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "obs/metrics.h"
#include "reactor/task.h"
#include "store/run_id.h"
#include "store/run_status.h"

namespace rf::store {

// A finished run as history keeps it: the summary listings need, and its log
// (every record, [u32 len][record] ..., see store/run_log.h).
struct HistoryRun {
  RunId id;
  std::string workflow;
  int64_t version = 0;
  RunStatus status = RunStatus::kSucceeded;
  int64_t created_ms = 0;
  int64_t finished_ms = 0;
  std::string idempotency_key;  // empty: none
  std::string error;            // failed runs: the run's error
  std::string failed_step;      // failed runs: the step whose failure failed it
  std::string log;              // empty in listings
  // Put: what history may hold of this run already. kNone: nothing (a run this process created
  // and never moved): no look at all. kMaybe: a copy, if its move was done before a crash that
  // lost the journal's mark of it: looked for in the bloom filters. kOlder: an older copy with
  // other indexes (a retried run): read and replaced.
  enum class Prior : uint8_t { kNone, kMaybe, kOlder };
  Prior prior = Prior::kMaybe;
};

// A listing of history: newest run id first, ids strictly below `before`.
struct HistoryQuery {
  std::string workflow;  // empty: any (qualified: base/tenancy.h)
  std::optional<std::string> ns;  // only runs of this namespace; none: any
  std::optional<RunStatus> status;
  std::optional<RunId> before;
  size_t limit = 100;  // at most this many; the store may be asked for limit + 1
};

// Counters of a history store; read by /metrics from any thread.
struct HistoryStats {
  obs::Counter runs_written;
  obs::Counter write_batches;
  obs::Counter reads;           // Get, FindKey, List
  obs::Gauge rejected;          // calls refused because a lane was full (total so far)
  obs::Counter runs_expired;    // removed by retention
  obs::Gauge queued;            // jobs waiting for a helper
  obs::Histogram read_latency;  // one Get/FindKey/List, queued to answered
  obs::Histogram write_latency; // one Put batch, queued to durable
  // Reads tried on the calling shard from memory first (embedded: RocksDB's memtables and block
  // cache): answered there (hit) or handed to the helpers (fallback). A slot per shard (id modulo
  // kInlineSlots), each with one writer and its own cache line; /metrics sums them.
  struct alignas(64) InlineReads {
    obs::Counter hit;
    obs::Counter fallback;
  };
  static constexpr size_t kInlineSlots = 64;
  std::array<InlineReads, kInlineSlots> inline_reads;
};

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;

  // Opens or creates the store. Blocking: call before the reactor serves.
  virtual Status Open() = 0;
  virtual void Close() = 0;

  // True when the store is fed by the run store's own commits (PostgreSQL: a
  // finished run is in history the moment its last records commit), so Put
  // writes nothing and the coordinator may evict at once.
  virtual bool fed_by_commits() const { return false; }

  // Makes `runs` durable in history (idempotent: a run put twice is stored
  // once, the last write winning). Suspends until durable.
  virtual reactor::Task<Status> Put(std::vector<HistoryRun> runs) = 0;
  // The run with its log; nullopt when history does not have it.
  virtual reactor::Task<Result<std::optional<HistoryRun>>> Get(RunId id) = 0;
  // Get, answered at once on the calling thread or not at all: kRetryLater when the store would
  // have to wait (embedded: for the disk; PostgreSQL: always). Never suspends, never blocks.
  virtual Result<std::optional<HistoryRun>> GetNow(RunId) {
    return Error{Errc::kRetryLater, "history cannot answer without waiting"};
  }
  // The run's log alone, for a reader that rebuilds the run from it (its creation record names
  // the workflow and version): one read where Get makes two, the summary's and the log's, so a
  // GET of an old run that needs the disk waits for one. LogNow answers at once or kRetryLater,
  // as GetNow; LogAfterMiss then reads what LogNow could not, without looking in memory again.
  // The defaults never answer at once and read through Get.
  virtual Result<std::optional<std::string>> LogNow(RunId) {
    return Error{Errc::kRetryLater, "history cannot answer without waiting"};
  }
  virtual reactor::Task<Result<std::optional<std::string>>> LogAfterMiss(RunId id);
  // True when Get reads only this machine (embedded: memory or the local disk), so any shard
  // may read a finished run itself rather than ask the run's owner; false when Get is a query
  // to a server (PostgreSQL), which a GET of a live run would then pay for nothing.
  virtual bool reads_locally() const { return false; }
  // The finished run that was started with (workflow, key), if any.
  virtual reactor::Task<Result<std::optional<RunId>>> FindKey(std::string workflow,
                                                              std::string key) = 0;
  // Summaries (no log) matching `q`, newest first, at most q.limit + 1.
  virtual reactor::Task<Result<std::vector<HistoryRun>>> List(HistoryQuery q) = 0;
  // A run left history (a retry made it live again).
  virtual reactor::Task<Status> Remove(RunId id) = 0;
  // Retention: removes runs that finished before `cutoff_ms`, at most `max`
  // per call, oldest first; returns how many. Bulk work. A singleton job of a
  // cluster (store/leader_election.h): `term` is the caller's leadership term,
  // and a store shared by several daemons refuses (kConflict, nothing removed)
  // unless it is the current one; a store of one daemon ignores it.
  virtual reactor::Task<Result<size_t>> Expire(int64_t cutoff_ms, size_t max, int64_t term) = 0;
  // Archival: calls `out(run)` (with its log) for every run that finished
  // before `before_ms`, oldest first. Blocking; for the `archive` subcommand.
  virtual Status Export(int64_t before_ms, const std::function<Status(const HistoryRun&)>& out) = 0;

  virtual const HistoryStats& stats() const = 0;
  // Appends the store's own metric families (embedded: what RocksDB holds in memory). Any thread.
  virtual void RenderMetrics(std::string&) const {}

  // Retained bytes per namespace (the quota retained_history_bytes): the bytes of the logs of
  // the finished runs it keeps (store/run_log.h: [u32 len][record] each). `sink(ns, bytes)` gets
  // a namespace's total whenever it changes, on a helper thread or the refreshing shard; set it
  // before Open. Embedded: exact, after every write, expiry and removal, and at Open (the totals
  // are kept in the same RocksDB batches as the runs). PostgreSQL: RefreshBytes.
  using BytesSink = std::function<void(std::string_view ns, int64_t bytes)>;
  void SetBytesSink(BytesSink sink) { bytes_sink_ = std::move(sink); }
  // True when the totals come only from RefreshBytes, which one shard should call every few
  // seconds (PostgreSQL: the table is shared with other daemons, so a sum is read again).
  virtual bool refreshes_bytes() const { return false; }
  // Reads the totals again and hands them to the sink (suspends; never blocks the shard).
  virtual reactor::Task<Status> RefreshBytes() { co_return Status{}; }

 protected:
  BytesSink bytes_sink_;
};

}  // namespace rf::store
