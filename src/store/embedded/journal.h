#pragma once
// Journal: the embedded store's per-shard write-ahead log with group commit.
//
// Ownership: one Journal per shard, created by Open() on that shard and used
// only from that shard's thread (asserted in debug builds). It owns its
// directory <data_dir>/shard-<N>/ (see JournalDir):
//
//   seg-<20-digit first LSN>.log   segments; records in LSN order (format.h)
//   snapshot-<20-digit LSN>.bin    the newest snapshot, covering records <= LSN
//
// Writing: Append() encodes a record into the current batch and returns its
// LSN; it never suspends and does no I/O. A committer coroutine writes each
// batch with one writev and then one fdatasync through the shard's io_uring,
// and resumes every coroutine that awaits a record of that batch. Everything
// appended during one loop tick, and everything appended while the previous
// batch was on disk, goes out together (group commit). A batch is at most
// max_batch_bytes of whole records; it never spans two segments; a new segment
// starts when the current one has reached segment_bytes.
//
// Durability: a record is durable once Commit() (or WaitDurable for its LSN)
// returned ok. After a crash, Open() replays every durable record; the one
// batch that was being written may be absent, but never half present.
//
// Failure: a failed write or fdatasync poisons the journal. The kernel may
// already have dropped the dirty pages, so retrying the fdatasync could report
// success for data that is gone. From then on every Commit() returns that error
// (Errc::kIo), Append() discards its record, and the owner must stop the shard;
// a restart replays what is on disk.

#include <sys/uio.h>

#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "reactor/shard.h"
#include "reactor/task.h"
#include "store/embedded/format.h"
#include "store/embedded/journal_stats.h"
#include "store/embedded/replay.h"

namespace rf::store::embedded {

struct JournalOptions {
  std::string dir;                   // this shard's directory; created if missing
  size_t segment_bytes = 64 << 20;   // start a new segment once one reaches this
  bool fsync = true;                 // false: no fdatasync (tests, benchmarks): no crash safety
  size_t max_batch_bytes = 4 << 20;  // bytes of records per writev (one record may exceed it)
};

// <data_dir>/shard-<N>
std::string JournalDir(std::string_view data_dir, unsigned shard_id);

class Journal {
 public:
  // Opens (creating if needed) options.dir and replays it into `sink` on this shard:
  // OnSnapshot for the newest valid snapshot, then OnRecord for each later record in
  // LSN order. A torn tail is cut with a warning (see segment.h for the exact rule).
  // Suspends (file reads run on Offload helpers).
  // Errors: kInvalidArgument (options), kCorrupt (damage that is not a torn tail, a
  // missing LSN range; names the file and offset), kIo and friends from the file
  // system, or the sink's own error. On error nothing was written or deleted, and the
  // sink may have seen part of the replay: the owner must discard that state.
  static reactor::Task<Result<std::unique_ptr<Journal>>> Open(JournalOptions options,
                                                              ReplaySink& sink);

  // Close() must have completed, unless the journal is idle (nothing appended since the
  // last durable batch, no snapshot in progress); RF_CHECKs that.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Buffers a record into the current batch and returns its LSN. No I/O, never
  // suspends. `type` must be below kFirstReservedType and the payload at most
  // kMaxRecordPayload bytes (RF_CHECK). The record is written in a later tick whether
  // or not anyone awaits it.
  uint64_t Append(uint8_t type, std::string_view payload);

  // Suspends until every record appended so far is durable (written, and fdatasync'd
  // unless fsync=false). Callers in the same tick share one write + fdatasync.
  // Returns at once (no suspension) if there is nothing to wait for.
  // Errors: the poisoning kIo error.
  reactor::Task<Status> Commit();

  // The awaitable behind Commit() for one LSN; no coroutine frame of its own.
  class DurableWait;
  DurableWait WaitDurable(uint64_t lsn);

