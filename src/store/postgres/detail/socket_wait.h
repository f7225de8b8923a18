#pragma once
// SocketWait: one readiness wait on a socket that a library owns (libpq's), bounded by a deadline
// and an optional CancelToken. An io_uring poll (reactor::PollOp) does the waiting. When the
// deadline passes or the token fires first, the poll is cancelled (Shard::Cancel) and the wait
// ends with kTimeout ("<what> timed out") or kCancelled, but only once the kernel has completed
// the poll, so the frame is never freed under an in-flight op.
//
// Private to store/postgres. Lives in the awaiting coroutine's frame as a named local, on the
// shard that created it; not movable; awaited once.
//
//   detail::SocketWait wait(PQsocket(conn), POLLIN, deadline, cancel, "query");
//   Result<unsigned> ready = co_await wait;  // suspends

#include <coroutine>

#include "base/clock.h"
#include "base/result.h"
#include "reactor/cancel_token.h"
#include "reactor/io.h"
#include "reactor/shard.h"

namespace rf::store::pg::detail {

class SocketWait {
 public:
  // `what` names the phase in the error ("connect", "query") and must be static.
  SocketWait(int fd, unsigned mask, Deadline deadline, reactor::CancelToken* cancel,
             const char* what);
  ~SocketWait();
  SocketWait(const SocketWait&) = delete;
  SocketWait& operator=(const SocketWait&) = delete;

  // An expired deadline or a fired token ends the wait before anything is started.
  bool await_ready() noexcept;
  void await_suspend(std::coroutine_handle<> h);
  // The poll's revents, or kTimeout / kCancelled, or the poll's own error.
  Result<unsigned> await_resume();

 private:
  struct Timer : reactor::Shard::TimerNode {
    SocketWait* self = nullptr;
  };
  struct Listener : reactor::CancelToken::Listener {
    SocketWait* self = nullptr;
  };

  static void OnTimer(reactor::Shard::TimerNode* node);
  static void OnCancel(reactor::CancelToken::Listener* listener);
  void Fire(Errc reason);
  void Detach();

  reactor::Shard& shard_;
  reactor::PollOp op_;
  Deadline deadline_;
  reactor::CancelToken* cancel_;
  const char* what_;
  Timer timer_;
  Listener listener_;
  bool listening_ = false;
  Errc fired_ = Errc::kOk;
};

}  // namespace rf::store::pg::detail
