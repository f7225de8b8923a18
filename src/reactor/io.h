#pragma once
// I/O awaiters. Each lives in the awaiting coroutine's frame and is the SQE's
// user_data; the completion stores the result and queues the coroutine.
// A frame must not be destroyed while its operation is in flight: cancel it
// (Shard::Cancel) and await the completion first.

#include <sys/socket.h>
#include <sys/uio.h>

#include <span>
#include <string_view>

#include "base/result.h"
#include "reactor/shard.h"
#include "reactor/task.h"

namespace rf::reactor {

// An operation is either awaited directly (the SQE is prepared on suspend),
// or started early with Start() and awaited later, so that several SQEs of one
// coroutine go to the kernel in the same io_uring_enter.
template <class Derived>
struct IoOp : Completion {
  int32_t res = 0;
  uint32_t cqe_flags = 0;
  bool started = false;
  bool done = false;
  uint8_t sqe_flags = 0;  // e.g. IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS
  std::coroutine_handle<> waiter;
  IoOp() { on_complete = &Done; }
  static void Done(Completion* c, int32_t res, uint32_t flags) {
    auto* op = static_cast<IoOp*>(c);
    op->res = res;
    op->cqe_flags = flags;
    op->done = true;
    if (op->waiter) Shard::Current().Schedule(op->waiter);
  }
  void Start() {
    started = true;
    io_uring_sqe* sqe = Shard::Current().Sqe();
    static_cast<Derived*>(this)->Prep(sqe);
    sqe->flags |= sqe_flags;
    io_uring_sqe_set_data(sqe, static_cast<Completion*>(this));
  }
  bool in_flight() const { return started && !done; }
  bool await_ready() const noexcept { return done; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter = h;
    if (!started) Start();
  }
};

struct RecvOp : IoOp<RecvOp> {
  int fd;
  std::span<char> buf;
  RecvOp(int f, std::span<char> b) : fd(f), buf(b) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd, buf.data(), buf.size(), 0); }
  Result<size_t> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "recv");
    return static_cast<size_t>(res);
  }
};

struct SendOp : IoOp<SendOp> {
  int fd;
  std::string_view data;
  int msg_flags = MSG_NOSIGNAL;  // MSG_WAITALL: the kernel retries short sends itself (stream sockets)
  SendOp(int f, std::string_view d) : fd(f), data(d) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_send(sqe, fd, data.data(), data.size(), msg_flags); }
  Result<size_t> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "send");
    return static_cast<size_t>(res);
  }
};

// sendmsg with an iovec: several buffers in one send (vectored; the caller keeps them alive).
struct SendMsgOp : IoOp<SendMsgOp> {
  int fd;
  msghdr msg{};
  int msg_flags = MSG_NOSIGNAL;
  SendMsgOp(int f, iovec* iov, size_t n) : fd(f) {
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
  }
  void Prep(io_uring_sqe* sqe) { io_uring_prep_sendmsg(sqe, fd, &msg, static_cast<unsigned>(msg_flags)); }
  Result<size_t> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "sendmsg");
    return static_cast<size_t>(res);
  }
};

struct ReadOp : IoOp<ReadOp> {
  int fd;
  std::span<char> buf;
  ReadOp(int f, std::span<char> b) : fd(f), buf(b) {}
  void Prep(io_uring_sqe* sqe) {
    io_uring_prep_read(sqe, fd, buf.data(), static_cast<unsigned>(buf.size()), -1);
  }
  Result<size_t> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "read");
    return static_cast<size_t>(res);
  }
};

// Waits until fd is readable (or writable); for libraries that own their sockets.
struct PollOp : IoOp<PollOp> {
  int fd;
  unsigned mask;
  PollOp(int f, unsigned m) : fd(f), mask(m) {}
  void Prep(io_uring_sqe* sqe) { io_uring_prep_poll_add(sqe, fd, mask); }
  Result<unsigned> await_resume() const {
    if (res < 0) return Error::FromErrno(-res, "poll");
    return static_cast<unsigned>(res);
  }
};

// Sends all of `data`, looping over short writes. `current` (if given) points
// at the in-flight op so a watchdog can cancel it.
Task<Status> SendAll(int fd, std::string_view data, Completion** current = nullptr);


}  // namespace rf::reactor