  // Makes a snapshot covering records <= upto_lsn durable (temp file, fsync, rename,
  // directory fsync), then deletes older snapshots and every segment whose records it
  // covers. Awaits durability of upto_lsn first. Suspends. One at a time.
  // Errors: kInvalidArgument (upto_lsn not after the current snapshot, or beyond the
  // last appended LSN), kConflict (another snapshot in progress), kUnavailable (closing),
  // the poisoning error, or file system errors (the journal itself stays usable: the
  // old snapshot and segments are untouched).
  reactor::Task<Status> WriteSnapshot(uint64_t upto_lsn, std::string bytes);

  // Flushes what was appended, stops the committer and closes the files. Suspends.
  // Must not overlap WriteSnapshot. Returns the flush's status.
  reactor::Task<Status> Close();

  uint64_t last_lsn() const { return last_lsn_; }        // last appended
  uint64_t durable_lsn() const { return durable_lsn_; }  // last known durable
  uint64_t snapshot_lsn() const { return snapshot_lsn_; }
  size_t buffered_bytes() const { return pending_.size(); }  // appended, not yet being written
  size_t segment_count() const { return segments_.size(); }
  bool failed() const { return failed_.has_value(); }
  const std::string& dir() const { return options_.dir; }
  const RecoveryReport& recovery() const { return recovery_; }
  const JournalStats& stats() const { return stats_; }

  class DurableWait {
   public:
    DurableWait(const DurableWait&) = delete;  // linked into the waiter list while suspended
    DurableWait& operator=(const DurableWait&) = delete;
    bool await_ready() const noexcept;
    void await_suspend(std::coroutine_handle<> h);
    Status await_resume() const;

   private:
    friend class Journal;
    DurableWait(Journal& j, uint64_t lsn) : journal_(j), lsn_(lsn) {}
    Journal& journal_;
    uint64_t lsn_;
    std::coroutine_handle<> handle_;
    DurableWait* next_ = nullptr;
    Status status_;
  };

 private:
  Journal(JournalOptions options, RecoveredState state, int dir_fd, int segment_fd);

  reactor::Task<void> RunCommitter();
  reactor::Task<Status> WriteBatch();
  reactor::Task<Status> Rotate(uint64_t first_lsn);
  reactor::Task<void> DeleteCovered(uint64_t upto_lsn, std::string old_snapshot);
  size_t TakeBatch();  // moves whole records from pending_ to writing_; returns their count
  void Wake();         // schedules the committer if it is parked
  void Enqueue(DurableWait* w);
  void ReleaseWaiters();
  void Fail(Error error);
  void CheckShard() const;

  struct Park {
    Journal& j;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { j.parked_ = h; }
    void await_resume() const noexcept {}
  };
  struct CommitterExit {
    Journal& j;
    bool await_ready() const noexcept { return j.committer_.done(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { j.close_waiter_ = h; }
    void await_resume() const noexcept {}
  };

  JournalOptions options_;
  reactor::Shard* owner_;
  int dir_fd_;
  int segment_fd_;
  uint64_t segment_size_;              // bytes in the active segment (segments_.back())
  std::vector<SegmentInfo> segments_;  // live, oldest first

  std::string pending_;  // encoded records appended since the batch in flight began
  size_t pending_records_ = 0;
  std::string writing_;      // the batch in flight
  char frame_[kFrameBytes];  // its frame record
  iovec iov_[2];

  uint64_t last_lsn_;     // last appended
  uint64_t written_lsn_;  // last handed to the kernel
  uint64_t durable_lsn_;  // last made durable
  uint64_t snapshot_lsn_;
  std::string snapshot_name_;
  bool snapshot_busy_ = false;
  std::optional<Error> failed_;

  DurableWait* waiters_head_ = nullptr;
  DurableWait* waiters_tail_ = nullptr;

  std::coroutine_handle<reactor::Task<void>::promise_type> committer_;
  std::coroutine_handle<> parked_;  // the committer, while it waits for work
  std::coroutine_handle<> close_waiter_;
  bool closing_ = false;
  bool closed_ = false;

  RecoveryReport recovery_;
  JournalStats stats_;
};

}  // namespace rf::store::embedded
