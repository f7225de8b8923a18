#pragma once
// File operations for the journal.
//
// Awaiters (io_uring, for the shard thread): each lives in the awaiting frame,
// like reactor/io.h. Paths and iovecs must stay alive until the op completes.
//
// Blocking helpers (names end in Blocking): for Offload(...) at start-up and
// never on a shard thread.

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "reactor/io.h"

namespace rf::store::embedded {

// Prefixes an error's context with what was being done ("fdatasync seg-...log").
Error WithContext(Error e, std::string_view what);

struct WritevOp : reactor::IoOp<WritevOp> {
  int fd;
  const iovec* iov;
  unsigned count;
  uint64_t offset;
  WritevOp(int f, const iovec* v, unsigned n, uint64_t off)
      : fd(f), iov(v), count(n), offset(off) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_writev(sqe, fd, iov, count, offset); }
  Result<size_t> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "writev");
    return static_cast<size_t>(res);
  }
};

// IORING_OP_FSYNC: fdatasync with kDataSync, fsync with 0 (directories).
struct FsyncOp : reactor::IoOp<FsyncOp> {
  static constexpr unsigned kDataSync = IORING_FSYNC_DATASYNC;
  int fd;
  unsigned flags;
  FsyncOp(int f, unsigned fl) : fd(f), flags(fl) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, flags); }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, flags ? "fdatasync" : "fsync");
    return {};
  }
};

struct OpenatOp : reactor::IoOp<OpenatOp> {
  int dir_fd;
  const char* path;
  int flags;
  mode_t mode;
  OpenatOp(int d, const char* p, int fl, mode_t m) : dir_fd(d), path(p), flags(fl), mode(m) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_openat(sqe, dir_fd, path, flags, mode); }
  Result<int> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "openat");
    return static_cast<int>(res);
  }
};

struct CloseOp : reactor::IoOp<CloseOp> {
  int fd;
  explicit CloseOp(int f) : fd(f) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "close");
    return {};
  }
};

struct UnlinkatOp : reactor::IoOp<UnlinkatOp> {
  int dir_fd;
  const char* path;
  UnlinkatOp(int d, const char* p) : dir_fd(d), path(p) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_unlinkat(sqe, dir_fd, path, 0); }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "unlinkat");
    return {};
  }
};

struct RenameatOp : reactor::IoOp<RenameatOp> {
  int dir_fd;
  const char* from;
  const char* to;
  RenameatOp(int d, const char* f, const char* t) : dir_fd(d), from(f), to(t) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_renameat(sqe, dir_fd, from, dir_fd, to, 0); }
  Status await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "renameat");
    return {};
  }
};

// Writes all of `iov` at `offset`: one writev unless the kernel stops early (then it
// loops). Advances the entries of `iov` as it goes; they must outlive the call.
reactor::Task<Status> WriteAllAt(int fd, std::span<iovec> iov, uint64_t offset);

// Owns a descriptor; closes it with a plain close(2) (off the hot path: start-up and
// error unwinding only).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// --- Blocking helpers (Offload only) ---

// Creates `dir` and missing parents (mode 0755), fsyncing each parent that gained an entry.
Status MakeDirsBlocking(const std::string& dir);
Result<std::vector<std::string>> ListDirBlocking(const std::string& dir);
Result<std::string> ReadFileBlocking(const std::string& path);
Status FsyncPathBlocking(const std::string& path);  // a directory or a file
// Cuts `path` to `size` bytes and makes that durable.
Status TruncateBlocking(const std::string& path, uint64_t size);
// Replaces <dir>/<name> with `text` atomically and durably: written to <name>.tmp (mode 0600),
// fdatasync'd, renamed over <name>, the directory fsync'd. A crash leaves the old or the new.
Status WriteFileAtomicBlocking(const std::string& dir, const std::string& name, std::string_view text);
// Appends all of `bytes` to the open descriptor `fd`.
Status WriteAllBlocking(int fd, std::string_view bytes, const std::string& what);

}  // namespace rf::store::embedded
