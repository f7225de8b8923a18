#pragma once
// Watchdog: bounds the waits of one outbound exchange by a deadline (a shard timer) and a
// CancelToken. When either fires, the operation the exchange is waiting for is aborted at once:
// an in-flight io_uring op is cancelled (Shard::Cancel; its frame still awaits the completion, so
// nothing is freed under the kernel), a parked wait (a DNS lookup) is woken. From then on every
// guarded await returns the watchdog's error without starting anything: kTimeout ("<what> timed
// out") or kCancelled.
//
// Lives in the exchange's coroutine frame, on the shard that created it; not movable.
//
//   Watchdog dog(token);
//   dog.Bound(deadline.at(), "request");
//   reactor::RecvOp op(fd, buf);
//   Result<size_t> n = co_await dog.Guard(op);  // suspends; the dog's error once it has fired

#include <coroutine>
#include <utility>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/shard.h"

namespace rf::http::client {

using reactor::CancelToken;  // a generic shard-local token, shared with the engine

class Watchdog {
 public:
  // A coroutine suspended on something that is not an io_uring op. `abort` runs (on the shard)
  // when the watchdog fires: it must detach the waiter from what it waits for and resume it.
  struct Parked {
    void (*abort)(Parked* self) = nullptr;
  };

  template <class Op>
  class Guarded;

  explicit Watchdog(CancelToken* token);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Fires with kTimeout at monotonic time `at` (INT64_MAX: no bound); replaces the previous
  // bound. `what` names the phase in the error ("connect", "request") and must be static.
  // A bound already in the past fires immediately. No effect once fired.
  void Bound(Nanos at, const char* what);

  bool fired() const { return reason_ != Errc::kOk; }
  Error error() const;

  // co_await dog.Guard(op): awaits an IoOp (reactor/io.h) under the watchdog.
  template <class Op>
  Guarded<Op> Guard(Op& op) {
    return Guarded<Op>(*this, op);
  }

  // Parks `p` until Unpark(); firing meanwhile calls p->abort once and unparks.
  void Park(Parked* p) { parked_ = p; }
  void Unpark() { parked_ = nullptr; }

 private:
  struct TimerNode : reactor::Shard::TimerNode {
    Watchdog* self = nullptr;
  };
  struct TokenListener : CancelToken::Listener {
    Watchdog* self = nullptr;
  };

  static void OnTimer(reactor::Shard::TimerNode* node);
  static void OnCancel(CancelToken::Listener* listener);
  void Fire(Errc reason);
  void Watch(reactor::Completion* op, const bool* done) {
    op_ = op;
    op_done_ = done;
  }
  void Unwatch() { op_ = nullptr; }

  reactor::Shard& shard_;
  CancelToken* token_;
  TimerNode timer_;
  TokenListener listener_;
  Errc reason_ = Errc::kOk;
  const char* what_ = "request";
  reactor::Completion* op_ = nullptr;  // the guarded op while it is awaited
  const bool* op_done_ = nullptr;
  Parked* parked_ = nullptr;
};

template <class Op>
class Watchdog::Guarded {
 public:
  Guarded(Watchdog& dog, Op& op) : dog_(dog), op_(op) {}

  // Once fired, nothing new is started: await_resume reports the watchdog's error.
  bool await_ready() const noexcept { return dog_.fired() || op_.await_ready(); }
  void await_suspend(std::coroutine_handle<> h) {
    dog_.Watch(&op_, &op_.done);
    op_.await_suspend(h);
  }
  auto await_resume() -> decltype(std::declval<Op&>().await_resume()) {
    dog_.Unwatch();
    // A result that raced with the abort is dropped too: the exchange is over either way.
    if (dog_.fired()) return dog_.error();
    return op_.await_resume();
  }

 private:
  Watchdog& dog_;
  Op& op_;
};

}  // namespace rf::http::client
