#include "store/embedded/journal.h"

#include <fcntl.h>

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "base/clock.h"
#include "obs/log.h"
#include "reactor/offload.h"
#include "store/embedded/file_ops.h"

namespace rf::store::embedded {
namespace {

// Keeps frame fields (u32 byte counts) and single writes within sane bounds.
constexpr size_t kMaxBatchBytesLimit = 1u << 30;

struct OpenedFiles {
  int dir_fd;
  int segment_fd;
};

// Start-up only (runs on an Offload helper).
Result<OpenedFiles> OpenFilesBlocking(const std::string& dir, const std::string& segment,
                                      bool create, bool fsync) {
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return Error::FromErrno(errno, "open " + dir);
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
  UniqueFd seg_fd(::openat(dir_fd.get(), segment.c_str(), flags, 0644));
  if (seg_fd.get() < 0) return Error::FromErrno(errno, "open " + dir + "/" + segment);
  if (create && fsync && ::fsync(dir_fd.get()) != 0) return Error::FromErrno(errno, "fsync " + dir);
  return OpenedFiles{dir_fd.Release(), seg_fd.Release()};
}

}  // namespace

std::string JournalDir(std::string_view data_dir, unsigned shard_id) {
  std::string dir(data_dir);
  dir += "/shard-";
  dir += std::to_string(shard_id);
  return dir;
}

reactor::Task<Result<std::unique_ptr<Journal>>> Journal::Open(JournalOptions options,
                                                              ReplaySink& sink) {
  if (options.dir.empty()) co_return Error{Errc::kInvalidArgument, "journal: dir is empty"};
  if (options.segment_bytes == 0) {
    co_return Error{Errc::kInvalidArgument, "journal: segment_bytes must be positive"};
  }
  if (options.max_batch_bytes == 0 || options.max_batch_bytes > kMaxBatchBytesLimit) {
    co_return Error{Errc::kInvalidArgument, "journal: max_batch_bytes must be in 1..1GiB"};
  }
  auto state = co_await Replay(options.dir, sink);  // suspends
  if (!state) co_return state.error();

  // Writing continues in the last segment when its records end right before the next
  // LSN; otherwise (no segment yet, or a snapshot reaching past it) in a new one.
  const uint64_t next = state->report.next_lsn;
  const bool reuse = !state->segments.empty() && state->last_segment_next_lsn == next;
  std::string name = reuse ? state->segments.back().name : SegmentFileName(next);
  // A named awaiter: GCC 12 destroys a capturing lambda twice inside a co_await operand.
  auto open_op = reactor::Offload([dir = options.dir, name, reuse, fsync = options.fsync] {
    return OpenFilesBlocking(dir, name, !reuse, fsync);
  });
  auto files = co_await open_op;  // suspends
  if (!files) co_return files.error();
  if (!reuse) {
    state->segments.push_back({next, name});
    state->last_segment_bytes = 0;
  }
  RF_LOG(kInfo, "journal: open", {"dir", options.dir}, {"snapshot_lsn", state->report.snapshot_lsn},
         {"records", state->report.records}, {"next_lsn", next},
         {"segments", state->segments.size()});
  co_return std::unique_ptr<Journal>(
      new Journal(std::move(options), std::move(*state), files->dir_fd, files->segment_fd));
}

Journal::Journal(JournalOptions options, RecoveredState state, int dir_fd, int segment_fd)
    : options_(std::move(options)),
      owner_(&reactor::Shard::Current()),
      dir_fd_(dir_fd),
      segment_fd_(segment_fd),
      segment_size_(state.last_segment_bytes),
      segments_(std::move(state.segments)),
      last_lsn_(state.report.next_lsn - 1),
      written_lsn_(last_lsn_),
      durable_lsn_(last_lsn_),
      snapshot_lsn_(state.report.snapshot_lsn),
      snapshot_name_(std::move(state.snapshot_name)),
      recovery_(state.report) {
  committer_ = RunCommitter().release();
  committer_.resume();  // runs until it parks: nothing is pending yet
}

Journal::~Journal() {
  if (committer_) {
    // A parked committer has no I/O in flight and is on no ready queue: its frame can go.
    RF_CHECK(committer_.done() ||
             (parked_.address() == committer_.address() && waiters_head_ == nullptr &&
              pending_records_ == 0 && !snapshot_busy_));
    committer_.destroy();
  }
  if (!closed_) {
    // Dropped without Close(), while idle: nothing to flush. A plain close(2) of a
    // file whose data is already synced does not block.
    ::close(segment_fd_);
    ::close(dir_fd_);
  }
}

void Journal::CheckShard() const {
#ifndef NDEBUG
  RF_CHECK(reactor::Shard::CurrentOrNull() == owner_);
#endif
}

uint64_t Journal::Append(uint8_t type, std::string_view payload) {
  CheckShard();
  RF_CHECK(type < kFirstReservedType);
  RF_CHECK(payload.size() <= kMaxRecordPayload);
  RF_CHECK(!closing_);
  const uint64_t lsn = ++last_lsn_;
  if (failed_) return lsn;  // poisoned: nothing is written any more
  AppendRecord(pending_, type, payload);
  ++pending_records_;
  Wake();
  return lsn;
}

reactor::Task<Status> Journal::Commit() {
  CheckShard();
  co_return co_await WaitDurable(last_lsn_);  // suspends unless already durable
}

Journal::DurableWait Journal::WaitDurable(uint64_t lsn) { return DurableWait(*this, lsn); }

bool Journal::DurableWait::await_ready() const noexcept {
  return journal_.durable_lsn_ >= lsn_ || journal_.failed_.has_value();
}

void Journal::DurableWait::await_suspend(std::coroutine_handle<> h) {
  handle_ = h;
  journal_.Enqueue(this);
  journal_.Wake();
}

Status Journal::DurableWait::await_resume() const {
  if (handle_) return status_;  // set when the committer released us
  if (journal_.durable_lsn_ >= lsn_) return {};
  return *journal_.failed_;
}

void Journal::Enqueue(DurableWait* w) {
  w->next_ = nullptr;
  if (waiters_tail_) {
    waiters_tail_->next_ = w;
  } else {
    waiters_head_ = w;
  }
  waiters_tail_ = w;
}

void Journal::ReleaseWaiters() {
  DurableWait* w = std::exchange(waiters_head_, nullptr);
  waiters_tail_ = nullptr;
  reactor::Shard& shard = reactor::Shard::Current();
  while (w) {
    DurableWait* next = w->next_;
    if (w->lsn_ <= durable_lsn_) {
      w->status_ = Status{};
      shard.Schedule(w->handle_);
    } else if (failed_) {
      w->status_ = *failed_;
      shard.Schedule(w->handle_);
    } else {
      Enqueue(w);  // waits for a later batch
    }
    w = next;
  }
}

void Journal::Wake() {
  if (parked_) reactor::Shard::Current().Schedule(std::exchange(parked_, {}));
}

void Journal::Fail(Error error) {
  if (failed_) return;
  RF_LOG(kError, "journal: write failed, no further record will be made durable",
         {"dir", options_.dir}, {"error", error.ToString()}, {"durable_lsn", durable_lsn_});
  failed_ = std::move(error);
  pending_.clear();
  pending_records_ = 0;
  ReleaseWaiters();
}

reactor::Task<void> Journal::RunCommitter() {
  while (true) {
    if (pending_records_ == 0) {
      if (closing_) break;
      co_await Park{*this};  // suspends until Append, a waiter or Close wakes it
      continue;
    }
    Status st = co_await WriteBatch();  // suspends: writev + fdatasync
    if (!st) Fail(st.error());
    ReleaseWaiters();
    if (pending_records_ > 0) {
      // One loop turn before the next batch: the coroutines just released, and whatever
      // else runs this tick, append first and share it. With nothing pending the loop
      // parks at once instead (an Append wakes it after this tick's appenders), so an
      // idle journal never has its committer sitting on the ready queue.
      co_await reactor::Yield{};  // suspends
    }
  }
  if (close_waiter_) reactor::Shard::Current().Schedule(std::exchange(close_waiter_, {}));
}

size_t Journal::TakeBatch() {
  writing_.clear();
  if (pending_.size() <= options_.max_batch_bytes) {
    std::swap(pending_, writing_);  // both buffers keep their capacity: no allocation
    return std::exchange(pending_records_, 0);
  }
  // More than one write's worth: whole records up to the limit, at least one.
  size_t bytes = 0;
  size_t count = 0;
  while (bytes < pending_.size()) {
    const size_t size = kRecordHeaderBytes + GetU32(pending_.data() + bytes);
    if (count > 0 && bytes + size > options_.max_batch_bytes) break;
    bytes += size;
    ++count;
  }
  writing_.assign(pending_, 0, bytes);
  pending_.erase(0, bytes);
  pending_records_ -= count;
  return count;
}

reactor::Task<Status> Journal::WriteBatch() {
  const size_t count = TakeBatch();
  const uint64_t first = written_lsn_ + 1;
  if (segment_size_ >= options_.segment_bytes) {
    if (auto st = co_await Rotate(first); !st) co_return st;  // suspends
  }
  EncodeFrame({first, static_cast<uint32_t>(count), static_cast<uint32_t>(writing_.size())},
              frame_);
  iov_[0] = {frame_, kFrameBytes};
  iov_[1] = {writing_.data(), writing_.size()};
  const uint64_t bytes = kFrameBytes + writing_.size();
  // Named after the awaits, not before: a snapshot may erase older entries meanwhile.
  auto path = [this] { return options_.dir + "/" + segments_.back().name; };
  const Nanos t0 = MonoNow();
  if (auto st = co_await WriteAllAt(segment_fd_, iov_, segment_size_); !st) {  // suspends
    co_return WithContext(st.error(), "write " + path());
  }
  written_lsn_ = first + count - 1;
  segment_size_ += bytes;
  if (options_.fsync) {
    const Nanos t1 = MonoNow();
    FsyncOp sync(segment_fd_, FsyncOp::kDataSync);
    if (auto st = co_await sync; !st) {  // suspends
      co_return WithContext(st.error(), path());
    }
    stats_.fsync_latency.ObserveNanos(MonoNow() - t1);
  }
  durable_lsn_ = written_lsn_;
  stats_.batch_latency.ObserveNanos(MonoNow() - t0);
  stats_.batches.Add();
  stats_.records.Add(count);
  stats_.bytes.Add(bytes);
  stats_.batch_records.Observe(count);
  co_return Status{};
}

reactor::Task<Status> Journal::Rotate(uint64_t first_lsn) {
  std::string name = SegmentFileName(first_lsn);
  OpenatOp create(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  auto fd = co_await create;  // suspends
  if (!fd) co_return WithContext(fd.error(), "create " + options_.dir + "/" + name);
  if (options_.fsync) {
    // The new name must be durable before any record in the file is acknowledged.
    FsyncOp sync_dir(dir_fd_, 0);
    if (auto st = co_await sync_dir; !st) {  // suspends
      CloseOp close_new(*fd);
      (void)co_await close_new;  // suspends
      co_return WithContext(st.error(), options_.dir);
    }
  }
  CloseOp close_old(std::exchange(segment_fd_, *fd));
  if (auto st = co_await close_old; !st) {  // suspends
    // Its records were fdatasync'd before this batch began; nothing is lost.
    RF_LOG(kWarn, "journal: closing a full segment failed", {"error", st.error().ToString()});
  }
  segments_.push_back({first_lsn, std::move(name)});
  segment_size_ = 0;
  stats_.rotations.Add();
  co_return Status{};
}

reactor::Task<Status> Journal::WriteSnapshot(uint64_t upto_lsn, std::string bytes) {
  CheckShard();
  if (closing_) co_return Error{Errc::kUnavailable, "journal: closing"};
  if (snapshot_busy_) co_return Error{Errc::kConflict, "journal: a snapshot is in progress"};
  if (failed_) co_return *failed_;
  if (upto_lsn <= snapshot_lsn_ || upto_lsn > last_lsn_) {
    co_return Error{Errc::kInvalidArgument, "journal: snapshot LSN " + std::to_string(upto_lsn) +
                                                " is not in (" + std::to_string(snapshot_lsn_) +
                                                ", " + std::to_string(last_lsn_) + "]"};
  }
  snapshot_busy_ = true;
  struct ClearBusy {
    bool& busy;
    ~ClearBusy() { busy = false; }
  } clear_busy{snapshot_busy_};

  // The snapshot may only stand in for records that are themselves durable: otherwise a
  // crash could leave segments ending before it, with LSNs no longer implied by order.
  if (auto st = co_await WaitDurable(upto_lsn); !st) co_return st;  // suspends

  const std::string name = SnapshotFileName(upto_lsn);
  const std::string tmp = name + std::string(kTempSuffix);
  OpenatOp create(dir_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto fd = co_await create;  // suspends
  if (!fd) co_return WithContext(fd.error(), "create " + options_.dir + "/" + tmp);
  // The header's CRC covers the whole snapshot (tens of MB): computed on a helper
  // thread, not on the shard.
  const std::string* whole = &bytes;
  auto header_op = reactor::Offload([upto_lsn, whole] { return EncodeSnapshotHeader(upto_lsn, *whole); });
  std::string header = co_await header_op;  // suspends
  // Written and flushed a slice at a time: ext4 (data=ordered) makes the journal's own
  // fdatasync wait for every dirty block of the file system, so one large unflushed
  // snapshot would stall the commits of this shard for as long as it takes to write.
  constexpr size_t kSlice = 8 << 20;
  Status st;
  uint64_t offset = 0;
  for (size_t done = 0; st && (done == 0 || done < bytes.size());) {
    size_t n = std::min(kSlice, bytes.size() - done);
    iovec slice[2] = {{header.data(), header.size()}, {bytes.data() + done, n}};
    std::span<iovec> iov(done == 0 ? slice : slice + 1, done == 0 ? 2 : 1);
    st = co_await WriteAllAt(*fd, iov, offset);  // suspends
    offset += (done == 0 ? header.size() : 0) + n;
    done += n;
    if (st && options_.fsync) {
      FsyncOp sync(*fd, done < bytes.size() ? IORING_FSYNC_DATASYNC : 0);
      st = co_await sync;  // suspends
    }
    if (n == 0) break;  // an empty snapshot: the header alone
  }
  CloseOp close(*fd);
  Status closed = co_await close;  // suspends
  if (st && !closed) st = closed;
  if (st) {
    RenameatOp rename(dir_fd_, tmp.c_str(), name.c_str());
    st = co_await rename;  // suspends
  }
  if (st && options_.fsync) {
    FsyncOp sync_dir(dir_fd_, 0);
    st = co_await sync_dir;  // suspends
  }
  if (!st) {
    UnlinkatOp remove(dir_fd_, tmp.c_str());
    (void)co_await remove;  // suspends; fails harmlessly once renamed
    co_return WithContext(st.error(), "snapshot " + options_.dir + "/" + name);
  }
  // Durable: older state is now garbage.
  std::string old = std::exchange(snapshot_name_, name);
  snapshot_lsn_ = upto_lsn;
  stats_.snapshots.Add();
  co_await DeleteCovered(upto_lsn, std::move(old));  // suspends
  co_return Status{};
}

reactor::Task<void> Journal::DeleteCovered(uint64_t upto_lsn, std::string old_snapshot) {
  std::vector<std::string> doomed;
  if (!old_snapshot.empty() && old_snapshot != snapshot_name_) doomed.push_back(old_snapshot);
  // Segment i holds LSNs below segments_[i + 1].first_lsn. The active (last) one stays.
  size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n + 1].first_lsn <= upto_lsn + 1) ++n;
  for (size_t i = 0; i < n; ++i) doomed.push_back(std::move(segments_[i].name));
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(n));
  stats_.segments_deleted.Add(n);
  for (const std::string& file : doomed) {
    UnlinkatOp remove(dir_fd_, file.c_str());
    if (auto st = co_await remove; !st) {  // suspends
      // Harmless: Open ignores and removes files a snapshot covers.
      RF_LOG(kWarn, "journal: cannot remove a covered file", {"file", file},
             {"error", st.error().ToString()});
    }
  }
}

reactor::Task<Status> Journal::Close() {
  CheckShard();
  RF_CHECK(!closing_ && !snapshot_busy_);
  closing_ = true;
  Status st = co_await WaitDurable(last_lsn_);  // suspends: flushes what was appended
  Wake();
  co_await CommitterExit{*this};  // suspends until the committer has returned
  committer_.destroy();
  committer_ = {};
  CloseOp close_segment(segment_fd_);
  (void)co_await close_segment;  // suspends; its data is synced (or we already failed)
  CloseOp close_dir(dir_fd_);
  (void)co_await close_dir;  // suspends
  closed_ = true;
  co_return st;
}

}  // namespace rf::store::embedded
